"""SLA escalation with a controllable clock, flapping suppression, analytics over InfluxDB history."""

import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from notifications.models import Notification
from simulator.fleet import Fleet
from tests.alert_fixtures import FakeClock
from tests.conftest import engine_settled, wait_for
from workorders.models import WorkOrder, WorkOrderEvent

pytestmark = pytest.mark.integration


def latest(runtime, order_id: int) -> WorkOrder:
    with runtime.sessions() as session:
        return session.get(WorkOrder, order_id)


def actions(runtime, order_id: int) -> list[str]:
    with runtime.sessions() as session:
        return list(session.scalars(select(WorkOrderEvent.action).where(WorkOrderEvent.work_order_id == order_id)
                                    .order_by(WorkOrderEvent.id)))


def first_order(runtime) -> WorkOrder:
    assert wait_for(lambda: _orders(runtime), 20), runtime.stats()
    return _orders(runtime)[0]


def _orders(runtime) -> list[WorkOrder]:
    with runtime.sessions() as session:
        return list(session.scalars(select(WorkOrder).order_by(WorkOrder.id)))


def test_unacknowledged_order_escalates_level_by_level_when_the_timer_runs_out(alert_service, publisher, unique,
                                                                               webhook):
    clock = FakeClock()
    runtime = alert_service(clock=clock)
    fleet = Fleet(seed=7, prefix=unique)
    publisher.publish(fleet.inject("passengers_trapped", "s1b1-el1", now_ms=int(time.time() * 1000)))
    order = first_order(runtime)
    first = order.assignee
    clock.advance(seconds=299)
    assert engine_settled(runtime)  # timer rounds ran with the clock at 299 s: nothing is due yet
    assert latest(runtime, order.id).escalation_level == 0

    clock.advance(seconds=2)  # 5 min acknowledge timer ran out
    assert wait_for(lambda: latest(runtime, order.id).escalation_level == 1)
    now = latest(runtime, order.id)
    assert now.assignee == "sun.lead"
    assert now.ack_due_at == clock.now + timedelta(seconds=300)  # a fresh timer for the new level
    assert wait_for(lambda: any(b["path"] == "/people/sun.lead" for b in webhook.bodies))
    escalation_hook = next(b for b in webhook.bodies if b["path"] == "/people/sun.lead")
    assert escalation_hook["event"] == "escalated to level 2"

    clock.advance(seconds=301)
    assert wait_for(lambda: latest(runtime, order.id).assignee == "zhou.manager")
    clock.advance(seconds=301)
    assert wait_for(lambda: "escalation_exhausted" in actions(runtime, order.id))
    assert actions(runtime, order.id)[:4] == ["created", "assigned", "escalated", "escalated"]
    assert first in ("wang.tech", "li.tech")


def test_an_acknowledged_order_escalates_each_missed_timer_once_and_keeps_its_assignee(alert_service, publisher,
                                                                                     unique, webhook):
    clock = FakeClock()
    runtime = alert_service(clock=clock)
    fleet = Fleet(seed=8, prefix=unique)
    publisher.publish(fleet.inject("door_forced_open", "s1b1-door1", now_ms=int(time.time() * 1000)))
    order = first_order(runtime)  # outage: acknowledge 10 min, arrive 30 min, resolve 4 h
    runtime.orders.transition(order.id, "acknowledge", "zhao")
    clock.advance(minutes=29)
    assert engine_settled(runtime)
    assert latest(runtime, order.id).escalation_level == 0  # acknowledged in time, still inside the arrive timer
    clock.advance(minutes=2)
    assert wait_for(lambda: "escalated_arrive" in actions(runtime, order.id))
    assert wait_for(lambda: any(b["path"] == "/people/sun.lead" and b["event"] == "nobody on site in time "
                                "(escalated)" for b in webhook.bodies))
    clock.advance(hours=1)
    assert engine_settled(runtime)
    assert actions(runtime, order.id).count("escalated_arrive") == 1  # once per timer
    runtime.orders.transition(order.id, "start", "zhao")
    clock.advance(hours=3)  # 4 h 31 min since it opened: the resolve timer ran out
    assert wait_for(lambda: "escalated_resolve" in actions(runtime, order.id))
    now = latest(runtime, order.id)
    assert (now.escalation_level, now.assignee) == (2, "zhao.tech")  # the rota's levels were told; zhao works on
    assert "escalated" not in actions(runtime, order.id)  # the acknowledge timer was met


def test_whoever_acknowledges_becomes_the_assignee_staff_transfer_and_closing_needs_a_follow_up(alert_service,
                                                                                                  publisher, unique):
    from tests.alert_fixtures import OPERATOR, add_people, api, login

    clock = FakeClock()
    runtime = alert_service(clock=clock)
    add_people(runtime)
    client = api(runtime)
    staff = {"Authorization": f"Bearer {OPERATOR}"}
    fleet = Fleet(seed=18, prefix=unique)
    publisher.publish(fleet.inject("out_of_service", "s1b1-el1", now_ms=int(time.time() * 1000)))
    order = first_order(runtime)
    tech = login(client, "wang", "tech-password")  # wang.tech
    assert client.post(f"/work-orders/{order.id}/acknowledge", headers=tech).json()["assignee"] == "wang.tech"
    moved = client.post(f"/work-orders/{order.id}/assign", headers=staff, json={"person": "li.tech",
                                                                              "note": "wang is off sick"})
    assert moved.status_code == 200 and moved.json()["assignee"] == "li.tech"
    assert client.post(f"/work-orders/{order.id}/assign", headers=staff, json={"person": "nobody"}).status_code == 422
    assert client.post(f"/work-orders/{order.id}/assign", headers=tech, json={"person": "li.tech"}).status_code == 403
    assert "reassigned" in actions(runtime, order.id)
    client.post(f"/work-orders/{order.id}/resolve", headers=tech)
    early = client.post(f"/work-orders/{order.id}/close", headers=staff)
    assert early.status_code == 409 and "needs a follow-up" in early.json()["detail"]
    bad = client.post(f"/work-orders/{order.id}/follow-up", headers=staff, json={"outcome": "no_answer", "rating": 3})
    assert bad.status_code == 422
    called = client.post(f"/work-orders/{order.id}/follow-up", headers=staff, json={"outcome": "no_answer"})
    assert called.status_code == 200 and called.json()["status"] == "closed" and called.json()["rating"] is None


def test_a_resolved_order_nobody_follows_up_closes_as_no_answer_after_the_timeout(alert_service, publisher, unique):
    clock = FakeClock()
    runtime = alert_service(clock=clock)
    fleet = Fleet(seed=19, prefix=unique)
    publisher.publish(fleet.inject("door_forced_open", "s1b1-door1", now_ms=int(time.time() * 1000)))
    order = first_order(runtime)
    runtime.orders.transition(order.id, "resolve", "zhao")
    clock.advance(hours=71)
    assert engine_settled(runtime)
    assert latest(runtime, order.id).status == "resolved"
    clock.advance(hours=2)
    assert wait_for(lambda: latest(runtime, order.id).status == "closed")
    assert actions(runtime, order.id)[-2:] == ["follow_up", "close"]
    assert latest(runtime, order.id).follow_up_comment == "no follow-up within 72 h"


def test_flapping_fault_keeps_one_order_and_resolves_only_after_staying_clear(alert_service, publisher, unique):
    clock = FakeClock()
    runtime = alert_service(clock=clock)
    fleet = Fleet(seed=9, prefix=unique)
    device = "s1b1-door1"
    for _ in range(4):  # fire/clear 4 times: the 5th change in the window marks the alert as flapping
        publisher.publish(fleet.inject("door_forced_open", device, now_ms=int(time.time() * 1000)))
        publisher.publish(fleet.clear("door_forced_open", device, now_ms=int(time.time() * 1000)))
        time.sleep(0.3)
    assert wait_for(lambda: len(_orders(runtime)) == 3 and actions(runtime, _orders(runtime)[-1].id).count(
        "fault_cleared") == 2), [(o.id, o.status, actions(runtime, o.id)) for o in _orders(runtime)]
    first, second, held = _orders(runtime)
    assert (first.status, second.status) == ("resolved", "resolved")  # before flapping was recognised
    held = latest(runtime, held.id)
    assert held.status == "open" and held.occurrences == 2  # the 4th cycle joined the held order
    clock.advance(seconds=601)
    assert wait_for(lambda: latest(runtime, held.id).status == "resolved")


def test_night_flow_leak_is_found_in_influxdb_history(alert_service, unique, influx):
    runtime = alert_service(clock=FakeClock())
    rule = runtime.alert_config.rule("water_night_leak")
    local_tz = ZoneInfo("Asia/Shanghai")  # the site's clock (the default), whatever the server's zone is
    night = datetime.now(local_tz).replace(hour=1, minute=0, second=0, microsecond=0)
    if night > datetime.now(local_tz):
        night -= timedelta(days=1)
    lines = []
    for minute in range(0, 240, 10):
        ts = int((night + timedelta(minutes=minute)).timestamp() * 1000)
        leak_flow = 0.04 + (minute % 3) * 0.01  # never zero: a leak
        ok_flow = 0.0 if minute % 30 == 0 else 0.2  # drops to zero now and then: someone used water
        lines.append(f"meter,site=site1,building=b1,device=m-leak,medium=water,unit=0101 flow={leak_flow} {ts}")
        lines.append(f"meter,site=site1,building=b1,device=m-ok,medium=water,unit=0102 flow={ok_flow} {ts}")
        lines.append(f"meter,site=site1,building=b1,device=m-power,medium=electricity,unit=0101 flow=0.5 {ts}")
    influx.write_lines(lines)
    runtime.alert_engine.clock = lambda: datetime.now(UTC)
    runtime.alert_engine.run_analytics(rule)
    assert wait_for(lambda: _orders(runtime))
    assert engine_settled(runtime)  # every finding of the run has been applied
    found = _orders(runtime)
    assert [(o.rule_id, o.device_id, o.unit) for o in found] == [("water_night_leak", "m-leak", "0101")]
    assert runtime.offload is not None and runtime.offload.calls == 1  # judged in the offload child
    with runtime.sessions() as session:
        assert session.scalars(select(Notification)).first() is not None


def test_consumption_anomaly_and_zero_consumption_from_daily_history(alert_service, unique, influx):
    from alerts.analytics import consumption_anomaly, zero_consumption

    runtime = alert_service()
    now = datetime.now(UTC)
    lines = []
    for day in range(15, 0, -1):
        start = now - timedelta(days=day)
        for hour in (2, 14):
            ts = int((start.replace(hour=hour, minute=0, second=0, microsecond=0)).timestamp() * 1000)
            normal = 100 + (15 - day) * 1.0 + (0.5 if hour == 14 else 0)
            spike = 100 + (15 - day) * 1.0 + (40 if day == 1 and hour == 14 else (0.5 if hour == 14 else 0))
            lines.append(f"meter,site=s,building=b,device=steady,medium=water,unit=1 reading={normal} {ts}")
            lines.append(f"meter,site=s,building=b,device=spiky,medium=water,unit=2 reading={spike} {ts}")
            lines.append(f"meter,site=s,building=b,device=stuck,medium=water,unit=3 reading=55.5 {ts}")
    influx.write_lines(lines)
    anomaly = {f.device_id: f.fault for f in consumption_anomaly(
        influx, runtime.alert_config.rule("meter_consumption_anomaly"), now)}
    assert anomaly["spiky"] is True and anomaly["steady"] is False
    zero_rule = runtime.alert_config.rule("meter_zero_consumption").model_copy(update={"baseline_days": 14})
    zero = {f.device_id: f.fault for f in zero_consumption(influx, zero_rule, now)}
    assert zero == {"steady": False, "spiky": False, "stuck": True}


def test_night_flow_is_judged_on_each_site_s_own_night(influx):
    """Two sites on two clocks: a meter that stops at its Berlin night but runs through Shanghai's night is healthy,
    on either clock's night a meter that never stops is a leak (real InfluxDB, a day of readings every 10 min)."""
    from alerts.analytics import night_flow_leak
    from alerts.config import load_config
    from core.zones import Zones

    rule = load_config().rule("water_night_leak")
    # with 300 more sites on Berlin's clock, the queries name 301 sites: long enough to go as a POST body
    zones = Zones("Asia/Shanghai", {"be": "Europe/Berlin"} | {f"quiet{i}": "Europe/Berlin" for i in range(300)})
    now = datetime.now(UTC)
    start_h, end_h = rule.night_hours
    meters = {("sh", "sh-leak"): 0.05, ("sh", "sh-ok"): 0.0, ("be", "be-leak"): 0.05, ("be", "be-ok"): 0.0}
    lines = []
    for step in range(24 * 6):
        at = now - timedelta(minutes=10 * step)
        for (site, device), night_flow in meters.items():
            at_night = start_h <= at.astimezone(zones.of(site)).hour < end_h
            flow = night_flow if at_night else 0.3
            lines.append(f"meter,site={site},building=b,device={device},medium=water,unit=1 flow={flow} "
                         f"{int(at.timestamp() * 1000)}")
    influx.ensure_database()
    influx.write_lines(lines)
    verdicts = {f.device_id: f.fault for f in night_flow_leak(influx, rule, now, zones)}
    assert verdicts == {"sh-leak": True, "sh-ok": False, "be-leak": True, "be-ok": False}
