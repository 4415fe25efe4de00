"""Map a ``DeviceMessage`` to one InfluxDB line-protocol point (schema in docs/influx-schema.md).

Written by hand rather than with influxdb-client's ``Point``: the schema is fixed, tag values are already
restricted by the topic grammar, and this runs once per message on the hot path (see docs/performance.md).
"""

from __future__ import annotations

from gateway.contract import DeviceMessage, event_extra_json
from gateway.topics import Channel, Kind

FieldValue = bool | int | float | str


def escape_tag(value: str) -> str:
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=").replace(" ", "\\ ")


def escape_measurement(value: str) -> str:
    return value.replace("\\", "\\\\").replace(",", "\\,").replace(" ", "\\ ")


def format_field(value: FieldValue) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return f"{value}i"
    if isinstance(value, float):
        return repr(value)
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def line(measurement: str, tags: dict[str, str], fields: dict[str, FieldValue], ts_ms: int) -> str:
    """One point; tags sorted (InfluxDB's preferred order), None-valued fields skipped."""
    tag_part = "".join(f",{k}={escape_tag(v)}" for k, v in sorted(tags.items()) if v)
    field_part = ",".join(f"{k}={format_field(v)}" for k, v in fields.items() if v is not None)
    return f"{escape_measurement(measurement)}{tag_part} {field_part} {ts_ms}"


def to_line(msg: DeviceMessage) -> str:
    """Dispatch on channel and kind (plain enums) rather than ``isinstance`` on pydantic models, which is slow
    enough to matter once per message."""
    topic, p = msg.topic, msg.payload
    tags = {"site": topic.site, "building": topic.building, "device": topic.device_id}
    if topic.channel is Channel.STATUS:
        tags["kind"] = topic.kind.value
        fields = {"online": p.online, "seq": p.seq, "uptime_s": _f(p.uptime_s), "rssi_dbm": _f(p.rssi_dbm)}
        return line("device_status", tags, fields, msg.ts_ms)
    if topic.channel is Channel.EVENT:
        tags["kind"] = topic.kind.value
        tags["event"] = p.event
        fields = {"active": p.active, "seq": p.seq, "detail": event_extra_json(p)}
        return line("device_event", tags, fields, msg.ts_ms)
    if topic.kind is Kind.ELEVATOR:
        fields = {
            "running": p.running, "floor": p.floor, "direction": p.direction, "speed_mps": float(p.speed_mps),
            "door": p.door, "load_pct": float(p.load_pct), "leveled": p.leveled, "mode": p.mode, "seq": p.seq,
        }
        return line("elevator", tags, fields, msg.ts_ms)
    if topic.kind is Kind.ACCESS:
        fields = {"door": p.door, "locked": p.locked, "open_s": float(p.open_s), "seq": p.seq}
        return line("access", tags, fields, msg.ts_ms)
    tags["medium"] = p.medium
    if p.unit:
        tags["unit"] = p.unit
    fields = {
        "reading": float(p.reading), "flow": float(p.flow), "battery_pct": _f(p.battery_pct),
        "valve": p.valve, "seq": p.seq,
    }
    return line("meter", tags, fields, msg.ts_ms)


def _f(value: float | None) -> float | None:
    """Floats stay floats in InfluxDB even when a device sent an integer (avoids field type conflicts)."""
    return None if value is None else float(value)
