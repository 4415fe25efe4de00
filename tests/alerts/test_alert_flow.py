"""End to end on real servers: simulator -> Mosquitto -> gateway -> alert engine -> work order in PostgreSQL ->
notifications (local webhook receiver, local SMTP server, MQTT) -> owner notices -> clear -> resolve -> follow-up."""

import time

import pytest
from sqlalchemy import func, select

from notifications.models import Notification
from simulator.fleet import Fleet
from tests.alert_fixtures import OPERATOR, TopicWatcher, add_people, api, login
from tests.conftest import engine_settled, wait_for
from workorders.models import WorkOrder

pytestmark = pytest.mark.integration
STAFF = {"Authorization": f"Bearer {OPERATOR}"}


def now_ms() -> int:
    return int(time.time() * 1000)


def orders(runtime, **where) -> list[WorkOrder]:
    with runtime.sessions() as session:
        query = select(WorkOrder).order_by(WorkOrder.id)
        for key, value in where.items():
            query = query.where(getattr(WorkOrder, key) == value)
        return list(session.scalars(query))


def one_order(runtime, rule_id: str, timeout: float = 20) -> WorkOrder:
    assert wait_for(lambda: orders(runtime, rule_id=rule_id), timeout), (rule_id, runtime.stats())
    found = orders(runtime, rule_id=rule_id)
    assert len(found) == 1, found
    return found[0]


def test_trapped_passengers_life_safety_loop(alert_service, publisher, unique, webhook, smtp, stack):
    box, _ = smtp
    runtime = alert_service()
    add_people(runtime)
    client = api(runtime)
    watcher = TopicWatcher(stack.ports.mqtt, "community-notices/#")
    fleet = Fleet(seed=1, prefix=unique)
    elevator = fleet.device("s1b1-el1")
    publisher.publish([fleet.telemetry(elevator, now_ms())])
    publisher.publish(fleet.inject("passengers_trapped", "s1b1-el1", now_ms=now_ms()))

    order = one_order(runtime, "elevator_trapped")
    on_duty = runtime.orders.router.on_duty("site1", "elevator", 0, order.created_at)
    assert (order.priority, order.status, order.assignee, order.life_safety) == \
        ("life_safety", "open", on_duty.id, True)
    assert order.matrix_cell == "urgent-basic-collective"  # a shared facility's emergency
    assert (order.ack_due_at - order.created_at).total_seconds() == 300  # life safety: stricter than its cell
    assert (order.ack_due_at - order.created_at).total_seconds() == 300

    # notifications: the technician through the first channel of their chain that works (no robot or SMS here:
    # their webhook; e-mail is the fallback and stays unsent), and the office webhook
    assert wait_for(lambda: {b["path"] for b in webhook.bodies} >= {f"/people/{on_duty.id}", "/office"})
    hook = next(b for b in webhook.bodies if b["path"] == f"/people/{on_duty.id}")
    assert "passengers trapped" in hook["subject"] and f"#{order.id}" in hook["subject"]
    with runtime.sessions() as session:
        mine = session.scalars(select(Notification).where(Notification.person_id == on_duty.id)).all()
    assert [(n.channel, n.chain) for n in mine] == [("webhook", [["email", f"{on_duty.id}@community.test"]])]
    assert not any(m["To"] == f"{on_duty.id}@community.test" for m in box.messages)

    # owner notice: building b1 sees it, building b2 does not; also published on MQTT
    b1 = login(client, "owner_b1", "owner-password")
    b2 = login(client, "owner_b2", "owner-password")
    notices = client.get("/notices", headers=b1).json()
    assert len(notices) == 1 and "Elevator s1b1-el1, Building b1: passengers trapped" in notices[0]["text"]
    assert client.get("/notices", headers=b2).json() == []
    assert wait_for(lambda: any(t == "community-notices/site1/b1" for t, _ in watcher.messages))

    # the fault clears: a life-safety order waits for a technician
    publisher.publish(fleet.clear("passengers_trapped", "s1b1-el1", now_ms=now_ms()))
    assert wait_for(lambda: orders(runtime, id=order.id)[0].fault_cleared_at is not None)
    assert orders(runtime, id=order.id)[0].status == "open"

    tech = login(client, "wang", "tech-password")
    assert client.post(f"/work-orders/{order.id}/close", headers=tech).status_code == 403  # staff only
    for action in ("acknowledge", "start", "resolve"):
        response = client.post(f"/work-orders/{order.id}/{action}", headers=tech, json={"note": f"{action} done"})
        assert response.status_code == 200, response.text
    assert client.post(f"/work-orders/{order.id}/acknowledge", headers=tech).status_code == 409
    staff = login(client, "staff1", "staff-password")
    closed = client.post(f"/work-orders/{order.id}/follow-up", headers=staff, json={"rating": 5, "comment": "fast"})
    assert closed.status_code == 200 and closed.json()["status"] == "closed" and closed.json()["rating"] == 5

    detail = client.get(f"/work-orders/{order.id}", headers=staff).json()
    # the rota alternates wang and li every period: when li was on duty, wang's acknowledging assigns it to him
    handed = ["assigned"] if on_duty.id != "wang.tech" else []
    assert [e["action"] for e in detail["events"]] == [
        "created", "assigned", "fault_cleared", "acknowledge", *handed, "start", "resolve", "follow_up", "close"]
    assert [e["actor"] for e in detail["events"] if e["action"] in ("acknowledge", "start", "resolve")] == \
        ["wang", "wang", "wang"]
    texts = [n["text"] for n in client.get("/notices", headers=b1).json()]
    assert any("fixed at" in t for t in texts)  # the follow-up notice to the building
    watcher.close()


def test_unit_leak_gets_a_private_notice_and_resolves_itself_when_cleared(alert_service, publisher, unique):
    runtime = alert_service()
    add_people(runtime)
    client = api(runtime)
    fleet = Fleet(seed=2, prefix=unique)
    meter = next(d for d in fleet.devices if d.medium == "water" and d.building == "b1")
    publisher.publish([fleet.telemetry(meter, now_ms())])  # the engine learns medium and unit
    assert engine_settled(runtime, processed=1, ticks=0)
    publisher.publish(fleet.inject("continuous_flow", meter.device_id, now_ms=now_ms()))
    order = one_order(runtime, "water_leak_reported")
    assert (order.priority, order.skill, order.unit) == ("degradation", "plumbing", meter.unit)

    mine = login(client, "owner_b1_0101", "owner-password")
    neighbour = login(client, "owner_b1", "owner-password")  # same building, unit 0201
    assert [n["unit"] for n in client.get("/notices", headers=mine).json()] == ["0101"]
    assert client.get("/notices", headers=neighbour).json() == []

    publisher.publish(fleet.clear("continuous_flow", meter.device_id, now_ms=now_ms()))
    assert wait_for(lambda: orders(runtime, id=order.id)[0].status == "resolved")
    resolved = orders(runtime, id=order.id)[0]
    assert resolved.resolution_note == "fault cleared" and resolved.open_key is None
    assert [n["phase"] for n in client.get("/notices", headers=mine).json()] == ["fixed", "fault"]


def test_every_injected_event_fault_opens_exactly_one_order_with_its_rule(alert_service, publisher, unique):
    runtime = alert_service()
    fleet = Fleet(buildings=1, elevators=1, doors=1, meters=4, seed=3, prefix=unique)
    publisher.publish([fleet.telemetry(d, now_ms()) for d in fleet.devices])
    assert engine_settled(runtime, processed=len(fleet.devices), ticks=0)
    sent = len(fleet.devices)
    config = runtime.alert_config
    expected = set()
    for device in fleet.devices:
        for rule in config.rules:
            if rule.type != "event" or rule.kind is not device.kind:
                continue
            if rule.media and device.medium not in rule.media:
                continue
            for event in rule.events:
                messages = fleet.inject(event, device.device_id, now_ms=now_ms())
                publisher.publish(messages)
                sent += len(messages)
                expected.add((rule.id, device.device_id))
    assert wait_for(lambda: len(orders(runtime)) >= len(expected), 30), (
        len(orders(runtime)), len(expected), sorted(expected - {(o.rule_id, o.device_id) for o in orders(runtime)}))
    assert engine_settled(runtime, processed=sent, ticks=0)  # every event judged: no order still to come
    got = [(o.rule_id, o.device_id) for o in orders(runtime)]
    assert sorted(got) == sorted(expected)  # one order per (rule, device), however many events matched
    assert len(expected) >= 30
    by_rule = {o.rule_id: o for o in orders(runtime)}
    for rule_id, order in by_rule.items():
        assert order.priority == config.rule(rule_id).priority.value
        assert order.assignee is not None, rule_id


def test_redelivery_and_restart_never_make_a_second_order(alert_service, publisher, unique):
    runtime = alert_service()
    fleet = Fleet(seed=4, prefix=unique)
    [message] = fleet.inject("door_forced_open", "s1b1-door1", now_ms=now_ms())
    publisher.publish([message, message])  # the same message twice, as a QoS 1 redelivery would
    order = one_order(runtime, "access_door_forced")
    assert engine_settled(runtime, processed=2, ticks=0)  # the copy was judged too
    assert orders(runtime, id=order.id)[0].occurrences == 1

    runtime.stop()
    restarted = alert_service()
    publisher.publish([message])  # redelivered after the restart
    assert engine_settled(restarted, processed=1, ticks=0)
    assert len(orders(restarted)) == 1 and orders(restarted)[0].occurrences == 1
    publisher.publish(fleet.inject("door_forced_open", "s1b1-door1", now_ms=now_ms()))  # a real repeat
    assert wait_for(lambda: orders(restarted)[0].occurrences == 2)
    assert len(orders(restarted)) == 1


def test_ticket_transitions_are_written_to_influxdb(alert_service, publisher, unique, influx):
    runtime = alert_service()
    fleet = Fleet(seed=5, prefix=unique)
    publisher.publish(fleet.inject("door_forced_open", "s1b1-door1", now_ms=now_ms()))
    order = one_order(runtime, "access_door_forced")
    runtime.orders.transition(order.id, "acknowledge", "tester")
    assert wait_for(lambda: influx.count("work_order", "order_id") == 2, 10)
    rows = influx.query('SELECT "action", "within_sla", "priority" FROM "work_order" WHERE "action" = \'acknowledge\'')
    assert rows[0]["values"][0][1:] == ["acknowledge", True, "outage"]


def test_notification_to_a_failing_webhook_is_retried_until_sent(alert_service, publisher, unique, webhook):
    webhook.fail_next = 2  # the first two posts get HTTP 503
    runtime = alert_service()
    fleet = Fleet(seed=6, prefix=unique)
    publisher.publish(fleet.inject("door_forced_open", "s1b1-door1", now_ms=now_ms()))
    one_order(runtime, "access_door_forced")
    assert wait_for(lambda: len(webhook.bodies) >= 2, 20)  # person + office, after retries

    def hooks() -> list[Notification]:
        with runtime.sessions() as session:
            return list(session.scalars(select(Notification).where(Notification.channel == "webhook")))

    # the receiver records a body before it answers; the dispatcher marks the row sent after the answer
    assert wait_for(lambda: {n.status for n in hooks()} == {"sent"}, 20), [(n.status, n.attempts) for n in hooks()]
    assert sum(n.attempts for n in hooks()) == 4
    with runtime.sessions() as session:
        assert wait_for(lambda: session.scalar(select(func.count()).select_from(Notification)
                                               .where(Notification.status == "pending")) == 0, 20)


def test_a_clear_after_a_fault_from_a_clock_running_ahead_still_resolves_the_order(alert_service, publisher, unique):
    """The fault says 280 s in the future (within the contract's 300 s); the clear, sent after it with a correct
    clock, has an earlier ts. Arrival order wins over the fast clock, so the order is resolved, not stuck open."""
    runtime = alert_service()
    fleet = Fleet(seed=6, prefix=unique)
    [fault] = fleet.inject("door_forced_open", "s1b1-door1", now_ms=now_ms() + 280_000)
    publisher.publish([fault])
    order = one_order(runtime, "access_door_forced")
    door = fleet.device("s1b1-door1")
    door.last_ts = 0  # the device's clock was corrected: its next stamp is the true time
    [clear] = fleet.clear("door_forced_open", "s1b1-door1", now_ms=now_ms())
    assert clear[1]["ts"] < fault[1]["ts"]
    publisher.publish([clear])
    assert wait_for(lambda: orders(runtime, id=order.id)[0].status == "resolved")
