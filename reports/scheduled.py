"""The morning report: every site's report of yesterday, generated at a site-local time (``COMMUNITY_REPORT_TIME``,
07:00) and sent to the site's managers: e-mail with the PDF attached, the site's group robots a summary and a link.
No separate cron: a thread of the service checks every ``check_s``. What was sent is recorded (``report_runs``),
so a report goes out once; a run missed while the service was down is made up once, at start."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, datetime, time, timedelta, tzinfo
from pathlib import Path

from sqlalchemy.orm import sessionmaker

from core import i18n
from core.clock import Clock
from core.i18n import _
from core.offload import Offload
from core.partition import Owns, owned
from core.periodic import Periodic
from core.zones import Zones
from kpis.models import KpiConfig
from kpis.service import sites
from notifications.service import ROBOTS, Reach, enqueue
from people.oncall import OnCallRouter
from reports import render
from reports.document import SiteReport, build
from reports.models import ReportRun

log = logging.getLogger(__name__)


class ReportScheduler:
    def __init__(self, sessions: sessionmaker, zones: Zones, kpis: KpiConfig, router: OnCallRouter, *,
                 clock: Clock, directory: Path, at: time = time(7, 0), check_s: float = 60.0,
                 channels: Reach = Reach(), public_url: str = "http://127.0.0.1:8080",
                 language_of: Callable[[str | None, str | None], str] = lambda site, own: own or i18n.DEFAULT,
                 on_sent: Callable[[], None] = lambda: None, owns: Owns | None = None,
                 offload: Offload | None = None, database_url: str | None = None) -> None:
        self.sessions, self.zones, self.kpis, self.router, self.clock = sessions, zones, kpis, router, clock
        self.directory, self.at, self.check_s, self.channels = directory, at, check_s, channels
        self.public_url, self.language_of, self.on_sent = public_url.rstrip("/"), language_of, on_sent
        self.sent = 0
        self.owns = owns  # an alert engine partition's sites only (core/partition.py)
        # Where reports are made: the offload child (core/offload.py), which opens ``database_url`` itself;
        # without one, on this scheduler's thread.
        self.offload, self.database_url = (offload, database_url) if offload and database_url else (None, None)
        # the first round at once: a run missed while the service was down is made up on start
        self._loop = Periodic("report-scheduler", self.tick, lambda: self.check_s, first_at_once=True)
        self.start, self.halt, self.stop = self._loop.start, self._loop.halt, self._loop.stop

    def due_day(self, site: str, now: datetime) -> date:
        """The latest day whose report is due now, on the site's clock: yesterday once it is past the report time,
        else the day before."""
        local = now.astimezone(self.zones.of(site))
        return local.date() - timedelta(days=1 if local.time() >= self.at else 2)

    def tick(self) -> int:
        """Send every report that is due and not sent yet; returns how many were sent."""
        now = self.clock()
        count = 0
        for site in sites(self.sessions):
            if not owned(self.owns, site):
                continue
            day = self.due_day(site, now)
            with self.sessions() as session:
                if session.get(ReportRun, (site, day)) is not None:
                    continue
            self.send(site, day, now)
            count += 1
        if count:
            self.on_sent()
        return count

    def send(self, site: str, day: date, now: datetime) -> None:
        site_lang = self.language_of(site, None)
        link = f"{self.public_url}/ui/reports/{site}/{day.isoformat()}"
        people = [p for p in (self.router.person(i) for i in self.kpis.managers_of(site)) if p]
        mailed = [(p, self.language_of(site, p.language)) for p in people if p.email and "email" in self.channels]
        langs = sorted({site_lang, *(lang for _person, lang in mailed)})
        report, pdfs = self.make(site, day, langs)
        with self.sessions.begin() as session:
            for person, lang in mailed:
                subject, body = self.message(report, lang, link)
                enqueue(session, "email", person.email, subject, body | {"attachments": [str(pdfs[lang])]},
                        now, person_id=person.id)
            for robot in sorted(ROBOTS):
                if self.channels.reaches(robot, site):
                    subject, body = self.message(report, site_lang, link)
                    enqueue(session, robot, site, subject, body, now)
            session.add(ReportRun(site=site, day=day, sent_at=now, pdf=str(pdfs[site_lang])))
        self.sent += 1
        log.info("daily report of %s for %s sent to %d managers", site, day, len(people))

    def make(self, site: str, day: date, langs: list[str]) -> tuple[SiteReport, dict[str, Path]]:
        """The report and its PDF in each language: pandas and matplotlib hold the interpreter for seconds, so in
        the offload child if there is one."""
        if self.offload is not None:
            return self.offload.call_on_database(self.database_url, made, self.zones.of(site), site, day, langs,
                                                 self.directory)
        return made(self.sessions, self.zones.of(site), site, day, langs, self.directory)

    @staticmethod
    def message(report: SiteReport, lang: str, link: str) -> tuple[str, dict]:
        with i18n.using(lang):
            subject = _("[%(colour)s] %(title)s", colour=i18n.label(report.worst) if report.worst != "n/a" else "–",
                        title=render.title_of(report))
            lines = [f"{kpi}: {value} ({colour}, {target})" for kpi, value, target, colour, _change in
                     render.summary_rows(report) if value != "–"]
        return subject, {"event": "daily report", "site": report.site, "day": report.day.isoformat(),
                         "lines": lines, "link": link, "language": lang}


def made(sessions: sessionmaker, tz: tzinfo, site: str, day: date, langs: list[str],
         directory: Path) -> tuple[SiteReport, dict[str, Path]]:
    report = build(sessions, tz, site, day)
    return report, {lang: render.write(report, lang, directory) for lang in langs}


def time_of(text: str) -> time:
    """``07:00`` -> 07:00 (the settings check the format)."""
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))

