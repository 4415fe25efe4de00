"""MQTT lanes on the real broker: events and status on the urgent lane, the rest on the bulk lane, each message
handled once, and a fault overtaking a telemetry backlog (docs/architecture.md, "Process roles and MQTT lanes")."""

import json
import time

import pytest
from sqlalchemy import select

from simulator.fleet import Fleet
from tests.conftest import engine_settled, wait_for
from workorders.models import WorkOrder

pytestmark = pytest.mark.integration


def now_ms() -> int:
    return int(time.time() * 1000)


def test_each_message_is_handled_by_exactly_one_lane(service, publisher, unique, influx):
    runtime = service()
    assert runtime.urgent_listener is not None
    assert runtime.urgent_listener.config.client_id == f"gw-{unique}-urgent"
    fleet = Fleet(seed=4, prefix=unique)
    publisher.publish([fleet.next_telemetry(now_ms()) for _ in range(50)])
    heartbeats = fleet.heartbeats(now_ms())
    publisher.publish(heartbeats)
    publisher.publish(fleet.inject("door_forced_open", "s1b1-door1", now_ms=now_ms()))
    bad = [f"{unique}/site1/b1/elevator/s1b1-el1/bogus", f"{unique}/site1/b1/elevator/s1b1-el1/event"]
    for topic in bad:  # a bad channel (bulk lane) and a bad event payload (urgent lane): one dead letter each
        publisher.publish_raw(topic, json.dumps({"ts": now_ms(), "seq": 1}).encode())
    beats = len(heartbeats)

    total = 50 + beats + 1
    def stored() -> int:
        return sum(influx.count(m) for m in ("elevator", "access", "meter", "device_status", "device_event"))

    assert wait_for(lambda: stored() >= total and runtime.counters.dead_lettered >= 2, 20)
    assert engine_settled(runtime, processed=total, ticks=0)
    assert stored() == total
    assert runtime.counters.dead_lettered == 2
    assert runtime.urgent_listener.counters.received == beats + 1 + 1  # events and status only
    assert runtime.counters.received == total + 2  # the bulk lane saw every message (and skipped the urgent)
    assert runtime.alert_engine.processed == total


def test_a_fault_overtakes_a_telemetry_backlog(service, publisher, unique):
    runtime = service()
    runtime.stop()  # the broker now queues for both sessions
    fleet = Fleet(seed=5, prefix=unique)
    backlog = 20_000
    publisher.publish([fleet.next_telemetry(now_ms()) for _ in range(backlog)])
    publisher.publish(fleet.inject("door_forced_open", "s1b1-door2", now_ms=now_ms()))
    assert publisher.flush(120)

    again = service()

    def opened() -> bool:
        with again.sessions() as session:
            return session.scalars(select(WorkOrder.rule_id)).first() == "access_door_forced"

    assert wait_for(opened, 60, interval=0.005)
    assert again.alert_engine.processed < backlog  # judged while most of the telemetry was still queued
    assert wait_for(lambda: again.alert_engine.processed == backlog + 1, 120)

