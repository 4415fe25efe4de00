"""Alert engines partitioned by site (core/partition.py) on the real broker and PostgreSQL: each engine subscribes
to and judges its own sites only; a site moved between engines while its faults are in flight loses none of them
and opens no order twice; dispatchers sharing the outbox send each message once."""

import threading
import time
import zlib

import pytest
from sqlalchemy import select

from core.partition import Partition, slot
from core.settings import Settings
from notifications.channels import WebhookChannel
from notifications.dispatcher import Dispatcher
from notifications.models import Notification
from notifications.service import enqueue
from simulator.fleet import Fleet
from tests.conftest import engine_settled, wait_for
from workorders.models import WorkOrder


def test_a_hash_slot_is_the_crc32_of_the_site_id_the_same_in_every_process():
    assert slot("site1", 2) == zlib.crc32(b"site1") % 2
    halves = [Partition.parse(None, f"{k}/2") for k in range(2)]
    sites = [f"site{i}" for i in range(1, 101)]
    owners = [[p for p in halves if p.owns(s)] for s in sites]
    assert all(len(o) == 1 for o in owners)  # every site has exactly one engine
    assert 30 < sum(1 for o in owners if o[0] is halves[0]) < 70  # and the slots share them out
    assert halves[1].subscribed(sites) == tuple(sorted(s for s in sites if slot(s, 2) == 1))


def test_a_site_list_owns_only_its_sites_and_no_partition_owns_everything():
    listed = Partition.parse(" site1, site3 ,", None)
    assert listed.owns("site1") and listed.owns("site3") and not listed.owns("site2")
    assert listed.subscribed(["site9"]) == ("site1", "site3")  # the list, whatever the register holds
    assert Partition.parse(None, None).whole and Partition.parse(None, None).subscribed(["x"]) is None


@pytest.mark.parametrize(("values", "reason"), [
    ({"role": "all", "alert_sites": "site1"}, "are for the alerts role, not 'all'"),
    ({"role": "alerts", "alert_sites": "site1", "alert_partition": "0/2"}, "either alert sites or alert partition"),
    ({"role": "alerts", "alert_partition": "2/2"}, "0 <= k < N"),
    ({"role": "alerts", "alert_partition": "half"}, "pattern"),
    ({"role": "alerts", "alert_sites": " , "}, "name at least one site"),
])
def test_partition_settings_that_make_no_sense_are_refused_naming_why(values, reason):
    with pytest.raises(ValueError, match=reason):
        Settings(_env_file=None, **values)


def orders(runtime) -> list[tuple[str, str, int]]:  # noqa: ANN001
    with runtime.sessions() as session:
        return [tuple(row) for row in session.execute(
            select(WorkOrder.site, WorkOrder.device_id, WorkOrder.occurrences).order_by(WorkOrder.id))]


def engine(alert_service, unique, name, **partition):  # noqa: ANN001, ANN201
    """An alerts process of its own (own sessions on the broker) sharing the test's database."""
    return alert_service(role="alerts", mqtt_client_id=f"gw-{unique}-{name}", **partition)


@pytest.mark.integration
def test_two_engines_each_subscribe_to_and_judge_only_their_own_sites(alert_service, publisher, unique):
    first = engine(alert_service, unique, "p1", alert_sites="site1")
    second = engine(alert_service, unique, "p2", alert_sites="site2")
    assert first.listener.filters == [f"{unique}/site1/+/+/+/+"]
    assert first.urgent_listener.filters == [f"{unique}/site1/+/+/+/event", f"{unique}/site1/+/+/+/status"]
    fleet = Fleet(sites=2, buildings=1, doors=2, elevators=0, meters=0, seed=4, prefix=unique)
    now = int(time.time() * 1000)
    publisher.publish([fleet.next_telemetry(now) for _ in range(20)])
    publisher.publish(fleet.inject("door_forced_open", "s1b1-door1", now_ms=now + 1))
    publisher.publish(fleet.inject("door_forced_open", "s2b1-door2", now_ms=now + 2))

    assert wait_for(lambda: len(orders(first)) == 2, 20), orders(first)
    assert sorted(orders(first)) == [("site1", "s1b1-door1", 1), ("site2", "s2b1-door2", 1)]
    assert wait_for(lambda: first.alert_engine.processed == 11 and second.alert_engine.processed == 11, 20), (
        first.alert_engine.processed, second.alert_engine.processed)  # 10 readings + 1 fault each, nothing else
    assert first.alert_engine.evaluator.device("s2b1-door1") is None  # no memory of the other engine's devices


@pytest.mark.integration
def test_moving_a_site_while_its_faults_are_in_flight_loses_none_and_opens_no_order_twice(alert_service, publisher,
                                                                                         unique):
    """The procedure of docs/operations.md: the new owner starts with the site first, then the old owner stops
    owning it. Faults keep coming on the moving site all along: on each elevator, passengers trapped, cleared and
    trapped again (life safety: one order that waits for a technician, two occurrences)."""
    old = engine(alert_service, unique, "p1", alert_sites="site1,site2")
    new = engine(alert_service, unique, "p2", alert_sites="site3")
    fleet = Fleet(sites=3, buildings=2, elevators=150, doors=0, meters=0, seed=9, prefix=unique)
    lifts = [d.device_id for d in fleet.devices if d.device_id.startswith("s2")]
    sent: list[str] = []
    enough = threading.Event()

    def faults() -> None:  # one lift every 30 ms until the move is over (300 lifts: 9 s at most)
        for lift in lifts:
            if enough.is_set():
                return
            at = int(time.time() * 1000)
            publisher.publish(fleet.inject("passengers_trapped", lift, now_ms=at)
                              + fleet.clear("passengers_trapped", lift, now_ms=at + 1)
                              + fleet.inject("passengers_trapped", lift, now_ms=at + 2))
            sent.append(lift)
            time.sleep(0.03)

    stream = threading.Thread(target=faults)
    stream.start()
    assert wait_for(lambda: len(sent) >= 10, 20)
    new.stop()  # step 1: the new owner takes the site as well (both own it for a moment)
    new = engine(alert_service, unique, "p2", alert_sites="site2,site3")
    during = len(sent)
    assert wait_for(lambda: len(sent) >= during + 5, 20)
    old.stop()  # step 2: the old owner lets it go
    overlap = new.alert_engine.processed
    old = engine(alert_service, unique, "p1", alert_sites="site1")
    after = len(sent)
    assert wait_for(lambda: len(sent) >= after + 5, 20)
    enough.set()
    stream.join(30)
    publisher.publish(fleet.inject("passengers_trapped", "s1b1-el1", now_ms=int(time.time() * 1000)))

    moved = sent[:]
    assert len(moved) < len(lifts) and overlap > 0  # the stream outlasted the move; both judged site2 for a while

    def site2() -> list[tuple[str, int]]:
        return [(device, occurrences) for site, device, occurrences in orders(new) if site == "site2"]

    assert wait_for(lambda: sum(o for _, o in site2()) >= 2 * len(moved) and len(orders(new)) == len(moved) + 1, 30)
    assert engine_settled(new) and engine_settled(old)  # nothing more to come: the counts below are final
    site2 = site2()
    assert sorted(device for device, _ in site2) == sorted(moved)  # every fault in flight, one order each
    assert [o for o in site2 if o[1] != 2] == []  # judged twice while both owned it: applied once
    assert ("site1", "s1b1-el1", 1) in orders(new)  # the old owner still judges what it kept
    assert old.alert_engine.evaluator.device(moved[-1]) is None  # what its session still held of site2: skipped


@pytest.mark.integration
@pytest.mark.parametrize("client", ["codec", "paho"])
def test_a_hash_partition_subscribes_to_a_site_added_to_the_register_while_it_runs(alert_service, publisher,
                                                                                  unique, client):
    from register.models import Site

    mine = next(f"site{i}" for i in range(1, 50) if slot(f"site{i}", 2) == 0)
    judge = engine(alert_service, unique, "h0", alert_partition="0/2", alert_register_read_s=0.2,
                   mqtt_client=client)
    assert judge.listener.filters == [] and judge.wait_connected(5)  # no site of its slot in the register yet
    with judge.sessions.begin() as session:
        session.add(Site(site_id=mine, name=mine))
    assert wait_for(lambda: judge.listener.filters == [f"{unique}/{mine}/+/+/+/+"], 10)
    assert wait_for(lambda: judge.urgent_listener.transport.filters == judge.urgent_listener.filters, 10)
    fleet = Fleet(sites=1, buildings=1, doors=1, elevators=0, meters=0, seed=3, prefix=unique)
    door = fleet.devices[0]
    message = fleet.inject("door_forced_open", door.device_id, now_ms=int(time.time() * 1000))
    assert wait_for(lambda: (publisher.publish([(t.replace("/site1/", f"/{mine}/"), p, r) for t, p, r in message])
                             or orders(judge)), 10, interval=1.0)  # published until the new subscription is in place
    assert orders(judge)[0][:2] == (mine, door.device_id)


@pytest.mark.integration
def test_dispatchers_of_two_engines_sharing_the_outbox_send_each_message_once(alert_service, webhook):
    runtime = alert_service(role="alerts")
    runtime.dispatcher.stop()  # only the two under test send
    now = runtime.clock()
    with runtime.sessions.begin() as session:
        for i in range(60):
            enqueue(session, "webhook", f"{webhook.url}/n{i}", f"message {i}", {"i": i}, now)
    dispatchers = [Dispatcher(runtime.sessions, [WebhookChannel(5.0)], clock=runtime.clock) for _ in range(2)]
    rounds = [threading.Thread(target=lambda d=d: [d.send_due(limit=7) for _ in range(12)]) for d in dispatchers]
    for thread in rounds:
        thread.start()
    for thread in rounds:
        thread.join(60)
    paths = [body["path"] for body in webhook.bodies]
    assert sorted(paths) == sorted(f"/n{i}" for i in range(60))  # each once
    assert all(d.stats.sent > 0 for d in dispatchers)  # and both took part
    with runtime.sessions() as session:
        assert set(session.scalars(select(Notification.status))) == {"sent"}


@pytest.mark.integration
def test_one_signal_judged_by_two_engines_at_the_same_instant_is_applied_once(alert_service, unique):
    """The moment of a handover, forced: two engines apply the same fire, clear and fire at the same instant (a
    barrier), on 20 elevators. The alert row's lock makes the second find each signal applied already."""
    from alerts.evaluator import DeviceRef, Signal
    from devices.kinds import Kind

    runtime = alert_service(role="alerts")
    rule = runtime.alert_config.rule("elevator_trapped")
    start = int(time.time() * 1000)
    barrier = threading.Barrier(2)

    def judge() -> None:
        for n in range(20):
            ref = DeviceRef(f"{unique}-el{n}", "site2", "b1", Kind.ELEVATOR)
            for step, fire in enumerate((True, False, True)):
                barrier.wait(10)
                runtime.alerts.handle(Signal(rule, ref, fire, start + step))

    engines = [threading.Thread(target=judge) for _ in range(2)]
    for thread in engines:
        thread.start()
    for thread in engines:
        thread.join(60)
    assert sorted(o[2] for o in orders(runtime)) == [2] * 20  # one order per elevator, two occurrences each


def test_community_run_checks_partition_settings_with_the_role_it_is_given(monkeypatch):
    from community.cli import _settings

    monkeypatch.setenv("COMMUNITY_ALERT_PARTITION", "1/2")
    assert _settings(role="alerts").alert.partition == "1/2"  # `community run --role alerts`
    with pytest.raises(SystemExit, match="for the alerts role, not 'all'"):
        _settings()
