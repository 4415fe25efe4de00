"""Each site's clock: the service may run on UTC, the sites on Asia/Shanghai. The report's day, rota hand-overs and
the clock times in notices are the site's (the night-flow window: tests/alerts/test_escalation_and_analytics.py)."""

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.dialects.postgresql import insert

from alerts.config import ConfigError, load_config
from alerts.evaluator import DeviceRef, Signal
from alerts.service import AlertService
from core.db import make_engine, session_factory
from core.settings import Settings
from core.zones import Zones
from dashboards.kpi_report import build
from devices.kinds import Kind
from devices.models import Device
from notices.models import Notice
from people.oncall import Rotation
from tests.alert_fixtures import FakeClock
from workorders.flows import WorkOrderDesk

SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_zones_default_to_the_setting_and_a_site_may_have_its_own(tmp_path):
    assert Settings(_env_file=None).timezone == "Asia/Shanghai"
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'"):
        Settings(_env_file=None, timezone="Mars/Olympus")
    path = tmp_path / "rules.yaml"
    path.write_text("sites:\n  site9: {timezone: Asia/Urumqi}\n")
    zones = load_config(path).zones("Asia/Shanghai")
    assert (zones.of("site1"), zones.of("site9")) == (SHANGHAI, ZoneInfo("Asia/Urumqi"))
    path.write_text("sites:\n  site9: {timezone: Nowhere/City}\n")
    with pytest.raises(ConfigError, match="Nowhere/City"):
        load_config(path)


def test_rota_hand_over_happens_at_eight_on_the_sites_clock():
    rotation = Rotation(members=["night", "day"], period_h=12, start=datetime(2026, 1, 1, 8, 0))
    before = datetime(2026, 11, 21, 23, 30, tzinfo=UTC)  # 07:30 in Shanghai
    after = datetime(2026, 11, 22, 0, 30, tzinfo=UTC)  # 08:30 in Shanghai
    assert rotation.on_duty(before, SHANGHAI) != rotation.on_duty(after, SHANGHAI)
    assert rotation.on_duty(before, UTC) == rotation.on_duty(after, UTC)  # on UTC the hand-over is 8 hours later


@pytest.mark.integration
def test_the_reports_day_and_the_notices_clock_are_the_sites(pg_url, tmp_path):
    engine = make_engine(pg_url)
    sessions = session_factory(engine)
    config = load_config()
    clock = FakeClock()
    clock.now = datetime(2026, 11, 20, 17, 30, tzinfo=UTC)  # 01:30 on the 21st in Shanghai
    zones = Zones("Asia/Shanghai")
    desk = WorkOrderDesk(sessions, sla=config.sla, matrix=config.matrix, oncall=config.oncall,
                         texts=config.notices, clock=clock, zones=zones)
    with sessions.begin() as session:
        session.execute(insert(Device).values(device_id="el1", site="site1", building="b1", kind="elevator",
                                              last_seen=clock.now))
    outcome = AlertService(config, desk).handle(Signal(config.rule("elevator_trapped"),
                                                       DeviceRef("el1", "site1", "b1", Kind.ELEVATOR),
                                                       True, int(clock.now.timestamp() * 1000)))
    with sessions() as session:
        [notice] = session.query(Notice).filter(Notice.work_order_id == outcome.work_order_id).all()
    assert "01:30 出发" in notice.text  # Beijing time, not the server's 17:30, in the site's language
    assert "dispatched at 01:30" in notice.texts["en"]
    assert build(sessions, date(2026, 11, 21), zones).table.iloc[0]["orders_opened"] == 1  # the Beijing day
    assert build(sessions, date(2026, 11, 20), zones).table.iloc[0]["orders_opened"] == 0
    assert build(sessions, date(2026, 11, 20), UTC).table.iloc[0]["orders_opened"] == 1  # a UTC day differs
    engine.dispose()
