"""A power cut through the real broker: 2,100 meters of two buildings go offline at once (their last wills). That
is one incident per building (one order, one notice, one page each), a trapped passenger at the same time still gets
its own order at once, and the incidents resolve when the devices are back."""

import time

import pytest
from sqlalchemy import func, select

from notices.models import Notice
from notifications.models import Notification
from simulator.fleet import Fleet
from tests.conftest import engine_settled, wait_for
from workorders.models import WorkOrder

pytestmark = pytest.mark.integration


def now_ms() -> int:
    return int(time.time() * 1000)


def rows(runtime, model, *where) -> list:
    with runtime.sessions() as session:
        return list(session.scalars(select(model).where(*where).order_by(model.id)))


def count(runtime, model) -> int:
    with runtime.sessions() as session:
        return session.scalar(select(func.count()).select_from(model))


def test_a_power_cut_is_one_incident_per_building_and_life_safety_still_comes_first(alert_service, publisher,
                                                                                    unique):
    runtime = alert_service()
    fleet = Fleet(buildings=2, elevators=1, doors=0, meters=1050, seed=41, prefix=unique)
    publisher.publish(fleet.heartbeats(now_ms()))
    assert engine_settled(runtime, processed=len(fleet.devices), ticks=0, timeout=60)
    meters = [d for d in fleet.devices if d.kind.value == "meter"]
    for meter in meters:
        publisher.publish(fleet.inject("offline", meter.device_id, now_ms=now_ms()))
    publisher.publish(fleet.inject("passengers_trapped", "s1b1-el1", now_ms=now_ms()))

    def orders() -> list[WorkOrder]:
        return rows(runtime, WorkOrder)

    assert wait_for(lambda: {o.rule_id for o in orders()} == {"elevator_trapped", "storm_building"} and
                    len(orders()) == 3 and sum(o.occurrences for o in orders() if o.kind == "incident") == 2100, 90), \
        [(o.rule_id, o.device_id, o.occurrences) for o in orders()]
    assert engine_settled(runtime, processed=len(fleet.devices) + 2101, timeout=60)  # every loss judged
    incidents = [o for o in orders() if o.rule_id == "storm_building"]
    assert sorted(o.building for o in incidents) == ["b1", "b2"]
    assert {(o.priority, o.skill, o.title) for o in incidents} == {("outage", "electrical", "power or network loss")}
    assert len(orders()) == 3  # 2,100 devices lost: 2 incidents, not 2,100 orders
    with runtime.sessions() as session:
        grouped = session.execute(select(Notification.work_order_id, func.count()).group_by(
            Notification.work_order_id)).all()
    per_order = {order: n for order, n in grouped}
    assert all(per_order[o.id] <= 5 for o in incidents), per_order  # a page, the office, the feed, the notice
    texts = [n.text for n in rows(runtime, Notice)]
    assert sum("power or network loss" in t for t in texts) == 2

    for meter in meters:  # power is back
        publisher.publish(fleet.clear("offline", meter.device_id, now_ms=now_ms()))
    assert wait_for(lambda: all(o.status == "resolved" for o in rows(runtime, WorkOrder,
                                                                        WorkOrder.rule_id == "storm_building")), 90)
    assert sum("fixed at" in n.text for n in rows(runtime, Notice)) == 2
