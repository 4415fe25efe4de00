"""Payload contract: one pydantic model per (kind, channel), and ``decode`` which turns raw MQTT bytes
into a ``DeviceMessage`` or raises ``ContractError`` with a reason an operator can act on.

Validation is strict (``"3"`` is not an integer, ``true`` is the only boolean), NaN and infinities are
refused, and fields the contract does not name are kept on the model (``model_extra``) rather than dropped.
The written contract is docs/mqtt-contract.md; keep the two in step.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gateway.topics import Channel, DeviceTopic, Kind, TopicError, parse_topic


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


class MeterEvent(StrEnum):
    """What a meter itself reports (DL/T 645, CJ/T 188 style); leaks, jumps and staleness are also judged
    from telemetry by the alert engine."""

    REVERSE_FLOW = "reverse_flow"
    TAMPER = "tamper"
    MAGNETIC_INTERFERENCE = "magnetic_interference"
    LOW_BATTERY = "low_battery"
    COVER_OPENED = "cover_opened"
    VALVE_FAULT = "valve_fault"
    CONTINUOUS_FLOW = "continuous_flow"


EVENT_CODES: dict[Kind, type[StrEnum]] = {
    Kind.ELEVATOR: ElevatorEvent,
    Kind.ACCESS: AccessEvent,
    Kind.METER: MeterEvent,
}


class _Payload(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True, allow_inf_nan=False, frozen=True)

    ts: int = Field(description="device time, milliseconds since the Unix epoch (UTC)")
    seq: int = Field(ge=0, le=2**63 - 1, description="per-device, per-channel sequence number")


class ElevatorTelemetry(_Payload):
    running: bool
    floor: int = Field(ge=-10, le=300)
    direction: Literal["up", "down", "stopped"]
    speed_mps: float = Field(ge=0, le=25)
    door: Literal["open", "closed", "opening", "closing"]
    load_pct: float = Field(ge=0, le=250)
    leveled: bool = Field(description="car stands inside the door zone")
    mode: Literal["normal", "inspection", "fire_return", "emergency_power", "out_of_service"] = "normal"


class AccessTelemetry(_Payload):
    door: Literal["open", "closed"]
    locked: bool
    open_s: float = Field(default=0, ge=0, le=10 * 86_400, description="seconds the door has been open")


class MeterTelemetry(_Payload):
    medium: Literal["water", "electricity", "gas", "heat"]
    unit: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]{1,32}$", description="apartment served")
    reading: float = Field(ge=0, le=1e12, description="cumulative register (m3 or kWh)")
    flow: float = Field(ge=-1e6, le=1e6, description="instantaneous flow (m3/h) or power (kW)")
    battery_pct: float | None = Field(default=None, ge=0, le=100)
    valve: Literal["open", "closed"] | None = None


class EventPayload(_Payload):
    event: str = Field(min_length=1, max_length=64)
    active: bool = Field(default=True, description="false clears the condition the event raised")


class MeterEventPayload(EventPayload):
    """A meter's event may name its medium and flat, as its telemetry does: events travel on their own lane and can
    be judged before any telemetry of a new meter, and the rules for a medium need to know it."""

    medium: Literal["water", "electricity", "gas", "heat"] | None = None
    unit: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]{1,32}$", description="apartment served")


class StatusPayload(BaseModel):
    """Online/offline and heartbeat. ``ts``/``seq`` are optional because an MQTT last will is fixed at connect
    time; the receive time stands in for a missing ``ts``."""

    model_config = ConfigDict(extra="allow", strict=True, allow_inf_nan=False, frozen=True)

    online: bool
    ts: int | None = None
    seq: int | None = Field(default=None, ge=0, le=2**63 - 1)
    uptime_s: float | None = Field(default=None, ge=0)
    rssi_dbm: float | None = Field(default=None, ge=-150, le=0)


TELEMETRY_MODELS: dict[Kind, type[_Payload]] = {
    Kind.ELEVATOR: ElevatorTelemetry,
    Kind.ACCESS: AccessTelemetry,
    Kind.METER: MeterTelemetry,
}

Payload = ElevatorTelemetry | AccessTelemetry | MeterTelemetry | EventPayload | StatusPayload


class ContractError(ValueError):
    """A message broke the contract. ``str(err)`` is the reason stored with the dead letter."""


@dataclass(frozen=True, slots=True)
class Limits:
    max_payload_bytes: int = 16_384
    max_future_ms: int = 300_000
    max_past_ms: int = 7 * 86_400_000


@dataclass(frozen=True, slots=True)
class DeviceMessage:
    """A decoded, valid message: what the ingest writer stores and the alert engine judges."""

    topic: DeviceTopic
    ts_ms: int
    payload: Payload
    received_ms: int

    @property
    def kind(self) -> Kind:
        return self.topic.kind

    @property
    def channel(self) -> Channel:
        return self.topic.channel


def decode(topic: str, raw: bytes, *, prefix: str, now_ms: int, limits: Limits = Limits()) -> DeviceMessage:
    """Check topic, size, encoding, JSON, schema and timestamp, in that order."""
    try:
        device_topic = parse_topic(topic, prefix)
    except TopicError as err:
        raise ContractError(str(err)) from None
    if len(raw) > limits.max_payload_bytes:
        raise ContractError(f"payload of {len(raw)} bytes exceeds the {limits.max_payload_bytes}-byte limit")
    payload = _validate(device_topic, raw)
    ts_ms = payload.ts if payload.ts is not None else now_ms
    _check_time(ts_ms, now_ms, limits)
    return DeviceMessage(device_topic, ts_ms, payload, now_ms)


def _validate(topic: DeviceTopic, raw: bytes) -> Payload:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ContractError(f"payload is not valid UTF-8 (byte {err.start})") from None
    if topic.channel is Channel.TELEMETRY:
        model: type[BaseModel] = TELEMETRY_MODELS[topic.kind]
    elif topic.channel is Channel.EVENT:
        model = MeterEventPayload if topic.kind is Kind.METER else EventPayload
    else:
        model = StatusPayload
    try:
        payload = model.model_validate_json(text)
    except ValidationError as err:
        raise ContractError(_reason(err)) from None
    if topic.channel is Channel.EVENT:  # not isinstance: pydantic's metaclass makes that cost microseconds
        codes = EVENT_CODES[topic.kind]
        if payload.event not in codes._value2member_map_:
            raise ContractError(f"event {payload.event!r} is not a known {topic.kind.value} event")
    return payload  # type: ignore[return-value]


def _reason(err: ValidationError) -> str:
    """First few validation problems as 'field: message' (JSON syntax errors included)."""
    parts = []
    for problem in err.errors(include_url=False)[:3]:
        where = ".".join(str(p) for p in problem["loc"]) or "payload"
        parts.append(f"{where}: {problem['msg']}")
    more = err.error_count() - len(parts)
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")


def _check_time(ts_ms: int, now_ms: int, limits: Limits) -> None:
    if ts_ms > now_ms + limits.max_future_ms:
        raise ContractError(f"ts {ts_ms} is {(ts_ms - now_ms) / 1000:.0f} s in the future")
    if ts_ms < now_ms - limits.max_past_ms:
        raise ContractError(f"ts {ts_ms} is {(now_ms - ts_ms) / 1000:.0f} s in the past")


def event_extra_json(payload: EventPayload) -> str | None:
    """Details a device sent with an event beyond the contract fields, kept as JSON text."""
    extra = payload.model_extra
    return json.dumps(extra, ensure_ascii=False, sort_keys=True) if extra else None
