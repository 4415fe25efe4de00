"""Alert configuration as data, validated at load time with errors that name the file, the rule and the field.

What is loaded: the shipped configuration (``alerts/default_rules.yaml``: SLA per priority, on-call plans, notice
texts, flapping policy), every device kind's default rules (``devices/kinds/<kind>.yaml``), and then the
deployment's file (``COMMUNITY_RULES_FILE``) on top: its rules add to the kinds' rules or replace one with the same
id, ``disable`` drops rules, and any other section it gives replaces the shipped one. See docs/alert-rules.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from core.zones import Zones, zone
from devices import kinds
from devices.kinds import Kind, Skill
from intake.models import IntakeConfig
from kpis.models import KpiConfig
from notices.models import NoticeTexts, Scope
from notifications.models import NotifyPolicy
from people.oncall import OnCall
from workorders.models import Matrix, Priority, SlaTimes

DEFAULT_RULES = Path(__file__).with_name("default_rules.yaml")

class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _RuleBase(_Strict):
    id: str = Field(pattern=r"^[a-z0-9_]{1,64}$")
    title: str = Field(min_length=1, max_length=200)
    titles: dict[str, str] = Field(default_factory=dict, description="the title in other languages: {zh_CN: ...}")
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
        known = kinds.kind(self.kind).events
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


class FlapPolicy(_Strict):
    window_s: float = Field(default=600, gt=0)
    max_changes: int = Field(default=4, ge=2, description="more fire/clear changes than this in the window = flapping")
    hold_s: float = Field(default=600, gt=0, description="a flapping alert resolves after staying clear this long")


class SiteInfo(_Strict):
    timezone: str = Field(description="IANA name, e.g. Asia/Shanghai")

    @model_validator(mode="after")
    def _known_zone(self) -> SiteInfo:
        zone(self.timezone)
        return self


class StormPolicy(_Strict):
    """Many devices lost at once (a power cut, a network failure) are one incident, not one order per device."""

    window_s: float = Field(default=60, gt=0, description="losses are held this long and judged together")
    settle_s: float = Field(default=5, ge=0, description="a building's losses wait this long before they make an "
                                                         "incident, so a site-wide cut shows as one")
    building_devices: int = Field(default=10, ge=2, description="this many lost in one building: a building incident")
    site_buildings: int = Field(default=3, ge=2, description="building-sized losses in this many buildings of a site "
                                                              "at once: one site incident instead")
    hold_s: float = Field(default=300, ge=0, description="an incident resolves once all its devices stayed back this "
                                                          "long (no notice per flap)")
    title: str = Field(default="power or network loss", min_length=1, max_length=120)
    titles: dict[str, str] = Field(default_factory=lambda: {"zh_CN": "停电或网络中断"})
    priority: Priority = Priority.OUTAGE
    skill: Skill = Field(default=Skill.ELECTRICAL, description="who is paged for the incident")


class AlertConfig(_Strict):
    rules: list[Rule]
    sla: dict[Priority, SlaTimes]
    matrix: Matrix
    oncall: OnCall = Field(default_factory=OnCall)
    notices: NoticeTexts = Field(default_factory=NoticeTexts)
    notify: NotifyPolicy = Field(default_factory=NotifyPolicy)
    flapping: FlapPolicy = Field(default_factory=FlapPolicy)
    storms: StormPolicy = Field(default_factory=StormPolicy)
    intake: IntakeConfig = Field(default_factory=IntakeConfig)
    kpis: KpiConfig = Field(default_factory=KpiConfig)
    sites: dict[str, SiteInfo] = Field(default_factory=dict, description="per site: its time zone (default: "
                                                                         "COMMUNITY_TIMEZONE)")

    def zones(self, default: str) -> Zones:
        return Zones(default, {site: info.timezone for site, info in self.sites.items()})

    @model_validator(mode="after")
    def _complete(self) -> AlertConfig:
        ids = [r.id for r in self.rules]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"duplicate rule ids {duplicates}")
        missing = [p.value for p in Priority if p not in self.sla]
        if missing:
            raise ValueError(f"sla: no times for priorities {missing}")
        people = {p.id for p in self.oncall.people}
        unknown = sorted({m for ms in self.kpis.managers.values() for m in ms} - people)
        if unknown:
            raise ValueError(f"kpis.managers: unknown people {unknown} (list them under oncall.people)")
        return self

    def rule(self, rule_id: str) -> Rule:
        return next(r for r in self.rules if r.id == rule_id)


class ConfigError(ValueError):
    """A rule file is wrong; the message names the file, the rule and the field."""


def load_config(path: Path | str | None = None) -> AlertConfig:
    """The shipped configuration with every kind's rules, and the deployment file at ``path`` (if any) on top."""
    data = _read(DEFAULT_RULES)
    data["rules"] = [rule for kind in kinds.ALL for rule in _kind_rules(kind)]
    source = DEFAULT_RULES
    if path is not None and Path(path) != DEFAULT_RULES:
        source = Path(path)
        data = _overlay(data, _read(source), source)
    try:
        return AlertConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError(_explain(source, data, err)) from None


def _read(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such rule file") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping (rules, disable, sla, oncall, notices, flapping) at the top")
    return data


def _kind_rules(kind: kinds.DeviceKind) -> list[dict]:
    """A kind's shipped rules; ``kind`` may be left out in its own file."""
    if kind.rules_file is None:
        return []
    rules = _read(kind.rules_file).get("rules") or []
    if not isinstance(rules, list):
        raise ConfigError(f"{kind.rules_file}: 'rules' must be a list")
    return [{"kind": kind.name, **rule} if isinstance(rule, dict) else rule for rule in rules]


def _overlay(base: dict[str, Any], deployment: dict[str, Any], path: Path) -> dict[str, Any]:
    """The deployment's sections replace the shipped ones; its rules are merged by id; ``disable`` drops rules."""
    out = dict(base)
    rules = deployment.get("rules") or []
    disable = deployment.get("disable") or []
    if not isinstance(rules, list) or not isinstance(disable, list):
        raise ConfigError(f"{path}: 'rules' and 'disable' must be lists")
    ids = [r.get("id") for r in rules if isinstance(r, dict)]
    duplicates = sorted({i for i in ids if i is not None and ids.count(i) > 1})
    if duplicates:
        raise ConfigError(f"{path}: duplicate rule ids {duplicates}")
    known = {r.get("id") for r in base["rules"]} | set(ids)
    unknown = sorted(set(disable) - known)
    if unknown:
        raise ConfigError(f"{path}: disable names unknown rules {unknown}")
    replaced = set(ids) | set(disable)
    out["rules"] = [r for r in base["rules"] if r.get("id") not in replaced] + [
        r for r in rules if not (isinstance(r, dict) and r.get("id") in disable)]
    for key, value in deployment.items():
        if key not in ("rules", "disable"):
            out[key] = value
    return out


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
