"""The fire-pump kind, added as one module and one rules file, end to end on the real servers: its telemetry lands
in InfluxDB, its events and thresholds open work orders with their priorities, and the building is told."""

import time

import pytest
from sqlalchemy import select

from devices.kinds import Kind
from notices.models import Notice
from simulator.fleet import Fleet
from tests.conftest import wait_for
from workorders.models import WorkOrder

pytestmark = pytest.mark.integration


def now_ms() -> int:
    return int(time.time() * 1000)


def test_fire_pump_faults_become_work_orders_and_its_readings_are_stored(alert_service, publisher, unique, influx):
    runtime = alert_service()
    fleet = Fleet(buildings=1, elevators=0, doors=0, meters=0, per_building={"fire_pump": 1}, seed=21,
                  prefix=unique)
    [pump] = fleet.devices
    assert pump.kind is Kind.FIRE_PUMP and pump.device_id == "s1b1-fp1"
    publisher.publish(fleet.round(now_ms()))
    publisher.publish(fleet.inject("start_failure", pump.device_id, now_ms=now_ms()))
    fleet.inject("pressure_low", pump.device_id, now_ms=now_ms())  # shows in the next reading
    publisher.publish(fleet.round(now_ms()))

    def orders() -> dict[str, WorkOrder]:
        with runtime.sessions() as session:
            return {o.rule_id: o for o in session.scalars(select(WorkOrder))}

    assert wait_for(lambda: {"fire_pump_start_failure", "fire_pump_pressure_low"} <= set(orders())), orders()
    got = orders()
    failure, pressure = got["fire_pump_start_failure"], got["fire_pump_pressure_low"]
    assert (failure.priority, failure.skill, failure.kind, failure.life_safety) == (
        "life_safety", "fire_protection", "fire_pump", True)
    assert pressure.priority == "outage"
    with runtime.sessions() as session:
        texts = [n.text for n in session.scalars(select(Notice).where(Notice.work_order_id == failure.id))]
    assert texts and texts[0].startswith("Fire pump s1b1-fp1, Building b1: fire pump failed to start")
    assert wait_for(lambda: influx.count("fire_pump", "outlet_pressure_mpa") == 2)
    [[_, low]] = influx.query('SELECT min("outlet_pressure_mpa") FROM "fire_pump"')[0]["values"]
    assert low == pytest.approx(0.12)
