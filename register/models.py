"""The asset register's tables: sites, buildings and households (a household is a unit with the people living in
it; a vacant unit is a household without a holder), and the MQTT credentials issued to devices and to the
service's processes. Devices are registered in ``devices.models.Device`` and owners in ``people.models.User``."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Boolean, Float, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, UtcDateTime


class Site(Base):
    __tablename__ = "sites"

    site_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    timezone: Mapped[str | None] = mapped_column(String(64), doc="IANA name; empty = COMMUNITY_TIMEZONE")
    language: Mapped[str | None] = mapped_column(String(8), doc="its people's default language; empty = "
                                                                "COMMUNITY_LANGUAGE")
    manager: Mapped[str | None] = mapped_column(String(64))
    manager_phone: Mapped[str | None] = mapped_column(String(32))
    address: Mapped[str | None] = mapped_column(String(200))


class Building(Base):
    __tablename__ = "buildings"

    site_id: Mapped[str] = mapped_column(ForeignKey("sites.site_id"), primary_key=True)
    building_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(120), doc="what people call it, e.g. 3号楼")
    floors: Mapped[int | None] = mapped_column(Integer)


class Household(Base):
    __tablename__ = "households"

    site_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    building_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    unit: Mapped[str] = mapped_column(String(32), primary_key=True, doc="the flat's number, e.g. 1-0502")
    floor: Mapped[str | None] = mapped_column(String(16))
    area_m2: Mapped[float | None] = mapped_column(Float)
    holder: Mapped[str | None] = mapped_column(String(64), doc="户主")
    phone: Mapped[str | None] = mapped_column(String(32))


class MqttCredential(Base):
    """One broker user: a ``device`` (username = device id = its only client id), a process of the ``service``
    (reads every device topic, publishes notices), or a ``bridge`` that publishes for many devices (a vendor's
    cloud, the simulator)."""

    __tablename__ = "mqtt_credentials"

    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    role: Mapped[str] = mapped_column(String(16), doc="device, service or bridge")
    device_id: Mapped[str | None] = mapped_column(String(64), index=True, doc="devices only")
    password_hash: Mapped[str] = mapped_column(String(200), doc="Mosquitto's own format ($7$, PBKDF2-SHA512)")
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class SiteOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    site_id: str
    name: str
    timezone: str | None
    manager: str | None
    manager_phone: str | None
    address: str | None


class BuildingOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    site_id: str
    building_id: str
    name: str | None
    floors: int | None


class HouseholdOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    site_id: str
    building_id: str
    unit: str
    floor: str | None
    area_m2: float | None
    holder: str | None
    phone: str | None
