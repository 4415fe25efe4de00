"""Topic grammar: ``<prefix>/<site>/<building>/<kind>/<device_id>/<channel>`` (see docs/mqtt-contract.md).

The kinds are the registered ones (``devices.kinds``): a topic naming any other kind is refused here."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

from devices.kinds import Kind


class Channel(StrEnum):
    TELEMETRY = "telemetry"
    EVENT = "event"
    STATUS = "status"


SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_KINDS = {k.value: k for k in Kind}
_CHANNELS = {c.value: c for c in Channel}


class TopicError(ValueError):
    """The topic does not follow the contract; the message says which level is wrong."""


@dataclass(frozen=True, slots=True)
class DeviceTopic:
    prefix: str
    site: str
    building: str
    kind: Kind
    device_id: str
    channel: Channel

    def __str__(self) -> str:
        return "/".join(
            (self.prefix, self.site, self.building, self.kind.value, self.device_id, self.channel.value)
        )


@lru_cache(maxsize=262_144)
def parse_topic(topic: str, prefix: str) -> DeviceTopic:
    """Split and check a topic; raise ``TopicError`` naming the first wrong level.

    Cached: a fleet publishes on a fixed set of topics, so the hot path mostly looks its answer up (a bad topic
    raises and is not cached; the bound keeps memory flat whatever devices send)."""
    levels = topic.split("/")
    if len(levels) != 6:
        raise TopicError(f"topic must have 6 levels <prefix>/<site>/<building>/<kind>/<device>/<channel>, "
                         f"got {len(levels)}")
    got_prefix, site, building, kind, device_id, channel = levels
    if got_prefix != prefix:
        raise TopicError(f"topic prefix {got_prefix[:64]!r} is not {prefix!r}")
    for name, value in (("site", site), ("building", building), ("device_id", device_id)):
        if not SEGMENT.match(value):
            raise TopicError(f"topic level {name} {value[:80]!r} must match {SEGMENT.pattern}")
    if kind not in _KINDS:
        raise TopicError(f"unknown device kind {kind[:64]!r}; expected one of {sorted(_KINDS)}")
    if channel not in _CHANNELS:
        raise TopicError(f"unknown channel {channel[:64]!r}; expected one of {sorted(_CHANNELS)}")
    return DeviceTopic(prefix, site, building, _KINDS[kind], device_id, _CHANNELS[channel])


def subscription(prefix: str, shared_group: str | None = None, channel: str = "+", *, site: str = "+") -> str:
    """A filter the gateway subscribes to (every site and channel by default), optionally as an MQTT 5 shared
    subscription."""
    base = f"{prefix}/{site}/+/+/+/{channel}"
    return f"$share/{shared_group}/{base}" if shared_group else base


URGENT_CHANNELS = (Channel.EVENT, Channel.STATUS)
"""Channels that carry faults and liveness: the alert engine takes them on a lane of their own (see
``gateway.listener``), so they never wait behind a backlog of telemetry."""
