"""On-call plans as data (validated from the rules file's ``oncall`` section) and routing: who is on duty for a
site and skill at a given time, and who is next when nobody answers."""

from __future__ import annotations

from datetime import datetime, time, timedelta, tzinfo
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from core.zones import Zones
from devices.kinds import Skill


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


ChannelName = Literal["wecom", "dingtalk", "feishu", "sms", "voice", "webhook", "email"]
"""What a person can be reached by (``notifications`` holds the channels themselves)."""


class Person(_Strict):
    id: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    name: str
    email: str | None = None
    webhook: str | None = None
    phone: str | None = Field(default=None, pattern=r"^\+?[0-9]{5,20}$", description="SMS and voice calls")
    channels: list[ChannelName] | None = Field(
        default=None, description="their own chain, first choice first (default: notify.chains of the priority)")
    quiet_hours: str | None = Field(default=None, pattern=r"^\d{2}:\d{2}-\d{2}:\d{2}$",
                                    description="site-local, e.g. 22:00-07:00: only life safety reaches them then")
    language: Literal["zh_CN", "en"] | None = Field(default=None, description="what they are sent in (default: "
                                                                                "their site's)")

    def quiet_until(self, at: datetime, tz: tzinfo) -> datetime | None:
        """The end of the quiet hours ``at`` falls in (site-local), or None outside them."""
        if not self.quiet_hours:
            return None
        start, end = (time.fromisoformat(t) for t in self.quiet_hours.split("-"))
        local = at.astimezone(tz)
        now = local.time()
        inside = (start <= now < end) if start < end else (now >= start or now < end)
        if not inside:
            return None
        until = local.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
        return until if until > local else until + timedelta(days=1)


class Rotation(_Strict):
    """Level 1 rotates through ``members`` every ``period_h`` hours from ``start``; later levels are escalation
    contacts (one person each, or a rotation of their own)."""

    members: list[str] = Field(min_length=1)
    period_h: float = Field(default=24, gt=0)
    start: datetime = Field(default=datetime(2026, 1, 1, 8, 0),
                            description="first hand-over; without a zone it is the site's local time")

    def on_duty(self, at: datetime, tz: tzinfo | None = None) -> str:
        start = self.start if self.start.tzinfo else self.start.replace(tzinfo=tz or at.tzinfo)
        slot = int((at - start).total_seconds() // (self.period_h * 3600))
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


class OnCallRouter:
    def __init__(self, oncall: OnCall, zones: Zones | None = None) -> None:
        self.oncall = oncall
        self.zones = zones or Zones()
        self.people = {p.id: p for p in oncall.people}

    def levels(self, site: str, skill: Skill) -> list[Rotation]:
        plan = self.oncall.sites.get(site) or self.oncall.default
        return list(plan.skills.get(skill, [])) if plan else []

    def on_duty(self, site: str, skill: Skill, level: int, at: datetime) -> Person | None:
        """Level 0 is the first line; None when the site has no one at that level."""
        levels = self.levels(site, skill)
        if level >= len(levels):
            return None
        return self.people[levels[level].on_duty(at, self.zones.of(site))]  # hand-overs on the site's clock

    def person(self, person_id: str | None) -> Person | None:
        return self.people.get(person_id) if person_id else None
