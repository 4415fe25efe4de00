"""On-call routing: who is on duty for a site and skill at a given time, and who is next when nobody answers."""

from __future__ import annotations

from datetime import datetime

from alerts.config import OnCall, Person, Rotation, Skill


class OnCallRouter:
    def __init__(self, oncall: OnCall) -> None:
        self.oncall = oncall
        self.people = {p.id: p for p in oncall.people}

    def levels(self, site: str, skill: Skill) -> list[Rotation]:
        plan = self.oncall.sites.get(site) or self.oncall.default
        return list(plan.skills.get(skill, [])) if plan else []

    def on_duty(self, site: str, skill: Skill, level: int, at: datetime) -> Person | None:
        """Level 0 is the first line; None when the site has no one at that level."""
        levels = self.levels(site, skill)
        if level >= len(levels):
            return None
        return self.people[levels[level].on_duty(at)]

    def person(self, person_id: str | None) -> Person | None:
        return self.people.get(person_id) if person_id else None
