"""The service's clock: timezone-aware UTC. Components take a ``clock`` callable so tests can move time by hand."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


def epoch_ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)
