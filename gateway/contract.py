"""Payload contract: ``decode`` turns raw MQTT bytes into a ``DeviceMessage`` or raises ``ContractError`` with a
reason an operator can act on. The models per (kind, channel) come from the device kinds (``devices/kinds/``).

Validation is strict (``"3"`` is not an integer, ``true`` is the only boolean), NaN and infinities are
refused, and fields the contract does not name are kept on the model (``model_extra``) rather than dropped.
The written contract is docs/mqtt-contract.md; keep the two in step.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from pydantic import BaseModel, ValidationError

from devices.kinds import KINDS, Kind
from devices.kinds.base import EventPayload, StatusPayload
from gateway.topics import Channel, DeviceTopic, TopicError, parse_topic

# per kind: the model of each channel, and the event codes it may send (from the registry, built once)
_MODELS: dict[tuple[Kind, Channel], type[BaseModel]] = {
    (kind, channel): model for kind, spec in KINDS.items()
    for channel, model in ((Channel.TELEMETRY, spec.telemetry), (Channel.EVENT, spec.event_payload),
                           (Channel.STATUS, StatusPayload))}
_EVENT_CODES: dict[Kind, frozenset[str]] = {kind: spec.events for kind, spec in KINDS.items()}


Payload = BaseModel  # a kind's telemetry model, its event payload, or ``StatusPayload``


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
    def order_ms(self) -> int:
        """When this message happened, for ordering faults and clears: the device's time, but never later than
        its arrival. A device clock running ahead cannot make its fault look newer than a clear that really came
        after it (docs/alert-rules.md, "Device clocks")."""
        return self.ts_ms if self.ts_ms <= self.received_ms else self.received_ms

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


BOM = b"\xef\xbb\xbf"


def _validate(topic: DeviceTopic, raw: bytes) -> Payload:
    if raw.startswith(BOM):
        raise ContractError("payload starts with a UTF-8 byte-order mark (BOM): send JSON without one")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ContractError(f"payload is not valid UTF-8 (byte {err.start})") from None
    try:
        payload = _MODELS[(topic.kind, topic.channel)].model_validate_json(text)
    except ValidationError as err:
        raise ContractError(_reason(err)) from None
    _refuse_duplicate_keys(raw, text, payload)
    if topic.channel is Channel.EVENT:  # not isinstance: pydantic's metaclass makes that cost microseconds
        if payload.event not in _EVENT_CODES[topic.kind]:
            raise ContractError(f"event {payload.event!r} is not a known {topic.kind.value} event")
    return payload  # type: ignore[return-value]


def _refuse_duplicate_keys(raw: bytes, text: str, payload: BaseModel) -> None:
    """JSON parsers (pydantic's too) let the last of two equal keys win, so ``{"floor": 3, "floor": 5}`` would
    pass as floor 5. Cheap check first: every key is followed by ``":``, so when the count of ``":`` equals the
    number of keys the model received there is no duplicate. Otherwise (a duplicate, but also whitespace before a
    colon, ``":`` inside a string, or nested objects) the payload is parsed again, watching every object's keys."""
    if raw.count(b'":') == len(payload.model_fields_set) + len(payload.model_extra or ()):
        return
    json.loads(text, object_pairs_hook=_unique_keys)


def _unique_keys(pairs: list[tuple[str, object]]) -> dict:
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            raise ContractError(f"duplicate key {key[:64]!r}: a key may appear only once in an object")
        seen.add(key)
    return dict(pairs)


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
