"""Map a ``DeviceMessage`` to one InfluxDB line-protocol point (schema in docs/influx-schema.md).

Status and event points look the same for every kind; telemetry is encoded by the device kind's own ``encode``
(``devices/kinds/<kind>.py``), looked up in the registry: a kind cannot reach this point without one.
"""

from __future__ import annotations

from devices.kinds import KINDS
from gateway.contract import DeviceMessage, event_extra_json
from gateway.topics import Channel, DeviceTopic
from ingest.lineprotocol import as_float, line

_ENCODERS = {kind: spec.encode for kind, spec in KINDS.items()}


def to_line(msg: DeviceMessage) -> str:
    """Dispatch on channel and kind (plain enums) rather than ``isinstance`` on pydantic models, which is slow
    enough to matter once per message."""
    topic, p = msg.topic, msg.payload
    if topic.channel is Channel.TELEMETRY:
        return _ENCODERS[topic.kind](topic, p, msg.ts_ms)
    if topic.channel is Channel.STATUS:
        fields = {"online": p.online, "seq": p.seq, "uptime_s": as_float(p.uptime_s), "rssi_dbm": as_float(p.rssi_dbm)}
        return line("device_status", _tags(topic, kind=topic.kind.value), fields, msg.ts_ms)
    fields = {"active": p.active, "seq": p.seq, "detail": event_extra_json(p)}
    return line("device_event", _tags(topic, event=p.event, kind=topic.kind.value), fields, msg.ts_ms)


def _tags(topic: DeviceTopic, **extra: str) -> dict[str, str]:
    return {"site": topic.site, "building": topic.building, "device": topic.device_id, **extra}
