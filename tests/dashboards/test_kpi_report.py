"""Daily KPI report on PostgreSQL: exact figures from work orders made through the alert service."""

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy.dialects.postgresql import insert

from alerts.config import load_config
from alerts.evaluator import DeviceRef, Signal
from alerts.service import AlertService
from core.db import make_engine, session_factory
from dashboards.kpi_report import build, status
from devices.kinds import Kind
from devices.models import Device
from tests.alert_fixtures import FakeClock
from workorders.flows import WorkOrderDesk

pytestmark = pytest.mark.integration
DAY = date(2026, 11, 20)


def test_status_is_green_at_target_yellow_within_five_percent_red_beyond():
    assert status(98.0, 98.0) == "green"
    assert status(93.2, 98.0) == "yellow"
    assert status(93.0, 98.0) == "red"
    assert status(None, 98.0) == "n/a"


def test_report_figures_and_files(pg_url, tmp_path):
    engine = make_engine(pg_url)
    sessions = session_factory(engine)
    config = load_config()
    clock = FakeClock()
    desk = WorkOrderDesk(sessions, sla=config.sla, matrix=config.matrix, oncall=config.oncall, texts=config.notices,
                         clock=clock)
    service = AlertService(config, desk)
    with sessions.begin() as session:
        for i in range(10):
            session.execute(insert(Device).values(device_id=f"d{i}", site="site1", building="b1", kind="elevator",
                                                  last_seen=datetime(2026, 11, 20, tzinfo=UTC)))
    start = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)

    def open_order(rule_id: str, device: str, at: datetime) -> int:
        clock.now = at
        ref = DeviceRef(device, "site1", "b1", Kind.ELEVATOR)
        return service.handle(Signal(config.rule(rule_id), ref, True, int(at.timestamp() * 1000))).work_order_id

    def step(order_id: int, action: str, at: datetime) -> None:
        clock.now = at
        desk.transition(order_id, action, "tech")

    a = open_order("elevator_trapped", "d0", start)  # life safety, started after 10 min, resolved in 40 min
    step(a, "start", start + timedelta(minutes=10))
    step(a, "resolve", start + timedelta(minutes=40))
    b = open_order("elevator_stopped", "d1", start + timedelta(hours=1))  # outage, started after 50 min
    step(b, "acknowledge", start + timedelta(hours=1, minutes=20))
    step(b, "start", start + timedelta(hours=1, minutes=50))
    step(b, "resolve", start + timedelta(hours=6))  # past its 4 h resolve timer
    open_order("elevator_landing_button_stuck", "d2", start + timedelta(hours=2))  # degradation, still open
    clock.now = start + timedelta(hours=3)
    desk.follow_up(a, "staff", 4)

    report = build(sessions, DAY, UTC)
    [row] = report.table.to_dict("records")
    assert row["site"] == "site1" and row["devices"] == 10
    assert row["facility_intact_rate"] == 70.0 and row["facility_intact_rate_status"] == "red"
    assert row["orders_opened"] == 3 and row["orders_resolved"] == 2
    assert row["fault_repair_rate"] == pytest.approx(66.7) and row["fault_repair_rate_status"] == "red"
    assert row["emergency_orders"] == 2 and row["emergency_response_30min"] == 50.0
    assert row["sla_compliance"] == 50.0
    assert row["mean_minutes_to_acknowledge"] == 15.0  # (10 + 20) / 2: start counts as acknowledging
    assert row["mean_minutes_to_repair"] == pytest.approx((40 + 300) / 2)
    assert row["mean_rating"] == 4.0

    csv_path, html_path = report.write(tmp_path, "en")
    assert csv_path.read_text().splitlines()[0].startswith("site,devices,facility_intact_rate")
    html = html_path.read_text()
    assert "Daily KPI report, 2026-11-20" in html and "#ffebe9" in html  # red cells coloured
    _csv, html_path = report.write(tmp_path / "zh")  # the default: Chinese
    chinese = html_path.read_text()
    assert "每日KPI报告" in chinese and "SLA达标率（修复）" in chinese and "#ffebe9" in chinese and ">红<" in chinese
    assert build(sessions, date(2026, 11, 21), UTC).table.iloc[0]["orders_opened"] == 0
    engine.dispose()
