import json

import pytest

from devices.kinds import Kind
from devices.kinds.base import EventPayload
from devices.kinds.elevator import ElevatorTelemetry
from devices.kinds.meter import MeterTelemetry
from gateway.contract import ContractError, Limits, decode
from gateway.topics import Channel

NOW = 1_795_000_000_000
P = "community"


def good_elevator(**changes) -> dict:
    payload = {"ts": NOW - 1000, "seq": 7, "running": True, "floor": 3, "direction": "up", "speed_mps": 1.5,
               "door": "closed", "load_pct": 40, "leveled": False}
    payload.update(changes)
    return payload


def dec(topic_tail: str, payload, **kw):
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return decode(f"{P}/site1/b1/{topic_tail}", raw, prefix=P, now_ms=NOW, **kw)


def test_valid_elevator_telemetry_decodes_with_topic_and_device_time():
    msg = dec("elevator/el-1/telemetry", good_elevator())
    assert msg.topic.kind is Kind.ELEVATOR and msg.topic.channel is Channel.TELEMETRY
    assert msg.topic.device_id == "el-1" and msg.ts_ms == NOW - 1000
    assert isinstance(msg.payload, ElevatorTelemetry) and msg.payload.floor == 3


def test_unknown_fields_are_kept_not_dropped():
    msg = dec("elevator/el-1/telemetry", good_elevator(vendor_code="X9"))
    assert msg.payload.model_extra == {"vendor_code": "X9"}


def test_meter_and_event_and_status_decode():
    meter = dec("meter/m-1/telemetry", {"ts": NOW, "seq": 1, "medium": "water", "unit": "0101", "reading": 12,
                                         "flow": 0.2})
    assert isinstance(meter.payload, MeterTelemetry) and meter.payload.reading == 12.0
    event = dec("access/d-1/event", {"ts": NOW, "seq": 2, "event": "door_forced_open"})
    assert isinstance(event.payload, EventPayload) and event.payload.active is True
    status = dec("access/d-1/status", {"online": False})  # a last will carries no ts
    assert status.ts_ms == NOW


@pytest.mark.parametrize(
    ("topic_tail", "payload", "reason"),
    [
        ("elevator/el-1/telemetry", b"{not json", "Invalid JSON"),
        ("elevator/el-1/telemetry", b"[1, 2]", "payload: Input should be an object"),
        ("elevator/el-1/telemetry", good_elevator(floor="3"), "floor: Input should be a valid integer"),
        ("elevator/el-1/telemetry", good_elevator(running=1), "running: Input should be a valid boolean"),
        ("elevator/el-1/telemetry", {k: v for k, v in good_elevator().items() if k != "door"}, "door: Field required"),
        ("elevator/el-1/telemetry", good_elevator(direction="sideways"), "direction: Input should be"),
        ("elevator/el-1/telemetry", json.dumps(good_elevator(speed_mps=float("nan"))).encode(),
         "speed_mps: Input should be a finite number"),
        ("elevator/el-1/telemetry", json.dumps(good_elevator()).replace('"load_pct": 40', '"load_pct": 1e999')
         .encode(), "finite number"),
        ("elevator/el-1/telemetry", good_elevator(ts=0), "in the past"),
        ("elevator/el-1/telemetry", good_elevator(ts=NOW + 86_400_000), "in the future"),
        ("elevator/el-1/telemetry", good_elevator(ts="2026-11-23T10:00:00Z"), "ts: Input should be a valid integer"),
        ("elevator/el-1/telemetry", good_elevator(seq=-1), "seq: Input should be greater than or equal to 0"),
        ("escalator/e-1/telemetry", good_elevator(), "unknown device kind 'escalator'"),
        ("elevator/el-1/gossip", good_elevator(), "unknown channel 'gossip'"),
        ("elevator/el 1/telemetry", good_elevator(), "topic level device_id"),
        ("elevator/el-1/telemetry", b"\xff\xfe{}", "not valid UTF-8"),
        ("elevator/el-1/event", {"ts": NOW, "seq": 1, "event": "door_forced_open"}, "not a known elevator event"),
        ("meter/m-1/telemetry", {"ts": NOW, "seq": 1, "medium": "steam", "reading": 1, "flow": 0}, "medium"),
    ],
)
def test_bad_messages_are_refused_with_a_reason(topic_tail, payload, reason):
    with pytest.raises(ContractError) as err:
        dec(topic_tail, payload)
    assert reason in str(err.value)


def test_oversized_payload_is_refused_before_parsing():
    with pytest.raises(ContractError, match="exceeds the 1024-byte limit"):
        dec("elevator/el-1/telemetry", b"x" * 2000, limits=Limits(max_payload_bytes=1024))


def test_wrong_prefix_and_wrong_level_count_are_refused():
    with pytest.raises(ContractError, match="prefix"):
        decode("other/site1/b1/elevator/el-1/telemetry", b"{}", prefix=P, now_ms=NOW)
    with pytest.raises(ContractError, match="6 levels"):
        decode(f"{P}/site1/elevator/el-1/telemetry", b"{}", prefix=P, now_ms=NOW)


def test_a_duplicate_key_is_refused_and_named():
    raw = (b'{"ts": %d, "seq": 1, "running": true, "floor": 3, "direction": "up", "speed_mps": 1.0, '
           b'"door": "closed", "load_pct": 10, "leveled": false, "floor": 5}' % NOW)
    with pytest.raises(ContractError, match="duplicate key 'floor'"):
        dec("elevator/el-1/telemetry", raw)
    spaced = b'{"online" : true, "online" : false}'  # whitespace before the colons: still found
    with pytest.raises(ContractError, match="duplicate key 'online'"):
        dec("elevator/el-1/status", spaced)
    nested = b'{"online": true, "ts": %d, "extra": {"a": 1, "b": "x\\":"}}' % NOW  # nested keys are no duplicates
    assert dec("elevator/el-1/status", nested).payload.online is True


def test_a_byte_order_mark_is_named_in_the_reason():
    with pytest.raises(ContractError, match="byte-order mark"):
        dec("elevator/el-1/status", b'\xef\xbb\xbf{"online": true}')
