"""The KPI watch: every ``kpis.every_s`` it computes each site's KPIs over the site's day so far (on the site's
clock), writes them to
InfluxDB (measurement ``kpi``, what the dashboards' KPI tiles show), and when a KPI changes colour it records a
warning and tells the site's managers through the notification channels. No repeats while the colour stays.

Runs on a thread of its own (pandas over the order history must not hold up the alert engine).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Container
from datetime import datetime

from sqlalchemy.orm import sessionmaker

from core import i18n
from core.clock import Clock, epoch_ms
from core.offload import Offload
from core.partition import Owns
from core.periodic import Periodic
from core.zones import Zones
from ingest.lineprotocol import Point
from kpis.definitions import KPIS
from kpis.models import KpiConfig, KpiState, KpiWarning
from kpis.service import compute_days
from notifications.service import addresses, enqueue
from people.oncall import OnCallRouter

log = logging.getLogger(__name__)


class KpiWatch:
    def __init__(self, sessions: sessionmaker, config: KpiConfig, router: OnCallRouter, *, clock: Clock,
                 metrics: Callable[[Point], None] | None = None, channels: Container[str] = frozenset(),
                 notify_prefix: str = "community-notify", zones: Zones | None = None,
                 language_of: Callable[[str | None, str | None], str] = lambda site, own: own or i18n.DEFAULT,
                 owns: Owns | None = None, offload: Offload | None = None, database_url: str | None = None) -> None:
        self.sessions, self.config, self.router, self.clock = sessions, config, router, clock
        self.owns = owns  # an alert engine partition's sites only (core/partition.py)
        # where the KPIs are computed (pandas over every device and order of the sites): the offload child
        # (core/offload.py), which opens ``database_url`` itself; without one, on this watch's thread
        self.offload, self.database_url = (offload, database_url) if offload and database_url else (None, None)
        self.language_of = language_of  # a person's language: their own, else their site's (WorkOrderDesk)
        self.metrics = metrics or (lambda _point: None)
        self.channels, self.notify_prefix, self.zones = channels, notify_prefix, zones or Zones()
        self.runs = 0
        self._loop = Periodic("kpi-watch", self.run_once, lambda: self.config.every_s)
        self.start, self.halt, self.stop = self._loop.start, self._loop.halt, self._loop.stop

    def run_once(self) -> list[KpiWarning]:
        """Judge every site's KPIs now; returns the warnings it sent."""
        now = self.clock()
        if self.offload is not None:
            table = self.offload.call_on_database(self.database_url, compute_days, self.zones, now, self.owns)
        else:
            table = compute_days(self.sessions, self.zones, now, self.owns)
        warnings: list[KpiWarning] = []
        with self.sessions.begin() as session:
            for row in table.to_dict("records"):
                for kpi in KPIS:
                    value, colour = row.get(kpi.key), row.get(f"{kpi.key}_status", "n/a")
                    if colour == "n/a":
                        continue
                    value = float(value)
                    self.metrics(Point("kpi", {"site": row["site"], "kpi": kpi.key},
                                       {"value": value, "target": kpi.target, "colour": colour}, epoch_ms(now)))
                    state = session.get(KpiState, (row["site"], kpi.key))
                    previous = state.colour if state else None
                    if state is None:
                        state = KpiState(site=row["site"], kpi=kpi.key, colour=colour, since=now)
                        session.add(state)
                    state.value, state.judged_at = value, now
                    if previous == colour or (previous is None and colour == "green"):
                        continue  # no news: the colour stays (a first green is no warning)
                    state.colour, state.since = colour, now
                    warning = KpiWarning(at=now, site=row["site"], kpi=kpi.key, colour=colour, previous=previous,
                                         value=value, target=kpi.target)
                    session.add(warning)
                    self._tell(session, warning, kpi.title, now)
                    warnings.append(warning)
        self.runs += 1
        return warnings

    def _tell(self, session, warning: KpiWarning, title: str, now: datetime) -> None:  # noqa: ANN001 - Session
        """Each manager in their language; the site's feed in the site's."""
        people = [p for p in (self.router.person(i) for i in self.config.managers_of(warning.site)) if p]
        body = {"event": "kpi warning", "kpi": {"site": warning.site, "kpi": warning.kpi, "colour": warning.colour,
                                                 "previous": warning.previous, "value": warning.value,
                                                 "target": warning.target, "at": now.isoformat()}}
        feed = f"{self.notify_prefix}/{warning.site}/kpi"
        sends = [(person.language, addresses(person)) for person in people] + [(None, [("mqtt", feed)])]
        for own, pairs in sends:
            lang = self.language_of(warning.site, own)
            subject = self._subject(warning, title, lang)
            for channel, recipient in pairs:
                if channel in self.channels:
                    enqueue(session, channel, recipient, subject, body | {"language": lang}, now)

    @staticmethod
    def _subject(warning: KpiWarning, title: str, lang: str) -> str:
        with i18n.using(lang):
            values = {"colour": i18n.label(warning.colour), "site": warning.site, "kpi": i18n._(title),
                      "value": f"{warning.value:.1f}", "target": f"{warning.target:g}"}
            if warning.previous:
                return i18n._("[KPI %(colour)s] %(site)s: %(kpi)s %(value)s %% (target %(target)s %%, was "
                              "%(previous)s)", previous=i18n.label(warning.previous), **values)
            return i18n._("[KPI %(colour)s] %(site)s: %(kpi)s %(value)s %% (target %(target)s %%)", **values)
