"""Elevators, after China's elevator IoT standard GB/T 24476: running state, floor, direction, speed, door, load,
leveling, mode; faults from trapped passengers to safety-circuit trips."""

from __future__ import annotations

import random
from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import Field

from devices.kinds.base import DeviceKind, Payload, SimDeviceLike, Simulation
from ingest.lineprotocol import BOOL, series_key


class ElevatorEvent(StrEnum):
    """Elevator faults and states after GB/T 24476 (elevator IoT) and field practice."""

    PASSENGERS_TRAPPED = "passengers_trapped"
    DOOR_OPEN_WHILE_RUNNING = "door_open_while_running"
    OVERSPEED = "overspeed"
    OVER_TRAVEL_TOP = "over_travel_top"
    OVER_TRAVEL_BOTTOM = "over_travel_bottom"
    STOPPED_OUTSIDE_DOOR_ZONE = "stopped_outside_door_zone"
    DOOR_FAILS_TO_OPEN = "door_fails_to_open"
    DOOR_FAILS_TO_CLOSE = "door_fails_to_close"
    POWER_LOSS = "power_loss"
    OUT_OF_SERVICE = "out_of_service"
    SERVICE_MODE = "service_mode"
    EMERGENCY_CALL = "emergency_call"
    SAFETY_CIRCUIT_OPEN = "safety_circuit_open"
    DOOR_LOCK_CIRCUIT_OPEN = "door_lock_circuit_open"
    UCMP = "ucmp"  # unintended car movement with doors open
    LANDING_BUTTON_STUCK = "landing_button_stuck"
    INSPECTION_MODE = "inspection_mode"
    FIRE_RETURN_MODE = "fire_return_mode"
    EMERGENCY_POWER_MODE = "emergency_power_mode"


class ElevatorTelemetry(Payload):
    running: bool
    floor: int = Field(ge=-10, le=300)
    direction: Literal["up", "down", "stopped"]
    speed_mps: float = Field(ge=0, le=25)
    door: Literal["open", "closed", "opening", "closing"]
    load_pct: float = Field(ge=0, le=250)
    leveled: bool = Field(description="car stands inside the door zone")
    mode: Literal["normal", "inspection", "fire_return", "emergency_power", "out_of_service"] = "normal"


def encode(topic, p: ElevatorTelemetry, ts_ms: int) -> str:  # noqa: ANN001 - a DeviceTopic
    """One f-string: the field types are fixed by the contract and the strings are ``Literal``s (no escaping)."""
    return (f"{series_key('elevator', topic)} running={BOOL[p.running]},floor={p.floor}i,"
            f"direction=\"{p.direction}\",speed_mps={float(p.speed_mps)!r},door=\"{p.door}\","
            f"load_pct={float(p.load_pct)!r},leveled={BOOL[p.leveled]},mode=\"{p.mode}\",seq={p.seq}i {ts_ms}")


STUCK = {"passengers_trapped", "stopped_outside_door_zone", "power_loss", "out_of_service"}


def simulate(rng: random.Random, d: SimDeviceLike) -> dict:
    floor = d.state.setdefault("floor", 1)
    stuck = d.faults & STUCK
    if stuck:
        return {"running": False, "floor": floor, "direction": "stopped", "speed_mps": 0.0, "door": "closed",
                "load_pct": 35.0 if "passengers_trapped" in stuck else 0.0,
                "leveled": not (stuck & {"passengers_trapped", "stopped_outside_door_zone"}),
                "mode": "out_of_service" if "out_of_service" in stuck else "normal"}
    running = rng.random() < 0.6
    direction = rng.choice(("up", "down")) if running else "stopped"
    if running:
        floor = d.state["floor"] = max(1, min(30, floor + (1 if direction == "up" else -1)))
    speed = 2.5 if "overspeed" in d.faults else round(rng.uniform(0.5, 1.75), 2) if running else 0.0
    return {"running": running, "floor": floor, "direction": direction, "speed_mps": speed,
            "door": "open" if "door_open_while_running" in d.faults else ("closed" if running else
                                                                       rng.choice(("open", "closed"))),
            "load_pct": round(rng.uniform(0, 80), 1), "leveled": not running, "mode": "normal"}


KIND = DeviceKind(
    name="elevator", title_zh="电梯", title="Elevator", telemetry=ElevatorTelemetry,
    events=frozenset(e.value for e in ElevatorEvent), measurement="elevator", encode=encode, skills=("elevator",),
    simulation=Simulation(simulate, id_prefix="el", per_building=2,
                          event_detail=lambda d: {"floor": d.state.get("floor", 1)}),
    order=10, rules_file=Path(__file__).with_suffix(".yaml"),
    fields={"speed_mps": "m/s", "load_pct": "%", "floor": ""},
)
