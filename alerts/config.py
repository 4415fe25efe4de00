"""Alert configuration as data: rules, SLA per priority, on-call rotations and notice texts, one YAML file per
deployment, validated at load time with errors that name the file, the rule and the field.

See docs/alert-rules.md for the format and ``alerts/default_rules.yaml`` for the shipped rule set.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from gateway.contract import EVENT_CODES
from gateway.topics import Kind

DEFAULT_RULES = Path(__file__).with_name("default_rules.yaml")


class Priority(StrEnum):
    LIFE_SAFETY = "life_safety"
    OUTAGE = "outage"
    DEGRADATION = "degradation"
    MAINTENANCE = "maintenance"


class Skill(StrEnum):
    ELEVATOR = "elevator"
    ACCESS = "access"
    PLUMBING = "plumbing"
    ELECTRICAL = "electrical"
    GAS = "gas"
    HEATING = "heating"
    METERING = "metering"


class Scope(StrEnum):
    """Who hears about a fault: the whole building (shared facility), one unit (private), or no owner."""

    BUILDING = "building"
    UNIT = "unit"
    NONE = "none"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _RuleBase(_Strict):
    id: str = Field(pattern=r"^[a-z0-9_]{1,64}$")
    title: str = Field(min_length=1, max_length=200)
    kind: Kind
    priority: Priority
    skill: Skill
    scope: Scope = Scope.NONE
    media: list[Literal["water", "electricity", "gas", "heat"]] | None = Field(
        default=None, description="meters only: which media the rule applies to")
    auto_resolve: bool | None = Field(default=None, description="default: yes, except life safety")

    @property
    def resolves_automatically(self) -> bool:
        return self.auto_resolve if self.auto_resolve is not None else self.priority is not Priority.LIFE_SAFETY


class EventRule(_RuleBase):
    """Fires on an event with ``active: true``; clears on the same event with ``active: false``."""

    type: Literal["event"]
    events: list[str] = Field(min_length=1)

    @model_validator(mode="after")
    def _known_events(self) -> EventRule:
        known = EVENT_CODES[self.kind]._value2member_map_
        unknown = [e for e in self.events if e not in known]
        if unknown:
            raise ValueError(f"unknown {self.kind.value} events {unknown}; known: {sorted(known)}")
        return self


class OfflineRule(_RuleBase):
    """Fires when a device reports (or its last will says) ``online: false``; clears when it is back."""

    type: Literal["offline"]


class ThresholdRule(_RuleBase):
    """Fires when a telemetry field crosses ``above``/``below``; clears only once it is back past ``clear_at``
    (hysteresis, so a value hovering at the threshold does not flap)."""

    type: Literal["threshold"]
    field: str
    above: float | None = None
    below: float | None = None
    clear_at: float

    @model_validator(mode="after")
    def _one_direction(self) -> ThresholdRule:
        if (self.above is None) == (self.below is None):
            raise ValueError("give exactly one of 'above' or 'below'")
        if self.above is not None and self.clear_at > self.above:
            raise ValueError("clear_at must not be above 'above' (hysteresis goes downwards)")
        if self.below is not None and self.clear_at < self.below:
            raise ValueError("clear_at must not be below 'below' (hysteresis goes upwards)")
        return self


class DurationRule(_RuleBase):
    """Fires when a telemetry field has equalled ``equals`` for at least ``for_s`` seconds of device time."""

    type: Literal["duration"]
    field: str
    equals: str | bool | float
    for_s: float = Field(gt=0)


class CountRule(_RuleBase):
    """Fires when ``count`` matching events arrive within ``window_s``; clears after a quiet window."""

    type: Literal["count"]
    event: str
    count: int = Field(ge=2)
    window_s: float = Field(gt=0)


class AbsenceRule(_RuleBase):
    """Fires when a device has sent nothing for ``after_s``; clears with its next message."""

    type: Literal["absence"]
    after_s: float = Field(gt=0)


class DeltaRule(_RuleBase):
    """Fires when a field changes between consecutive readings by less than ``below`` (e.g. a register going
    backwards) or more than ``above`` (a jump); clears with the next normal change."""

    type: Literal["delta"]
    field: str
    above: float | None = None
    below: float | None = None

    @model_validator(mode="after")
    def _some_bound(self) -> DeltaRule:
        if self.above is None and self.below is None:
            raise ValueError("give 'above', 'below' or both")
        return self


class AnalyticsRule(_RuleBase):
    """Runs on a schedule over InfluxDB history with pandas (see ``alerts.analytics``)."""

    type: Literal["analytics"]
    analysis: Literal["night_flow_leak", "consumption_anomaly", "zero_consumption"]
    every_s: float = Field(default=900, ge=10)
    lookback_h: float = Field(default=24, gt=0)
    min_flow: float = Field(default=0.01, ge=0, description="night_flow_leak: minimum night flow that is a leak")
    night_hours: tuple[int, int] = (1, 5)
    baseline_days: int = Field(default=14, ge=2, description="consumption_anomaly / zero_consumption: days looked at")
    sigma: float = Field(default=3.0, gt=0, description="consumption_anomaly: deviations from the mean")


Rule = Annotated[
    EventRule | OfflineRule | ThresholdRule | DurationRule | CountRule | AbsenceRule | DeltaRule | AnalyticsRule,
    Field(discriminator="type"),
]


class SlaTimes(_Strict):
    acknowledge_s: int = Field(gt=0)
    arrive_s: int = Field(gt=0)
    resolve_s: int = Field(gt=0)

    def due(self, start: datetime) -> tuple[datetime, datetime, datetime]:
        return (start + timedelta(seconds=self.acknowledge_s), start + timedelta(seconds=self.arrive_s),
                start + timedelta(seconds=self.resolve_s))


def _default_sla() -> dict[Priority, SlaTimes]:
    """From the seed plans: life safety in minutes, the 30-minute response circle for outages, facility faults
    within 4 hours, maintenance within days."""
    return {
        Priority.LIFE_SAFETY: SlaTimes(acknowledge_s=300, arrive_s=900, resolve_s=3600),
        Priority.OUTAGE: SlaTimes(acknowledge_s=600, arrive_s=1800, resolve_s=4 * 3600),
        Priority.DEGRADATION: SlaTimes(acknowledge_s=3600, arrive_s=4 * 3600, resolve_s=24 * 3600),
        Priority.MAINTENANCE: SlaTimes(acknowledge_s=86_400, arrive_s=3 * 86_400, resolve_s=7 * 86_400),
    }


class Person(_Strict):
    id: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    name: str
    email: str | None = None
    webhook: str | None = None


class Rotation(_Strict):
    """Level 1 rotates through ``members`` every ``period_h`` hours from ``start``; later levels are escalation
    contacts (one person each, or a rotation of their own)."""

    members: list[str] = Field(min_length=1)
    period_h: float = Field(default=24, gt=0)
    start: datetime = datetime(2026, 1, 1, 8, 0).astimezone()

    def on_duty(self, at: datetime) -> str:
        slot = int((at - self.start).total_seconds() // (self.period_h * 3600))
        return self.members[slot % len(self.members)]


class SiteOnCall(_Strict):
    skills: dict[Skill, list[Rotation]] = Field(description="per skill: escalation levels, first = on duty")


class OnCall(_Strict):
    people: list[Person] = Field(default_factory=list)
    sites: dict[str, SiteOnCall] = Field(default_factory=dict)
    default: SiteOnCall | None = Field(default=None, description="used for sites not listed")
    office_webhooks: list[str] = Field(default_factory=list, description="also told of every order and escalation")

    @model_validator(mode="after")
    def _people_exist(self) -> OnCall:
        known = {p.id for p in self.people}
        for site, plan in [*self.sites.items(), ("default", self.default)]:
            if plan is None:
                continue
            for skill, levels in plan.skills.items():
                for rotation in levels:
                    missing = [m for m in rotation.members if m not in known]
                    if missing:
                        raise ValueError(f"site {site} skill {skill.value}: unknown people {missing}")
        return self


class NoticeTexts(_Strict):
    fault: str = "{device}, Building {building}: {title}. Technician dispatched at {dispatched:%H:%M}."
    fixed: str = "{device}, Building {building}: {title}: fixed at {fixed:%H:%M}. Thank you for your patience."
    unit_fault: str = "Unit {unit}: {title} on your {device}. We have dispatched a technician ({dispatched:%H:%M})."
    unit_fixed: str = "Unit {unit}: {title} on your {device}: fixed at {fixed:%H:%M}."


class FlapPolicy(_Strict):
    window_s: float = Field(default=600, gt=0)
    max_changes: int = Field(default=4, ge=2, description="more fire/clear changes than this in the window = flapping")
    hold_s: float = Field(default=600, gt=0, description="a flapping alert resolves after staying clear this long")


class AlertConfig(_Strict):
    rules: list[Rule]
    sla: dict[Priority, SlaTimes] = Field(default_factory=_default_sla)
    oncall: OnCall = Field(default_factory=OnCall)
    notices: NoticeTexts = Field(default_factory=NoticeTexts)
    flapping: FlapPolicy = Field(default_factory=FlapPolicy)

    @model_validator(mode="after")
    def _complete(self) -> AlertConfig:
        ids = [r.id for r in self.rules]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"duplicate rule ids {duplicates}")
        missing = [p.value for p in Priority if p not in self.sla]
        if missing:
            raise ValueError(f"sla: no times for priorities {missing}")
        return self

    def rule(self, rule_id: str) -> Rule:
        return next(r for r in self.rules if r.id == rule_id)


class ConfigError(ValueError):
    """A rule file is wrong; the message names the file, the rule and the field."""


def load_config(path: Path | str = DEFAULT_RULES) -> AlertConfig:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such rule file") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping with 'rules' at the top")
    try:
        return AlertConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError(_explain(path, data, err)) from None


def _explain(path: Path, data: dict, err: ValidationError) -> str:
    lines = [f"{path}: {err.error_count()} problem(s)"]
    for problem in err.errors(include_url=False):
        loc = list(problem["loc"])
        where = ".".join(str(p) for p in loc)
        if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
            rules = data.get("rules") or []
            rule = rules[loc[1]] if loc[1] < len(rules) else {}
            rule_id = rule.get("id", f"#{loc[1] + 1}") if isinstance(rule, dict) else f"#{loc[1] + 1}"
            rest = [str(p) for p in loc[2:] if p not in {r for r in _RULE_TYPES}]
            where = f"rule {rule_id!r}" + (f", field {'.'.join(rest)!r}" if rest else "")
        lines.append(f"  {where}: {problem['msg']}")
    return "\n".join(lines)


_RULE_TYPES = {"event", "offline", "threshold", "duration", "count", "absence", "delta", "analytics"}
