"""Tables of the alert engine: devices (latest state), alerts (rule x device state), work orders and their audit
trail, owner notices, outgoing notifications, users and API tokens."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from community.db import Base, UtcDateTime


class Status(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    CLOSED = "closed"


class Role(StrEnum):
    STAFF = "staff"  # engineering staff: everything
    TECHNICIAN = "technician"  # work their sites' orders
    OWNER = "owner"  # read their building's and unit's notices


class Device(Base):
    __tablename__ = "devices"

    device_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    site: Mapped[str] = mapped_column(String(64), index=True)
    building: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    medium: Mapped[str | None] = mapped_column(String(16))
    unit: Mapped[str | None] = mapped_column(String(32))
    online: Mapped[bool | None] = mapped_column(Boolean)
    last_seen: Mapped[datetime] = mapped_column(UtcDateTime)
    last_state: Mapped[dict | None] = mapped_column(JSON)


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


class WorkOrder(Base):
    __tablename__ = "work_orders"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    open_key: Mapped[str | None] = mapped_column(String(140), unique=True,
                                                 doc="rule:device while open; NULL once resolved (dedup)")
    rule_id: Mapped[str] = mapped_column(String(64), index=True)
    device_id: Mapped[str] = mapped_column(String(64), index=True)
    site: Mapped[str] = mapped_column(String(64), index=True)
    building: Mapped[str] = mapped_column(String(64))
    unit: Mapped[str | None] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(200))
    priority: Mapped[str] = mapped_column(String(16), index=True)
    skill: Mapped[str] = mapped_column(String(16))
    scope: Mapped[str] = mapped_column(String(16))
    life_safety: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), index=True, default=Status.OPEN.value)
    assignee: Mapped[str | None] = mapped_column(String(64), index=True)
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    occurrences: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    fault_cleared_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    ack_due_at: Mapped[datetime] = mapped_column(UtcDateTime)
    arrive_due_at: Mapped[datetime] = mapped_column(UtcDateTime)
    resolve_due_at: Mapped[datetime] = mapped_column(UtcDateTime)
    resolution_note: Mapped[str | None] = mapped_column(Text)
    rating: Mapped[int | None] = mapped_column(Integer)
    follow_up_comment: Mapped[str | None] = mapped_column(Text)
    followed_up_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    events: Mapped[list[WorkOrderEvent]] = relationship(
        back_populates="work_order", order_by="WorkOrderEvent.id", cascade="all, delete-orphan")


class WorkOrderEvent(Base):
    """Audit trail: every transition, assignment, escalation and occurrence, with who and when."""

    __tablename__ = "work_order_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    work_order_id: Mapped[int] = mapped_column(ForeignKey("work_orders.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str | None] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)

    work_order: Mapped[WorkOrder] = relationship(back_populates="events")


class Notice(Base):
    """What owners read: a building-wide notice for shared facilities, or a private one for a unit."""

    __tablename__ = "notices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    work_order_id: Mapped[int] = mapped_column(ForeignKey("work_orders.id", ondelete="CASCADE"), index=True)
    site: Mapped[str] = mapped_column(String(64))
    building: Mapped[str] = mapped_column(String(64))
    unit: Mapped[str | None] = mapped_column(String(32), doc="NULL: the whole building")
    phase: Mapped[str] = mapped_column(String(16), doc="fault | fixed")
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)


class Notification(Base):
    """One message to one recipient over one channel; sent by the dispatcher with retries, outcome recorded."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    work_order_id: Mapped[int | None] = mapped_column(ForeignKey("work_orders.id", ondelete="SET NULL"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    recipient: Mapped[str] = mapped_column(String(300))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[dict] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), index=True, default="pending")  # pending | sent | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime, index=True)


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

