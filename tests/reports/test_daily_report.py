"""The daily report as people get it, on PostgreSQL: per site a traffic-light summary with the change since the day
before, the 30-day trend and the day's orders as charts, HTML readable on a phone and a PDF (turned into PNG pages
here and checked), in Chinese and English; and the morning schedule on a hand-moved clock: one report per site and
day, to the managers by e-mail with the PDF and to the site's group robot with a link, a missed run made up once."""

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pymupdf
import pytest
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from alerts.config import load_config
from alerts.evaluator import DeviceRef, Signal
from alerts.service import AlertService
from core.db import make_engine, session_factory
from core.offload import Offload
from core.zones import Zones
from devices.kinds import Kind
from devices.models import Device
from notifications.models import Notification
from notifications.service import Reach
from reports import render
from reports.document import build
from reports.models import ReportRun
from reports.scheduled import ReportScheduler
from tests.alert_fixtures import FakeClock
from workorders.flows import WorkOrderDesk

pytestmark = pytest.mark.integration
SHANGHAI = ZoneInfo("Asia/Shanghai")
DAY = date(2026, 11, 20)
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
ARTIFACTS.mkdir(exist_ok=True)  # screenshots land here whichever test runs first


@pytest.fixture
def world(pg_url):
    """Two days of orders on site1 (Shanghai clock): a good 19th, a worse 20th."""
    engine = make_engine(pg_url)
    sessions = session_factory(engine)
    config = load_config()
    clock = FakeClock()
    zones = Zones("Asia/Shanghai")
    desk = WorkOrderDesk(sessions, sla=config.sla, matrix=config.matrix, oncall=config.oncall, texts=config.notices,
                         clock=clock, zones=zones)
    service = AlertService(config, desk)
    with sessions.begin() as session:
        for i in range(10):
            session.execute(insert(Device).values(device_id=f"d{i}", site="site1", building="b1", kind="elevator",
                                                  last_seen=datetime(2026, 11, 18, tzinfo=UTC)))

    def order(rule_id: str, device: str, at: datetime, steps: list[tuple[str, int]]) -> None:
        clock.now = at
        ref = DeviceRef(device, "site1", "b1", Kind.ELEVATOR)
        order_id = service.handle(Signal(config.rule(rule_id), ref, True, int(at.timestamp() * 1000))).work_order_id
        for action, minutes in steps:
            clock.now = at + timedelta(minutes=minutes)
            desk.transition(order_id, action, "tech")

    morning_19, morning_20 = datetime(2026, 11, 19, 1, 0, tzinfo=UTC), datetime(2026, 11, 20, 1, 0, tzinfo=UTC)
    order("elevator_trapped", "d0", morning_19, [("start", 5), ("resolve", 30)])
    order("elevator_trapped", "d1", morning_20, [("start", 10), ("resolve", 40)])
    order("elevator_stopped", "d2", morning_20 + timedelta(hours=1), [("acknowledge", 20), ("start", 50),
                                                                       ("resolve", 360)])
    order("elevator_landing_button_stuck", "d3", morning_20 + timedelta(hours=2), [])
    yield sessions, zones, config, clock
    engine.dispose()


def test_the_summary_has_each_kpi_its_colour_and_its_change_since_the_day_before(world):
    sessions, zones, _config, _clock = world
    report = build(sessions, zones.of("site1"), "site1", DAY)
    lines = {line.kpi.key: line for line in report.lines}
    assert (lines["facility_intact_rate"].value, lines["facility_intact_rate"].colour) == (70.0, "red")
    assert lines["facility_intact_rate"].change == -20.0  # 90 % on the 19th (one device under an order)
    assert lines["sla_compliance"].value == 50.0 and lines["sla_compliance"].change == -50.0
    assert len(report.trend) == 30 and report.trend.iloc[-1]["day"] == "2026-11-20"
    assert len(report.orders) == 3 and report.worst == "red"
    assert sorted(report.acknowledge_minutes()) == [10.0, 20.0]  # start counts as acknowledging


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
def test_the_pdf_has_its_pages_in_the_readers_language_and_the_html_fits_a_phone(world, browser, tmp_path, lang):
    sessions, zones, _config, _clock = world
    report = build(sessions, zones.of("site1"), "site1", DAY)
    document = pymupdf.open(stream=render.to_pdf(report, lang), filetype="pdf")
    assert document.page_count == 3
    words = ("日报", "设施完好率", "较昨日", "近30天指标走势") if lang == "zh_CN" else \
        ("Daily report", "Facility intact rate", "change since yesterday", "KPIs over the last 30 days")
    text = "".join(page.get_text() for page in document)
    assert all(word in text for word in words), (lang, text[:400])
    for number, page in enumerate(document, start=1):  # each page as an image: drawn, not blank
        picture = page.get_pixmap(dpi=60)
        picture.save(str(ARTIFACTS / f"report-pdf-{lang}-{number}.png"))
        assert len(set(picture.samples[::97])) > 5, f"page {number} looks blank"
    html = tmp_path / "report.html"
    html.write_text(render.to_html(report, lang), encoding="utf-8")
    page = browser.new_page(viewport={"width": 390, "height": 844})
    page.goto(html.as_uri())
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing wider than the phone
    assert page.locator("img").count() == 2 and words[1] in page.inner_text("body")
    page.screenshot(path=str(ARTIFACTS / f"report-phone-{lang}.png"), full_page=True)


@pytest.mark.parametrize("where", ["offload child", "scheduler thread"])
def test_the_morning_report_goes_out_once_a_day_and_a_missed_one_is_made_up_once(world, tmp_path, pg_url, where):
    sessions, zones, config, clock = world
    reach = Reach({"email": lambda r: True, "wecom": lambda site: site == "site1"})
    offload = Offload("test-reports") if where == "offload child" else None
    scheduler = ReportScheduler(sessions, zones, config.kpis, WorkOrderDesk(
        sessions, sla=config.sla, matrix=config.matrix, oncall=config.oncall, texts=config.notices).router,
        clock=clock, directory=tmp_path, at=time(7, 0), channels=reach, public_url="https://wy.example",
        offload=offload, database_url=pg_url)
    try:
        _morning_reports(scheduler, sessions, clock)
        assert offload is None or offload.calls == 3  # the three reports were made in the child
    finally:
        if offload is not None:
            offload.close()


def _morning_reports(scheduler, sessions, clock) -> None:  # noqa: ANN001

    def at(day: int, hour: int, minute: int = 0) -> None:
        clock.now = datetime(2026, 11, day, hour, minute, tzinfo=SHANGHAI)

    def runs() -> list[date]:
        with sessions() as session:
            return list(session.scalars(select(ReportRun.day).order_by(ReportRun.day)))

    at(21, 6, 59)  # before the report time: the 19th's report is the one due (the service just started)
    assert scheduler.tick() == 1 and runs() == [date(2026, 11, 19)]
    at(21, 7, 0)
    assert scheduler.tick() == 1 and runs() == [date(2026, 11, 19), date(2026, 11, 20)]
    for hour in (8, 12, 23):
        at(21, hour)
        assert scheduler.tick() == 0  # once a day
    at(24, 10)  # the service was down on the 22nd and 23rd: only the latest report is made up
    assert scheduler.tick() == 1 and runs()[-1] == date(2026, 11, 23) and len(runs()) == 3
    with sessions() as session:
        sent = [n for n in session.scalars(select(Notification).order_by(Notification.id))
                if n.body.get("event") == "daily report"]
    mails = [n for n in sent if n.channel == "email"]
    robots = [n for n in sent if n.channel == "wecom"]
    assert len(mails) == 3 and mails[0].recipient == "zhou.manager@example.invalid"  # the site's manager
    assert mails[1].body["attachments"][0].endswith("2026-11-20.zh_CN.pdf") and "日报" in mails[1].subject
    assert Path(mails[1].body["attachments"][0]).stat().st_size > 10_000  # the PDF is there, wherever it was made
    assert len(robots) == 3 and robots[1].body["link"] == "https://wy.example/ui/reports/site1/2026-11-20"
    assert any("设施完好率" in line for line in robots[1].body["lines"])
