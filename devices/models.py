"""The device registry: the newest state of every device heard from (written in batches by the alert engine)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict
from sqlalchemy import JSON, Boolean, String
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, UtcDateTime
from devices.kinds.base import NAME_MAX


class Device(Base):
    __tablename__ = "devices"

    device_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    site: Mapped[str] = mapped_column(String(64), index=True)
    building: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(NAME_MAX))
    medium: Mapped[str | None] = mapped_column(String(16))
    unit: Mapped[str | None] = mapped_column(String(32))
    online: Mapped[bool | None] = mapped_column(Boolean)
    last_seen: Mapped[datetime] = mapped_column(UtcDateTime)
    last_state: Mapped[dict | None] = mapped_column(JSON)


class DeviceOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    device_id: str
    site: str
    building: str
    kind: str
    medium: str | None
    unit: str | None
    online: bool | None
    last_seen: datetime
    last_state: dict | None
