"""Dead-letter store: every message that broke the contract, kept with its topic, raw bytes (bounded), the
reason and the time, so an operator can see what a device sent and why it was refused."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Integer, LargeBinary, String, func, select
from sqlalchemy.orm import Mapped, mapped_column, sessionmaker

from core.db import Base, UtcDateTime

MAX_STORED_PAYLOAD = 4096
MAX_TOPIC = 512
MAX_REASON = 1000


class DeadLetterRow(Base):
    __tablename__ = "dead_letters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    topic: Mapped[str] = mapped_column(String(MAX_TOPIC))
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    payload_size: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(MAX_REASON))


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A refused message, bounded so a flood of huge payloads cannot fill the disk."""

    topic: str
    payload: bytes
    payload_size: int
    reason: str
    received_at: datetime

    @classmethod
    def of(cls, topic: str, raw: bytes, reason: str, received_ms: int) -> DeadLetter:
        return cls(
            topic=topic[:MAX_TOPIC],
            payload=bytes(raw[:MAX_STORED_PAYLOAD]),
            payload_size=len(raw),
            reason=reason[:MAX_REASON],
            received_at=datetime.fromtimestamp(received_ms / 1000, UTC),
        )


class DeadLetterStore:
    def __init__(self, sessions: sessionmaker) -> None:
        self._sessions = sessions

    def add_many(self, letters: list[DeadLetter]) -> None:
        if not letters:
            return
        with self._sessions.begin() as session:
            session.add_all(
                DeadLetterRow(
                    topic=d.topic, payload=d.payload, payload_size=d.payload_size, reason=d.reason,
                    received_at=d.received_at,
                )
                for d in letters
            )

    def count(self) -> int:
        with self._sessions() as session:
            return session.scalar(select(func.count()).select_from(DeadLetterRow)) or 0

    def latest(self, limit: int = 100, offset: int = 0) -> list[DeadLetterRow]:
        with self._sessions() as session:
            query = select(DeadLetterRow).order_by(DeadLetterRow.id.desc()).limit(limit).offset(offset)
            return list(session.scalars(query))
