"""Users and their API tokens."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, UtcDateTime


class Role(StrEnum):
    STAFF = "staff"  # engineering staff: everything
    TECHNICIAN = "technician"  # work their sites' orders
    OWNER = "owner"  # read their building's and unit's notices


class User(Base):
    __tablename__ = "users"

    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(200))
    person_id: Mapped[str | None] = mapped_column(String(64), doc="technicians: their on-call person id")
    sites: Mapped[list] = mapped_column(JSON, default=list, doc="technicians: sites they work; empty = all")
    site: Mapped[str | None] = mapped_column(String(64), doc="owners")
    building: Mapped[str | None] = mapped_column(String(64), doc="owners")
    unit: Mapped[str | None] = mapped_column(String(32), doc="owners")


class ApiToken(Base):
    __tablename__ = "api_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    username: Mapped[str] = mapped_column(ForeignKey("users.username", ondelete="CASCADE"))
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
