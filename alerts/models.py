"""Alert state: one row per rule and device, firing or cleared, with occurrences and change history."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict
from sqlalchemy import JSON, BigInteger, Boolean, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, UtcDateTime


class Alert(Base):
    """State of one rule on one device: firing or cleared, with occurrences and change history for flapping."""

    __tablename__ = "alerts"
    __table_args__ = (UniqueConstraint("rule_id", "device_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rule_id: Mapped[str] = mapped_column(String(64))
    device_id: Mapped[str] = mapped_column(String(64), index=True)
    site: Mapped[str] = mapped_column(String(64))
    building: Mapped[str] = mapped_column(String(64))
    firing: Mapped[bool] = mapped_column(Boolean, default=False)
    occurrences: Mapped[int] = mapped_column(Integer, default=0)
    first_fired_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_fired_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    cleared_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_source_ms: Mapped[int] = mapped_column(BigInteger, default=0, doc="device ts of the newest message applied")
    changes: Mapped[list] = mapped_column(JSON, default=list, doc="epoch seconds of recent fire/clear changes")
    flapping: Mapped[bool] = mapped_column(Boolean, default=False)
    resolve_after: Mapped[datetime | None] = mapped_column(UtcDateTime, doc="flapping: resolve if still clear then")
    detail: Mapped[str | None] = mapped_column(String(500))
    incident_key: Mapped[str | None] = mapped_column(String(140), index=True,
                                                     doc="lost as part of this storm incident (its order's open key)")


class AlertOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    rule_id: str
    device_id: str
    site: str
    building: str
    firing: bool
    flapping: bool
    occurrences: int
    first_fired_at: datetime | None
    last_fired_at: datetime | None
    cleared_at: datetime | None
    detail: str | None
    incident_key: str | None


class FailedSignal(Base):
    """A signal the engine could not apply for a reason retrying would not fix (a bug, bad data): recorded here with
    the reason, and the engine moves on. Transient database errors are retried instead, never recorded."""

    __tablename__ = "failed_signals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    rule_id: Mapped[str] = mapped_column(String(64))
    device_id: Mapped[str] = mapped_column(String(64))
    fire: Mapped[bool] = mapped_column(Boolean)
    source_ms: Mapped[int] = mapped_column(BigInteger, doc="the signal's time (device clock, ms)")
    reason: Mapped[str] = mapped_column(String(1000))


class FailedSignalOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    rule_id: str
    device_id: str
    fire: bool
    source_ms: int
    reason: str
