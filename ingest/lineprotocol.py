"""InfluxDB line protocol: the primitives every encoder uses, and ``Point`` for points the service makes itself.

Written by hand rather than with influxdb-client's ``Point``: the schema is fixed, tag values are already
restricted by the topic grammar, and this runs once per message on the hot path (see docs/performance.md).
This module imports nothing of the project, so device kind modules (``devices.kinds``) encode with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gateway.topics import DeviceTopic

FieldValue = bool | int | float | str
BOOL = {True: "true", False: "false"}


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


def line(measurement: str, tags: dict[str, str], fields: dict[str, FieldValue | None], ts_ms: int) -> str:
    """One point; tags sorted (InfluxDB's preferred order), empty tags and None-valued fields skipped."""
    tag_part = "".join(f",{k}={escape_tag(v)}" for k, v in sorted(tags.items()) if v)
    field_part = ",".join(f"{k}={format_field(v)}" for k, v in fields.items() if v is not None)
    return f"{escape_measurement(measurement)}{tag_part} {field_part} {ts_ms}"


@lru_cache(maxsize=262_144)
def series_key(measurement: str, topic: DeviceTopic, *extra: tuple[str, str]) -> str:
    """Measurement and sorted, escaped tags: the same for every point of a device (and medium, unit or event),
    so it is built once and looked up afterwards."""
    tags = {"site": topic.site, "building": topic.building, "device": topic.device_id, **dict(extra)}
    return escape_measurement(measurement) + "".join(f",{k}={escape_tag(v)}" for k, v in sorted(tags.items()) if v)


def as_float(value: float | None) -> float | None:
    """Floats stay floats in InfluxDB even when a device sent an integer (avoids field type conflicts)."""
    return None if value is None else float(value)


@dataclass(frozen=True, slots=True)
class Point:
    """A point the service produces itself (ticket metrics): handed to ``IngestWriter.submit_point``, which
    encodes, batches and spools it like a reading."""

    measurement: str
    tags: dict[str, str]
    fields: dict[str, FieldValue | None]
    ts_ms: int
    meta: dict[str, object] = field(default_factory=dict, compare=False)

    def to_line(self) -> str:
        return line(self.measurement, self.tags, self.fields, self.ts_ms)
