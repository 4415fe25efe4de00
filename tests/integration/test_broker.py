"""Broker-side behaviour: reconnect and resubscribe after a broker restart; shared subscriptions."""

import time

import pytest

from community.runtime import build
from devtools.localservices import Mosquitto, free_port
from simulator.fleet import Fleet
from simulator.publisher import Publisher
from tests.conftest import settings_for, wait_for

pytestmark = pytest.mark.integration


def send(port: int, fleet: Fleet, n: int, client_id: str) -> None:
    pub = Publisher("127.0.0.1", port, client_id=client_id)
    pub.connect()
    pub.publish([fleet.next_telemetry(int(time.time() * 1000)) for _ in range(n)])
    pub.close()


def test_listener_reconnects_and_resubscribes_after_a_broker_restart(stack, unique, tmp_path, influx):
    broker = Mosquitto(tmp_path / "broker", free_port())
    broker.start()
    runtime = build(settings_for(stack, unique, tmp_path / "data", mqtt_port=broker.port))
    runtime.start()
    try:
        assert runtime.wait_connected(10)
        fleet = Fleet(seed=21, prefix=unique)
        send(broker.port, fleet, 100, f"p1-{unique}")
        assert wait_for(lambda: runtime.counters.written >= 100)
        broker.stop()
        assert wait_for(lambda: not runtime.counters.mqtt_connected, 10)
        broker.start()
        assert wait_for(lambda: runtime.counters.mqtt_connects >= 2 and runtime.wait_connected(0), 40)
        send(broker.port, fleet, 100, f"p2-{unique}")
        # wait on InfluxDB itself: acks in flight when the broker stopped come back as redeliveries, which the
        # writer counts again but InfluxDB stores once (same series and timestamp)
        stored = lambda: sum(influx.count(k) for k in ("elevator", "access", "meter"))  # noqa: E731
        assert wait_for(lambda: stored() >= 200), (stored(), runtime.stats())
        time.sleep(0.3)
        assert stored() == 200
    finally:
        runtime.stop()
        broker.stop()


def test_instances_in_one_shared_group_split_the_stream_without_duplicates(stack, unique, tmp_path, publisher, influx):
    runtimes = [
        build(settings_for(stack, unique, tmp_path / f"data{i}", mqtt_client_id=f"gw{i}-{unique}",
                           mqtt_shared_group=f"g-{unique}"))
        for i in range(2)
    ]
    for runtime in runtimes:
        runtime.start()
    try:
        assert all(r.wait_connected(10) for r in runtimes)
        fleet = Fleet(seed=22, prefix=unique)
        publisher.publish([fleet.next_telemetry(int(time.time() * 1000)) for _ in range(400)])
        assert wait_for(lambda: sum(r.counters.written for r in runtimes) >= 400)
        time.sleep(0.3)
        assert sum(r.counters.received for r in runtimes) == 400
        assert all(r.counters.received > 0 for r in runtimes), [r.counters.received for r in runtimes]
        assert sum(influx.count(k) for k in ("elevator", "access", "meter")) == 400
    finally:
        for runtime in runtimes:
            runtime.stop()


def test_broker_restarted_while_a_device_keeps_publishing_loses_nothing(stack, unique, tmp_path, influx):
    """Mosquitto stopped (clean shutdown, its persistence saved) and restarted in the middle of a stream; the
    publisher's client re-sends what the broker had not acknowledged, the broker delivers what it had queued."""
    broker = Mosquitto(tmp_path / "broker", free_port())
    broker.start()
    runtime = build(settings_for(stack, unique, tmp_path / "data", mqtt_port=broker.port))
    runtime.start()
    publisher = Publisher("127.0.0.1", broker.port, client_id=f"stream-{unique}")
    try:
        assert runtime.wait_connected(10)
        publisher.connect()
        fleet = Fleet(seed=23, prefix=unique)
        for i in range(1000):
            publisher.publish([fleet.next_telemetry(int(time.time() * 1000))])
            if i == 400:
                broker.stop()
                time.sleep(1)
                broker.start()
            time.sleep(0.002)
        assert publisher.flush(60), "the publisher never got all its acknowledgements"
        stored = lambda: sum(influx.count(k) for k in ("elevator", "access", "meter"))  # noqa: E731
        assert wait_for(lambda: stored() >= 1000, 60), (stored(), runtime.stats())
        time.sleep(0.3)
        assert stored() == 1000
    finally:
        publisher.close()
        runtime.stop()
        broker.stop()


def test_retained_junk_is_dead_lettered_once_not_at_every_restart(service, publisher, unique, tmp_path):
    topic = f"{unique}/site1/b1/elevator/el-junk/status"
    publisher.publish_raw(topic, b"{retained junk", retain=True)
    assert publisher.flush(10)
    first = service()
    assert wait_for(lambda: first.counters.dead_lettered == 1)
    assert wait_for(lambda: first.dead_letters.count() == 1)
    first.stop()
    again = service()  # the broker replays the retained message to the new subscription
    assert wait_for(lambda: again.counters.received >= 1)
    assert wait_for(lambda: again.writer.queued == 0 and again.counters.dead_lettered == 1)
    assert again.dead_letters.count() == 1
    publisher.publish_raw(topic, b"", retain=True)  # clear the retained message
