"""The service split over processes (``--role ingest`` + ``--role alerts``) on the real broker and databases: each
reading stored exactly once, each fault judged exactly once, and the alerts process's own persistent session keeps
faults that arrive while it is down."""

import time

import pytest
from sqlalchemy import select

from simulator.fleet import Fleet
from tests.conftest import engine_settled, wait_for
from workorders.models import WorkOrder

pytestmark = pytest.mark.integration


def now_ms() -> int:
    return int(time.time() * 1000)


def rule_ids(runtime) -> list[str]:
    with runtime.sessions() as session:
        return list(session.scalars(select(WorkOrder.rule_id).order_by(WorkOrder.id)))


def stored(influx) -> int:
    return sum(influx.count(m) for m in ("elevator", "access", "meter", "device_event"))


def test_ingest_and_alerts_roles_split_the_work_without_doing_it_twice(alert_service, publisher, unique, influx):
    ingest = alert_service(role="ingest")
    judge = alert_service(role="alerts")
    assert judge.listener.config.client_id == f"gw-{unique}-alerts"  # its own session, next to the ingest one
    fleet = Fleet(seed=2, prefix=unique)
    readings = [fleet.next_telemetry(now_ms()) for _ in range(300)]
    publisher.publish(readings)
    publisher.publish(fleet.inject("door_forced_open", "s1b1-door1", now_ms=now_ms()))

    assert wait_for(lambda: stored(influx) >= 301, 30), ingest.stats()
    assert wait_for(lambda: rule_ids(judge) == ["access_door_forced"], 20), judge.stats()
    assert engine_settled(judge, processed=301, ticks=0)  # the alerts process has seen everything
    assert stored(influx) == 301  # written by the ingest process only
    assert rule_ids(judge) == ["access_door_forced"]  # judged by the alerts process only
    assert ingest.alert_engine.processed == 0 and judge.alert_engine.processed == 301


def test_faults_sent_while_the_alerts_process_is_down_are_judged_when_it_returns(alert_service, publisher, unique,
                                                                               influx):
    alert_service(role="ingest")
    judge = alert_service(role="alerts")
    judge.stop()
    fleet = Fleet(seed=3, prefix=unique)
    door = "s1b1-door2"
    publisher.publish(fleet.inject("door_forced_open", door, now_ms=now_ms()))
    assert wait_for(lambda: influx.count("device_event") == 1, 20)  # stored meanwhile by the ingest process

    again = alert_service(role="alerts")  # same client id: the broker kept the event for this session
    assert wait_for(lambda: rule_ids(again) == ["access_door_forced"], 20), again.stats()
