"""The device registry: what the asset register says about each device (name, place, model, contractor), and the
newest state of every device heard from (written in batches by the alert engine).

A device that sends data before anyone registered it is ``pending`` until staff accept or reject it; an imported
device is ``active``; a ``decommissioned`` (or rejected) one has its rules stopped and leaves the lists."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict
from sqlalchemy import JSON, Boolean, Date, String
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, UtcDateTime
from devices.kinds.base import NAME_MAX


class DeviceStatus(StrEnum):
    PENDING = "pending"  # heard from, not in the register yet: staff accept or reject it
    ACTIVE = "active"  # in the register
    REJECTED = "rejected"  # not ours: its data is still stored, its rules no longer run
    DECOMMISSIONED = "decommissioned"  # taken out of service: no rules, not listed, no broker credential


RETIRED = (DeviceStatus.REJECTED.value, DeviceStatus.DECOMMISSIONED.value)


class Device(Base):
    __tablename__ = "devices"

    device_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    site: Mapped[str] = mapped_column(String(64), index=True)
    building: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(NAME_MAX))
    medium: Mapped[str | None] = mapped_column(String(16))
    unit: Mapped[str | None] = mapped_column(String(32))
    online: Mapped[bool | None] = mapped_column(Boolean)
    last_seen: Mapped[datetime | None] = mapped_column(UtcDateTime, doc="empty: registered, not heard from yet")
    last_state: Mapped[dict | None] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default=DeviceStatus.PENDING.value,
                                        server_default=DeviceStatus.PENDING.value, index=True)
    name: Mapped[str | None] = mapped_column(String(120), doc="what people call it, e.g. 2号电梯")
    floor: Mapped[str | None] = mapped_column(String(16))
    location: Mapped[str | None] = mapped_column(String(120), doc="shaft, entrance, room")
    household: Mapped[str | None] = mapped_column(String(32), doc="meters: the unit they measure")
    model: Mapped[str | None] = mapped_column(String(64))
    vendor: Mapped[str | None] = mapped_column(String(64))
    contractor: Mapped[str | None] = mapped_column(String(120), doc="maintenance contractor")
    contractor_phone: Mapped[str | None] = mapped_column(String(32))
    installed_on: Mapped[date | None] = mapped_column(Date)
    registration_code: Mapped[str | None] = mapped_column(String(64), doc="elevators: 注册代码")


class DeviceOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    device_id: str
    site: str
    building: str
    kind: str
    medium: str | None
    unit: str | None
    online: bool | None
    last_seen: datetime | None
    last_state: dict | None
    status: str
    name: str | None
    floor: str | None
    location: str | None
    household: str | None
    model: str | None
    vendor: str | None
    contractor: str | None
    contractor_phone: str | None
    installed_on: date | None
    registration_code: str | None
