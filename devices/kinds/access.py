"""Access control: doors, gates and barriers. Credentials granted or denied, doors forced or held open,
tailgating, tamper, controller offline, fire release."""

from __future__ import annotations

import random
from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import Field

from devices.kinds.base import DeviceKind, Payload, SimDeviceLike, Simulation
from ingest.lineprotocol import BOOL, series_key


class AccessEvent(StrEnum):
    ACCESS_GRANTED = "access_granted"
    ACCESS_DENIED = "access_denied"
    DOOR_FORCED_OPEN = "door_forced_open"
    DOOR_HELD_OPEN = "door_held_open"
    TAILGATING = "tailgating"
    TAMPER = "tamper"
    CONTROLLER_OFFLINE = "controller_offline"
    FIRE_RELEASE = "fire_release"
    PASSBACK = "passback"
    DURESS = "duress"
    LOCKOUT = "lockout"
    MAINS_POWER_OFF = "mains_power_off"


class AccessTelemetry(Payload):
    door: Literal["open", "closed"]
    locked: bool
    open_s: float = Field(default=0, ge=0, le=10 * 86_400, description="seconds the door has been open")


def encode(topic, p: AccessTelemetry, ts_ms: int) -> str:  # noqa: ANN001 - a DeviceTopic
    return (f"{series_key('access', topic)} door=\"{p.door}\",locked={BOOL[p.locked]},"
            f"open_s={float(p.open_s)!r},seq={p.seq}i {ts_ms}")


def simulate(rng: random.Random, d: SimDeviceLike) -> dict:
    if d.faults & {"door_held_open", "door_forced_open"}:
        d.state["open_s"] = d.state.get("open_s", 0.0) + 30.0
        return {"door": "open", "locked": False, "open_s": d.state["open_s"]}
    d.state["open_s"] = 0.0
    return {"door": "closed", "locked": True, "open_s": 0.0}


def announce(fault: str, active: bool) -> list[tuple[str, dict]]:
    """``denied_burst``: five denied cards in a row (what the count rule watches for)."""
    if fault == "denied_burst":
        return [(AccessEvent.ACCESS_DENIED.value, {"credential": f"card-{i}"}) for i in range(5)] if active else []
    return []


KIND = DeviceKind(
    name="access", title_zh="门禁", title="Access door", telemetry=AccessTelemetry,
    events=frozenset(e.value for e in AccessEvent), measurement="access", encode=encode,
    skills=("access", "electrical"),
    simulation=Simulation(simulate, id_prefix="door", per_building=2,
                          faults=frozenset({"denied_burst", "door_held_open"}), announce=announce),
    order=20, rules_file=Path(__file__).with_suffix(".yaml"), fields={"open_s": "s"},
)
