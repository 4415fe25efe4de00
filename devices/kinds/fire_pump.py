"""Fire-pump controllers (消防泵控制柜): the pumps that keep the sprinkler and hydrant mains under pressure. They must
stand in automatic mode, start when pressure falls, and run on mains or backup power; a pump that cannot start
leaves a building without fire water."""

from __future__ import annotations

import random
from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import Field

from devices.kinds.base import DeviceKind, Payload, SimDeviceLike, Simulation
from ingest.lineprotocol import BOOL, series_key


class FirePumpEvent(StrEnum):
    START_FAILURE = "start_failure"  # asked to start, did not
    PHASE_LOSS = "phase_loss"
    OVERLOAD_TRIP = "overload_trip"
    MAINS_POWER_OFF = "mains_power_off"  # on backup power (or none)
    TANK_LOW = "tank_low"  # fire water tank below its reserve
    PUMP_STARTED = "pump_started"  # informational: a pressure drop (or a test) started the pump


class FirePumpTelemetry(Payload):
    running: bool
    mode: Literal["auto", "manual", "off"] = Field(description="fire code: auto, except while being serviced")
    outlet_pressure_mpa: float = Field(ge=0, le=5)
    motor_current_a: float = Field(ge=0, le=1000)
    power: Literal["mains", "backup", "none"]


def encode(topic, p: FirePumpTelemetry, ts_ms: int) -> str:  # noqa: ANN001 - a DeviceTopic
    return (f"{series_key('fire_pump', topic)} running={BOOL[p.running]},mode=\"{p.mode}\","
            f"outlet_pressure_mpa={float(p.outlet_pressure_mpa)!r},motor_current_a={float(p.motor_current_a)!r},"
            f"power=\"{p.power}\",seq={p.seq}i {ts_ms}")


def simulate(rng: random.Random, d: SimDeviceLike) -> dict:
    manual = "manual_mode" in d.faults
    low = "pressure_low" in d.faults or "start_failure" in d.faults
    running = not low and rng.random() < 0.05  # the jockey pump keeps pressure; the main pump rarely runs
    return {"running": running, "mode": "manual" if manual else "auto",
            "outlet_pressure_mpa": 0.12 if low else round(rng.uniform(0.55, 0.75), 3),
            "motor_current_a": round(rng.uniform(40, 60), 1) if running else 0.0,
            "power": "backup" if "mains_power_off" in d.faults else "mains"}


KIND = DeviceKind(
    name="fire_pump", title_zh="消防泵", title="Fire pump", telemetry=FirePumpTelemetry,
    events=frozenset(e.value for e in FirePumpEvent), measurement="fire_pump", encode=encode,
    skills=("fire_protection",),
    simulation=Simulation(simulate, id_prefix="fp", per_building=0,
                          faults=frozenset({"manual_mode", "pressure_low"})),
    order=40, rules_file=Path(__file__).with_suffix(".yaml"),
    fields={"outlet_pressure_mpa": "MPa", "motor_current_a": "A"},
)
