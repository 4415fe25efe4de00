"""What the gateway hands on: one decoded message or dead letter, with the callback that acknowledges it to the
broker once the receiver has made it durable (stored, spooled, or judged and committed)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gateway.contract import DeviceMessage
    from gateway.deadletter import DeadLetter
    from ingest.lineprotocol import Point

Ack = Callable[[], None]


@dataclass(frozen=True, slots=True)
class Envelope:
    """One thing to store: a device message, a dead letter, or a point the service made itself (ticket metrics)."""

    item: DeviceMessage | DeadLetter | Point
    ack: Ack | None = None
