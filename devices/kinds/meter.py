"""Meters (water, electricity, gas, heat; DL/T 645 and CJ/T 188 style): cumulative register, instantaneous flow or
power, battery, valve. Leaks, jumps, staleness are also judged from telemetry and history by the alert engine."""

from __future__ import annotations

import random
from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import Field

from devices.kinds.base import MEDIA, DeviceKind, EventPayload, Payload, SimDeviceLike, Simulation
from ingest.lineprotocol import series_key

Medium = Literal["water", "electricity", "gas", "heat"]
UNIT = r"^[A-Za-z0-9_.-]{1,32}$"


class MeterEvent(StrEnum):
    """What a meter itself reports."""

    REVERSE_FLOW = "reverse_flow"
    TAMPER = "tamper"
    MAGNETIC_INTERFERENCE = "magnetic_interference"
    LOW_BATTERY = "low_battery"
    COVER_OPENED = "cover_opened"
    VALVE_FAULT = "valve_fault"
    CONTINUOUS_FLOW = "continuous_flow"


class MeterTelemetry(Payload):
    medium: Medium
    unit: str | None = Field(default=None, pattern=UNIT, description="apartment served")
    reading: float = Field(ge=0, le=1e12, description="cumulative register (m3 or kWh)")
    flow: float = Field(ge=-1e6, le=1e6, description="instantaneous flow (m3/h) or power (kW)")
    battery_pct: float | None = Field(default=None, ge=0, le=100)
    valve: Literal["open", "closed"] | None = None


class MeterEventPayload(EventPayload):
    """A meter's event may name its medium and flat, as its telemetry does: events travel on their own lane and can
    be judged before any telemetry of a new meter, and the rules for a medium need to know it."""

    medium: Medium | None = None
    unit: str | None = Field(default=None, pattern=UNIT, description="apartment served")


def encode(topic, p: MeterTelemetry, ts_ms: int) -> str:  # noqa: ANN001 - a DeviceTopic
    key = series_key("meter", topic, ("medium", p.medium), ("unit", p.unit or ""))
    battery = "" if p.battery_pct is None else f",battery_pct={float(p.battery_pct)!r}"
    valve = "" if p.valve is None else f",valve=\"{p.valve}\""
    return f"{key} reading={float(p.reading)!r},flow={float(p.flow)!r}{battery}{valve},seq={p.seq}i {ts_ms}"


def setup(rng: random.Random, index: int) -> dict:
    """Meters 1, 2, 3, ... of a building serve flats 0101, 0102, 0201, ... and cycle through the media."""
    return {"unit": f"{index // 2 + 1:02d}{index % 2 + 1:02d}", "medium": MEDIA[index % len(MEDIA)],
            "state": {"reading": round(rng.uniform(10, 5000), 3)}}


def simulate(rng: random.Random, d: SimDeviceLike) -> dict:
    reading = d.state.get("reading", 0.0)
    if "zero_consumption" in d.faults:
        flow = 0.0
    else:
        flow = round(rng.uniform(0.0, 0.6), 4) if rng.random() < 0.3 else 0.0
        if "night_leak" in d.faults:
            flow = round(flow + 0.05, 4)  # never drops to zero: minimum night flow > 0
        if "reverse_flow" in d.faults:
            flow = -abs(flow) - 0.02
    if "reading_backwards" in d.faults:
        reading = max(0.0, reading - 1.0)
    elif "reading_jump" in d.faults:
        reading += 10_000.0
        d.faults.discard("reading_jump")  # a jump happens once
    else:
        reading += max(flow, 0.0) / 60
    d.state["reading"] = reading
    return {"medium": d.medium, "unit": d.unit, "reading": round(reading, 4), "flow": flow,
            "battery_pct": 8.0 if "low_battery" in d.faults else 87.0,
            "valve": "open" if d.medium in ("water", "gas") else None}


KIND = DeviceKind(
    name="meter", title_zh="表计", title="Meter", telemetry=MeterTelemetry, event_payload=MeterEventPayload,
    events=frozenset(e.value for e in MeterEvent), measurement="meter", encode=encode,
    skills=("plumbing", "metering", "gas", "heating", "electrical"), names_unit=True,
    simulation=Simulation(simulate, id_prefix="m", per_building=4, setup=setup,
                          faults=frozenset({"night_leak", "reading_backwards", "reading_jump", "zero_consumption"})),
    order=30, rules_file=Path(__file__).with_suffix(".yaml"), fields={"flow": "m³/h or kW", "battery_pct": "%"},
)
