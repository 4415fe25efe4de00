"""Each site's clock: an IANA time zone per site (the asset register's sites, else the rules file's ``sites:``),
defaulting to ``COMMUNITY_TIMEZONE`` (Asia/Shanghai). Timestamps are stored in UTC; the site's zone decides night
windows, the report's day, rota hand-overs, "today", and the clock times people read."""

from __future__ import annotations

from datetime import datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT = "Asia/Shanghai"


def zone(name: str) -> ZoneInfo:
    """The zone of this IANA name; ``ValueError`` naming it when there is none."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (an IANA name such as Asia/Shanghai)") from None


class Zones:
    def __init__(self, default: str | tzinfo = DEFAULT, sites: dict[str, str] | None = None) -> None:
        self.default = zone(default) if isinstance(default, str) else default
        self.sites = {site: zone(name) for site, name in (sites or {}).items()}

    def update(self, sites: dict[str, str]) -> None:
        """Zones the asset register sets (they win over the rules file's); an unknown name is skipped."""
        for site, name in sites.items():
            try:
                self.sites[site] = zone(name)
            except ValueError:
                continue

    def of(self, site: str | None) -> tzinfo:
        return self.sites.get(site, self.default) if site else self.default

    def local(self, at: datetime, site: str | None) -> datetime:
        return at.astimezone(self.of(site))
