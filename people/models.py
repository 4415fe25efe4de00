"""Users and their API tokens."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import JSON, Boolean, ForeignKey, String, false
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
    name: Mapped[str | None] = mapped_column(String(64), doc="the person's name")
    phone: Mapped[str | None] = mapped_column(String(32), doc="owners log in with it (it is their username)")
    disabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    language: Mapped[str | None] = mapped_column(String(8), doc="zh_CN or en; empty: their site's")


class Invite(Base):
    """A one-time code that lets a person set their (first or a new) password: printed or sent by SMS."""

    __tablename__ = "invites"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    username: Mapped[str] = mapped_column(ForeignKey("users.username", ondelete="CASCADE"), index=True)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)


class ApiToken(Base):
    __tablename__ = "api_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    username: Mapped[str] = mapped_column(ForeignKey("users.username", ondelete="CASCADE"))
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    username: str
    role: Role
    name: str | None
    phone: str | None
    person_id: str | None
    sites: list[str]
    site: str | None
    building: str | None
    unit: str | None
    disabled: bool
    language: str | None


class UserIn(BaseModel):
    username: str = Field(min_length=1, max_length=64, pattern=r"^[\w.@+-]+$")
    role: Role
    password: str | None = Field(default=None, min_length=8, description="empty: an invite code is returned")
    name: str | None = Field(default=None, max_length=64)
    phone: str | None = Field(default=None, max_length=32)
    person_id: str | None = Field(default=None, max_length=64)
    sites: list[str] = []
    site: str | None = None
    building: str | None = None
    unit: str | None = None
    language: Literal["zh_CN", "en"] | None = None


class UserPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role | None = None
    name: str | None = Field(default=None, max_length=64)
    phone: str | None = Field(default=None, max_length=32)
    person_id: str | None = Field(default=None, max_length=64)
    sites: list[str] | None = None
    disabled: bool | None = None
    language: Literal["zh_CN", "en"] | None = None


class InviteOut(BaseModel):
    username: str
    code: str
    expires_at: datetime


class ActivateIn(BaseModel):
    username: str = Field(min_length=1, max_length=64, description="owners: their phone number")
    code: str = Field(min_length=4, max_length=20)
    password: str = Field(min_length=8, max_length=200)
