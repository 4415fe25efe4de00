"""Map a ``DeviceMessage`` to one InfluxDB line-protocol point (schema in docs/influx-schema.md).

Written by hand rather than with influxdb-client's ``Point``: the schema is fixed, tag values are already
restricted by the topic grammar, and this runs once per message on the hot path (see docs/performance.md).
"""

from __future__ import annotations

from functools import lru_cache

from gateway.contract import DeviceMessage, event_extra_json
from gateway.topics import Channel, DeviceTopic, Kind

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


@lru_cache(maxsize=262_144)
def series_key(measurement: str, topic: DeviceTopic, *extra: tuple[str, str]) -> str:
    """Measurement and sorted, escaped tags: the same for every point of a device (and medium, unit or event),
    so it is built once and looked up afterwards."""
    tags = {"site": topic.site, "building": topic.building, "device": topic.device_id, **dict(extra)}
    return escape_measurement(measurement) + "".join(f",{k}={escape_tag(v)}" for k, v in sorted(tags.items()) if v)


_BOOL = {True: "true", False: "false"}


def to_line(msg: DeviceMessage) -> str:
    """Dispatch on channel and kind (plain enums) rather than ``isinstance`` on pydantic models, which is slow
    enough to matter once per message. Telemetry fields are formatted by one f-string per kind: their types are
    fixed by the contract and their string values are ``Literal``s that need no escaping."""
    topic, p = msg.topic, msg.payload
    if topic.channel is Channel.STATUS:
        fields = {"online": p.online, "seq": p.seq, "uptime_s": _f(p.uptime_s), "rssi_dbm": _f(p.rssi_dbm)}
        return line("device_status", _tags(topic, kind=topic.kind.value), fields, msg.ts_ms)
    if topic.channel is Channel.EVENT:
        fields = {"active": p.active, "seq": p.seq, "detail": event_extra_json(p)}
        return line("device_event", _tags(topic, event=p.event, kind=topic.kind.value), fields, msg.ts_ms)
    if topic.kind is Kind.ELEVATOR:
        return (f"{series_key('elevator', topic)} running={_BOOL[p.running]},floor={p.floor}i,"
                f"direction=\"{p.direction}\",speed_mps={float(p.speed_mps)!r},door=\"{p.door}\","
                f"load_pct={float(p.load_pct)!r},leveled={_BOOL[p.leveled]},mode=\"{p.mode}\",seq={p.seq}i "
                f"{msg.ts_ms}")
    if topic.kind is Kind.ACCESS:
        return (f"{series_key('access', topic)} door=\"{p.door}\",locked={_BOOL[p.locked]},"
                f"open_s={float(p.open_s)!r},seq={p.seq}i {msg.ts_ms}")
    key = series_key("meter", topic, ("medium", p.medium), ("unit", p.unit or ""))
    battery = "" if p.battery_pct is None else f",battery_pct={float(p.battery_pct)!r}"
    valve = "" if p.valve is None else f",valve=\"{p.valve}\""
    return f"{key} reading={float(p.reading)!r},flow={float(p.flow)!r}{battery}{valve},seq={p.seq}i {msg.ts_ms}"


def _tags(topic: DeviceTopic, **extra: str) -> dict[str, str]:
    return {"site": topic.site, "building": topic.building, "device": topic.device_id, **extra}


def _f(value: float | None) -> float | None:
    """Floats stay floats in InfluxDB even when a device sent an integer (avoids field type conflicts)."""
    return None if value is None else float(value)
