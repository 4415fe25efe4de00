"""End to end on real servers: simulator -> Mosquitto -> gateway -> InfluxDB (and the dead letter)."""

import json
import time
from contextlib import contextmanager

import pytest

from devtools.localservices import InfluxDB, free_port
from simulator.fleet import Fleet
from simulator.publisher import Publisher
from tests.conftest import settings_for, wait_for

pytestmark = pytest.mark.integration


def now_ms() -> int:
    return int(time.time() * 1000)


def publish_telemetry(fleet: Fleet, publisher: Publisher, n: int) -> list[tuple[str, dict, bool]]:
    messages = [fleet.next_telemetry(now_ms()) for _ in range(n)]
    publisher.publish(messages)
    assert publisher.flush(30)
    return messages


def written(runtime, expected: int, timeout: float = 30) -> bool:
    return wait_for(lambda: runtime.counters.written >= expected, timeout)


def test_simulated_fleet_lands_in_influxdb_with_exact_counts_and_values(service, publisher, influx, unique):
    runtime = service()
    fleet = Fleet(sites=2, buildings=2, elevators=2, doors=2, meters=4, seed=42, prefix=unique)
    messages = publish_telemetry(fleet, publisher, 1200)
    beats = fleet.heartbeats(now_ms())
    publisher.publish(beats)
    assert written(runtime, 1200 + len(beats)), runtime.stats()

    per_kind = {"elevator": 0, "access": 0, "meter": 0}
    for topic, _, _ in messages:
        per_kind[topic.split("/")[3]] += 1
    for kind, expected in per_kind.items():
        assert influx.count(kind) == expected
    assert influx.count("device_status") == len(beats)

    # every value of one meter round-trips exactly
    meter = next(d for d in fleet.devices if d.medium == "water")
    sent = [p for t, p, _ in messages if f"/{meter.device_id}/" in t]
    rows = influx.query(f"SELECT reading, flow, seq, valve, medium, unit FROM meter WHERE device = '{meter.device_id}'")
    got = rows[0]["values"]
    assert [(r[0], r[1], r[2], r[3], r[4], r[5], r[6]) for r in got] == [
        (p["ts"], p["reading"], p["flow"], p["seq"], p["valve"], "water", meter.unit) for p in sent
    ]
    assert runtime.counters.dead_lettered == 0


BAD = [
    ("elevator/el-1/telemetry", b"{not json", "Invalid JSON"),
    ("elevator/el-1/telemetry", b'{"ts": 1, "seq": "one"}', "seq: Input should be a valid integer"),
    ("access/d-1/telemetry", None, "door: Field required"),
    ("escalator/e-1/telemetry", b"{}", "unknown device kind"),
    ("elevator/el-1/telemetry", b"{" + b" " * 20_000 + b"}", "exceeds the 16384-byte limit"),
    ("meter/m-1/telemetry", b"\xc3\x28 invalid", "not valid UTF-8"),
    ("meter/m-1/telemetry", "NAN", "finite number"),
    ("meter/m-1/telemetry", "PAST", "in the past"),
    ("meter/m-1/telemetry", "FUTURE", "in the future"),
    ("access/d-1/event", "EVENT", "not a known access event"),
]


def bad_payload(marker, now: int) -> bytes:
    meter = {"ts": now, "seq": 1, "medium": "water", "reading": 1.0, "flow": 0.0}
    if marker is None:
        return json.dumps({"ts": now, "seq": 1, "locked": True}).encode()
    if marker == "NAN":
        return json.dumps({**meter, "flow": float("nan")}).encode()
    if marker == "PAST":
        return json.dumps({**meter, "ts": 1}).encode()
    if marker == "FUTURE":
        return json.dumps({**meter, "ts": now + 10 * 86_400_000}).encode()
    if marker == "EVENT":
        return json.dumps({"ts": now, "seq": 1, "event": "self_destruct"}).encode()
    return marker


def test_bad_payloads_are_dead_lettered_with_reasons_while_good_traffic_flows(service, publisher, influx, unique):
    runtime = service()
    fleet = Fleet(seed=3, prefix=unique)
    good = 0
    for tail, marker, _ in BAD:
        publisher.publish_raw(f"{unique}/site1/b1/{tail}", bad_payload(marker, now_ms()))
        publish_telemetry(fleet, publisher, 20)
        good += 20
    assert wait_for(lambda: runtime.counters.written >= good and runtime.counters.dead_lettered >= len(BAD))
    assert sum(influx.count(k) for k in ("elevator", "access", "meter")) == good
    letters = runtime.dead_letters.latest(100)
    assert len(letters) == len(BAD)
    unmatched = list(letters)  # events come on their own lane: their letters may be stored before earlier ones
    for tail, _, expected in BAD:
        row = next((r for r in unmatched if r.topic == f"{unique}/site1/b1/{tail}" and expected in r.reason), None)
        assert row is not None, (tail, expected, [r.reason for r in unmatched])
        unmatched.remove(row)
    oversized = next(r for r in letters if "exceeds" in r.reason)
    assert oversized.payload_size > 20_000 and len(oversized.payload) == 4096  # stored bounded
    assert runtime.listener.is_connected()


@contextmanager
def with_own_influxdb(stack, unique, tmp_path, **influx_config):  # noqa: ANN001, ANN003, ANN201
    """The service on an InfluxDB of its own (``influx_config``: its settings), so stopping or limiting that
    InfluxDB disturbs no other test; yields (that InfluxDB, the running service, a client of its database)."""
    from community.runtime import build
    from ingest.influx import InfluxConfig, InfluxV1Client

    own = InfluxDB(tmp_path / "own", free_port(), free_port(), **influx_config)
    own.start()
    runtime = build(settings_for(stack, unique, tmp_path / "data", influx_url=own.url, influx_write_retries=1))
    runtime.start()
    client = InfluxV1Client(InfluxConfig(url=own.url, database=unique))
    try:
        assert runtime.wait_connected(10)
        yield own, runtime, client
    finally:
        runtime.stop()
        client.close()
        own.stop()


def test_influxdb_down_mid_stream_spools_and_replays_everything(stack, unique, tmp_path, publisher):
    with with_own_influxdb(stack, unique, tmp_path) as (own, runtime, client):
        fleet = Fleet(seed=5, prefix=unique)
        publish_telemetry(fleet, publisher, 300)
        assert written(runtime, 300)
        own.stop()
        publish_telemetry(fleet, publisher, 300)
        assert wait_for(lambda: runtime.counters.spooled >= 300), runtime.stats()
        assert runtime.spool.pending_points >= 300
        own.start()
        publish_telemetry(fleet, publisher, 300)
        assert wait_for(lambda: runtime.spool.pending_points == 0 and runtime.counters.written >= 900, 60), \
            runtime.stats()
        assert sum(client.count(k) for k in ("elevator", "access", "meter")) == 900
        assert runtime.counters.replayed >= 300


def test_influxdb_s_series_limit_spools_readings_instead_of_dead_lettering_them(stack, unique, tmp_path,
                                                                            publisher):
    """InfluxDB 1.x refuses the 100,001st device of a kind by default (``max-values-per-tag``); here its own
    InfluxDB allows 4 devices of a kind. The refused readings are good data: spooled, never dead-lettered, and all
    stored once the limit is raised."""
    with with_own_influxdb(stack, unique, tmp_path, max_values_per_tag=4) as (own, runtime, client):
        fleet = Fleet(sites=1, buildings=1, elevators=1, doors=1, meters=8, seed=6, prefix=unique)
        publish_telemetry(fleet, publisher, 6)  # the elevator, the door and four meters: the limit
        assert written(runtime, 6)
        publish_telemetry(fleet, publisher, 94)  # (InfluxDB checks the limit as it was before each batch)
        assert wait_for(lambda: runtime.counters.influx_full >= 1 and runtime.spool.pending_points > 0), \
            runtime.stats()
        assert runtime.counters.dead_lettered == 0 and runtime.counters.rejected_by_influx == 0
        own.stop()
        own.max_values_per_tag = 0  # the operator raises the limit and restarts InfluxDB
        own.start()
        assert wait_for(lambda: runtime.spool.pending_points == 0, 60), runtime.stats()
        assert sum(client.count(k) for k in ("elevator", "access", "meter")) == 100
        assert len(client.query('SHOW TAG VALUES FROM "meter" WITH KEY = "device"')[0]["values"]) == 8
        assert runtime.counters.dead_lettered == 0


def test_messages_published_while_the_service_is_down_arrive_after_restart(service, publisher, influx, unique):
    first = service()
    fleet = Fleet(seed=9, prefix=unique)
    publish_telemetry(fleet, publisher, 100)
    assert written(first, 100)
    first.stop()
    publish_telemetry(fleet, publisher, 250)  # the broker queues these in our persistent session
    second = service()
    assert written(second, 250), second.stats()
    assert sum(influx.count(k) for k in ("elevator", "access", "meter")) == 350


def test_spool_left_by_a_stopped_service_is_replayed_by_the_next_one(stack, unique, tmp_path, influx):
    from community.runtime import build
    from ingest.spool import DurableSpool

    fleet = Fleet(seed=11, prefix=unique)
    from gateway.contract import decode
    from ingest.encode import to_line

    lines = []
    for topic, payload, _ in (fleet.next_telemetry(now_ms()) for _ in range(50)):
        lines.append(to_line(decode(topic, json.dumps(payload).encode(), prefix=unique, now_ms=now_ms())))
    DurableSpool(tmp_path / "data" / "spool").append(lines)
    runtime = build(settings_for(stack, unique, tmp_path / "data"))
    runtime.start()
    try:
        assert wait_for(lambda: runtime.spool.pending_points == 0 and runtime.counters.replayed == 50)
        assert sum(influx.count(k) for k in ("elevator", "access", "meter")) == 50
    finally:
        runtime.stop()


def test_duplicate_and_out_of_order_messages_are_stored_once_and_never_crash(service, publisher, influx, unique):
    """A QoS 1 redelivery (same ts and seq) overwrites itself in InfluxDB; an older message (a device emptying
    its buffer) is history and is stored; neither is a contract violation."""
    runtime = service()
    fleet = Fleet(buildings=1, elevators=1, doors=0, meters=0, seed=17, prefix=unique)
    first, second, third = (fleet.next_telemetry(now_ms()) for _ in range(3))
    publisher.publish([third, first, second, first, third, third])
    assert wait_for(lambda: runtime.counters.received == 6 and runtime.counters.written >= 6)
    assert influx.count("elevator", "floor") == 3
    assert runtime.counters.dead_lettered == 0
