"""What every device kind module declares (``DeviceKind``), and the payload models all kinds share.

A kind module (``devices/kinds/<name>.py``) defines ``KIND = DeviceKind(...)`` and nothing else needs to name it:
the topic grammar, the payload contract, the InfluxDB encoding, the rule loader, the simulator and the dashboards
all read the registry (``devices.kinds``). Its default alert rules sit beside it in ``<name>.yaml``.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

NAME_MAX = 32
"""Longest kind or skill name: the ``kind`` and ``skill`` columns are ``String(NAME_MAX)`` (migration 0003)."""
NAME = re.compile(rf"^[a-z][a-z0-9_]{{0,{NAME_MAX - 1}}}$")

MEDIA = ("water", "electricity", "gas", "heat")


class Payload(BaseModel):
    """Fields every telemetry and event payload carries. Strict: ``"3"`` is not an integer; unknown fields are
    kept (``model_extra``), not dropped."""

    model_config = ConfigDict(extra="allow", strict=True, allow_inf_nan=False, frozen=True)

    ts: int = Field(description="device time, milliseconds since the Unix epoch (UTC)")
    seq: int = Field(ge=0, le=2**63 - 1, description="per-device, per-channel sequence number")


class EventPayload(Payload):
    event: str = Field(min_length=1, max_length=64)
    active: bool = Field(default=True, description="false clears the condition the event raised")


class StatusPayload(BaseModel):
    """Online/offline and heartbeat, the same for every kind. ``ts``/``seq`` are optional because an MQTT last will
    is fixed at connect time; the receive time stands in for a missing ``ts``."""

    model_config = ConfigDict(extra="allow", strict=True, allow_inf_nan=False, frozen=True)

    online: bool
    ts: int | None = None
    seq: int | None = Field(default=None, ge=0, le=2**63 - 1)
    uptime_s: float | None = Field(default=None, ge=0)
    rssi_dbm: float | None = Field(default=None, ge=-150, le=0)


class SimDeviceLike(Protocol):
    """What a kind's simulator functions may read and change on a simulated device (``simulator.fleet``)."""

    device_id: str
    medium: str | None
    unit: str | None
    faults: set[str]
    state: dict[str, Any]


Telemetry = Callable[[random.Random, SimDeviceLike], dict]
Encoder = Callable[[Any, Any, int], str]  # (DeviceTopic, telemetry payload, ts_ms) -> one line-protocol point


@dataclass(frozen=True)
class Simulation:
    """How the simulator plays a device of this kind."""

    telemetry: Telemetry
    id_prefix: str  # s1b1-<id_prefix>1
    per_building: int = 0  # how many a default simulated building has
    setup: Callable[[random.Random, int], dict[str, Any]] = lambda rng, index: {}  # medium, unit, initial state
    faults: frozenset[str] = frozenset()  # faults shown in telemetry (events are injectable by their code)
    announce: Callable[[str, bool], list[tuple[str, dict]]] | None = None  # fault -> events to send, if special
    event_detail: Callable[[SimDeviceLike], dict] = lambda device: {}


@dataclass(frozen=True)
class DeviceKind:
    """One kind of device: its contract, its InfluxDB encoding, its skills, its simulator and its default rules."""

    name: str
    title: str
    telemetry: type[Payload]
    events: frozenset[str]
    measurement: str
    encode: Encoder
    skills: tuple[str, ...]
    simulation: Simulation
    event_payload: type[EventPayload] = EventPayload
    names_unit: bool = False  # telemetry and events say which medium and flat (unit) they serve
    order: int = 100  # where the kind sorts in lists (simulator fleets, dashboards)
    rules_file: Path | None = None
    fields: dict[str, str] = field(default_factory=dict)  # numeric telemetry fields worth a chart -> unit label
    title_zh: str = ""  # its Chinese name (spreadsheets and pages say 电梯, not elevator)

    def __post_init__(self) -> None:
        problems = [f"{what} {value!r} must match {NAME.pattern}"
                    for what, value in [("kind name", self.name), ("measurement", self.measurement),
                                        *(("skill", s) for s in self.skills)] if not NAME.match(value)]
        if not self.title_zh:
            problems.append("title_zh (its Chinese name) is needed")
        if not self.skills:
            problems.append("at least one skill is needed (who repairs it)")
        if not callable(self.encode):
            problems.append("encode must turn its telemetry into a line-protocol point")
        if not issubclass(self.telemetry, Payload) or not issubclass(self.event_payload, EventPayload):
            problems.append("telemetry and event_payload must derive from devices.kinds.base payloads")
        if problems:
            raise ValueError(f"device kind {self.name!r}: " + "; ".join(problems))
