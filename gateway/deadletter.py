"""Dead-letter store: every message that broke the contract, kept with its topic, raw bytes (bounded), the
reason and the time, so an operator can see what a device sent and why it was refused."""

from __future__ import annotations

import base64
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
    retained: bool = False  # a retained message the broker replays on every (re)subscription

    @classmethod
    def of(cls, topic: str, raw: bytes, reason: str, received_ms: int, *, retained: bool = False) -> DeadLetter:
        return cls(
            topic=topic[:MAX_TOPIC],
            payload=bytes(raw[:MAX_STORED_PAYLOAD]),
            payload_size=len(raw),
            reason=reason[:MAX_REASON],
            received_at=datetime.fromtimestamp(received_ms / 1000, UTC),
            retained=retained,
        )

    def to_json(self) -> dict:
        """For the fallback file: the payload as base64, so any bytes survive the trip."""
        return {"topic": self.topic, "payload_base64": base64.b64encode(self.payload).decode(),
                "payload_size": self.payload_size, "reason": self.reason,
                "received_at": self.received_at.isoformat(), "retained": self.retained}

    @classmethod
    def from_json(cls, data: dict) -> DeadLetter:
        payload = (base64.b64decode(data["payload_base64"]) if "payload_base64" in data
                   else data.get("payload", "").encode())  # files written before the base64 field
        return cls(topic=data["topic"], payload=payload, payload_size=data["payload_size"], reason=data["reason"],
                   received_at=datetime.fromisoformat(data["received_at"]), retained=data.get("retained", False))


class DeadLetterStore:
    def __init__(self, sessions: sessionmaker) -> None:
        self._sessions = sessions

    def add_many(self, letters: list[DeadLetter]) -> None:
        """Store letters; a retained one already stored (same topic and payload) is not stored again, so retained
        junk is recorded once, not at every restart."""
        if not letters:
            return
        with self._sessions.begin() as session:
            retained = [d for d in letters if d.retained]
            if retained:
                rows = session.execute(select(DeadLetterRow.topic, DeadLetterRow.payload).where(
                    DeadLetterRow.topic.in_({d.topic for d in retained}))).all()
                known = {(topic, payload) for topic, payload in rows}
                letters = [d for d in letters if not (d.retained and (d.topic, d.payload) in known)]
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
