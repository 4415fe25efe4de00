"""Alert engines partitioned by site: which sites one ``alerts`` process owns.

A company's communities (sites) are split over several alert engine processes that share the work-order database.
Each owns a set of sites, given either as a list (``COMMUNITY_ALERT_SITES=site1,site2``) or as one slot of N by a
stable hash of the site id (``COMMUNITY_ALERT_PARTITION=0/2``: CRC-32 of the id, modulo N, the same on every
machine and every start). An engine subscribes to its own sites' topics only, on both lanes, and runs the timers,
escalations, KPI warnings, daily reports and analytics findings of its own sites only.

Nothing coordinates the engines: the broker's persistent sessions, the settings, and the database's row locks
(a fault's alert row is locked while it is judged; timer jobs take their rows ``FOR UPDATE SKIP LOCKED``) are all
there is. That is what makes moving a site safe while both engines own it for a moment (docs/operations.md,
"Moving a site to another alert engine").
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy import Select
from sqlalchemy.orm import Session

Owns = Callable[[str], bool]


def slot(site: str, count: int) -> int:
    """The hash slot of a site among ``count`` partitions (CRC-32: stable across processes, unlike ``hash``)."""
    return zlib.crc32(site.encode("utf-8")) % count


@dataclass(frozen=True)
class Partition:
    """``sites`` (a list) or ``index`` of ``count`` (a hash slot); neither: every site (one engine)."""

    sites: frozenset[str] | None = None
    index: int = 0
    count: int = 1

    @classmethod
    def parse(cls, sites: str | None, partition: str | None) -> Partition:
        """From the settings' text forms, ``"site1,site2"`` and ``"k/N"`` (already checked by the settings)."""
        if sites:
            return cls(sites=frozenset(s.strip() for s in sites.split(",") if s.strip()))
        if partition:
            index, count = (int(part) for part in partition.split("/"))
            return cls(index=index, count=count)
        return cls()

    @property
    def whole(self) -> bool:
        return self.sites is None and self.count == 1

    @property
    def by_hash(self) -> bool:
        return self.sites is None and self.count > 1

    def owns(self, site: str) -> bool:
        if self.sites is not None:
            return site in self.sites
        return self.count == 1 or slot(site, self.count) == self.index

    def subscribed(self, known: Iterable[str]) -> tuple[str, ...] | None:
        """The sites to subscribe to: None for every site (a wildcard); a hash slot's sites are those of ``known``
        (the register) that fall into it."""
        if self.whole:
            return None
        if self.sites is not None:
            return tuple(sorted(self.sites))
        return tuple(sorted(s for s in set(known) if self.owns(s)))

    def __str__(self) -> str:
        if self.whole:
            return "every site"
        if self.sites is not None:
            return f"sites {', '.join(sorted(self.sites))}"
        return f"hash slot {self.index} of {self.count}"


def owned(owns: Owns | None, site: str) -> bool:
    """Whether an engine with ``owns`` (None: no partition, every site) judges ``site``."""
    return owns is None or owns(site)


def owned_rows(session: Session, query: Select, owns: Owns | None) -> list:
    """The rows of ``query`` (a select of one mapped class with a ``site`` and an ``id``) that this engine owns,
    locked for the transaction. The candidates are read without locks, filtered by site, and then locked with
    ``SKIP LOCKED``: while a site moves, two engines may both own it, and the one that finds a row locked leaves
    it to the other (PostgreSQL re-checks the query's condition once it has the lock, so a row the other engine
    already handled no longer matches). With no partition (``owns`` None) it is the plain query."""
    if owns is None:
        return list(session.scalars(query).all())
    model = query.column_descriptions[0]["entity"]
    candidates = session.execute(query.with_only_columns(model.id, model.site)).all()
    ids = [row_id for row_id, site in candidates if owns(site)]
    if not ids:
        return []
    return list(session.scalars(query.where(model.id.in_(ids)).with_for_update(skip_locked=True)).all())
