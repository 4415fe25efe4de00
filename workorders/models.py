"""Work orders and their audit trail (tables), priorities and SLA timers (validated from the rules file's ``sla``
section), and the schemas the API answers with."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base, UtcDateTime
from devices.kinds.base import NAME_MAX


class Status(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    CLOSED = "closed"


INCIDENT = "incident"
"""The ``kind`` of an order that concerns many devices at once (a storm incident, ``alerts.storms``)."""
REQUEST = "request"
"""The ``kind`` of an order a person asked for (``intake``)."""

OPEN_STATUSES = (Status.OPEN.value, Status.ACKNOWLEDGED.value, Status.IN_PROGRESS.value)


class Priority(StrEnum):
    LIFE_SAFETY = "life_safety"
    OUTAGE = "outage"
    DEGRADATION = "degradation"
    MAINTENANCE = "maintenance"


class SlaTimes(BaseModel):
    """The three timers of a priority, in seconds from the order's creation."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    acknowledge_s: int = Field(gt=0)
    arrive_s: int = Field(gt=0)
    resolve_s: int = Field(gt=0)

    def due(self, start: datetime) -> tuple[datetime, datetime, datetime]:
        return (start + timedelta(seconds=self.acknowledge_s), start + timedelta(seconds=self.arrive_s),
                start + timedelta(seconds=self.resolve_s))


URGENCY, SERVICE, REACH = ("urgent", "routine"), ("basic", "special"), ("individual", "collective")
CELLS = tuple(f"{u}-{s}-{r}" for u in URGENCY for s in SERVICE for r in REACH)
"""The demand-response matrix: every order is urgent or routine x basic or special x individual or collective."""


class Matrix(BaseModel):
    """``matrix:`` in the rules file: the SLA of each cell, and the cell of each device-fault priority. An order's
    deadlines are the stricter of its priority's and its cell's, timer by timer."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cells: dict[str, SlaTimes]
    priorities: dict[Priority, Literal["urgent-basic", "urgent-special", "routine-basic", "routine-special"]] = Field(
        default_factory=lambda: {Priority.LIFE_SAFETY: "urgent-basic", Priority.OUTAGE: "urgent-basic",
                                 Priority.DEGRADATION: "routine-basic", Priority.MAINTENANCE: "routine-special"},
        description="urgency and service of a priority (a request's category may set the service itself)")

    @model_validator(mode="after")
    def _every_cell(self) -> Matrix:
        missing, unknown = sorted(set(CELLS) - set(self.cells)), sorted(set(self.cells) - set(CELLS))
        if missing or unknown:
            raise ValueError(f"cells must be exactly {list(CELLS)}; missing {missing}, unknown {unknown}")
        return self

    def cell(self, priority: Priority, *, service: str | None = None, individual: bool = False) -> str:
        urgency, default_service = self.priorities[priority].split("-")
        return f"{urgency}-{service or default_service}-{'individual' if individual else 'collective'}"

    def deadlines(self, priority_sla: SlaTimes, cell: str, start: datetime) -> tuple[datetime, datetime, datetime]:
        strict = SlaTimes(**{t: min(getattr(priority_sla, t), getattr(self.cells[cell], t))
                             for t in ("acknowledge_s", "arrive_s", "resolve_s")})
        return strict.due(start)


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
    kind: Mapped[str] = mapped_column(String(NAME_MAX))
    title: Mapped[str] = mapped_column(String(200))
    titles: Mapped[dict | None] = mapped_column(JSON, doc="the title in other languages, from the rules data")
    priority: Mapped[str] = mapped_column(String(16), index=True)
    skill: Mapped[str] = mapped_column(String(NAME_MAX))
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
    # people's requests (intake/): who asked, how, what for
    source: Mapped[str] = mapped_column(String(16), default="device", doc="device | owner | front_desk | integration")
    channel: Mapped[str | None] = mapped_column(String(16), doc="app | phone | walk_in | wechat | email | api")
    category: Mapped[str | None] = mapped_column(String(32), index=True)
    description: Mapped[str | None] = mapped_column(Text)
    reporter: Mapped[str | None] = mapped_column(String(64), index=True, doc="the owner's username, or the caller")
    reporter_phone: Mapped[str | None] = mapped_column(String(32))
    reopened: Mapped[int] = mapped_column(Integer, default=0, doc="times the owner said it was not fixed")
    matrix_cell: Mapped[str | None] = mapped_column(String(32), index=True, doc="urgency-service-reach")
    arrive_escalated_at: Mapped[datetime | None] = mapped_column(UtcDateTime, doc="nobody on site in time")
    resolve_escalated_at: Mapped[datetime | None] = mapped_column(UtcDateTime, doc="not resolved in time")
    request_key: Mapped[str | None] = mapped_column(String(160), unique=True,
                                                    doc="caller:Idempotency-Key, so a retried request is one order")

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


# --- API schemas ---
class _Orm(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class WorkOrderEventOut(_Orm):
    at: datetime
    actor: str
    action: str
    from_status: str | None
    to_status: str | None
    note: str | None


class WorkOrderOut(_Orm):
    id: int
    rule_id: str
    device_id: str
    site: str
    building: str
    unit: str | None
    kind: str
    title: str
    priority: str
    skill: str
    status: str
    life_safety: bool
    assignee: str | None
    escalation_level: int
    occurrences: int
    created_at: datetime
    acknowledged_at: datetime | None
    started_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    fault_cleared_at: datetime | None
    ack_due_at: datetime
    arrive_due_at: datetime
    resolve_due_at: datetime
    resolution_note: str | None
    rating: int | None
    follow_up_comment: str | None
    source: str
    channel: str | None
    category: str | None
    description: str | None
    reporter: str | None
    reporter_phone: str | None
    reopened: int
    matrix_cell: str | None


class WorkOrderDetail(WorkOrderOut):
    events: list[WorkOrderEventOut]


class ActionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str | None = Field(default=None, max_length=2000)


class FollowUpIn(BaseModel):
    """The follow-up call or visit: the owner's rating, or that nobody answered."""

    model_config = ConfigDict(extra="forbid")
    outcome: Literal["rated", "no_answer"] = "rated"
    rating: int | None = Field(default=None, ge=1, le=5, description="the owner's rating, 1 (poor) to 5 (excellent)")
    comment: str | None = Field(default=None, max_length=2000)

    @model_validator(mode="after")
    def _rated_needs_a_rating(self) -> FollowUpIn:
        if (self.outcome == "rated") != (self.rating is not None):
            raise ValueError("give a rating with outcome 'rated', and none with 'no_answer'")
        return self


class ClassifyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    cell: Literal[CELLS] = Field(description="urgent|routine - basic|special - individual|collective")  # type: ignore[valid-type]
    note: str | None = Field(default=None, max_length=2000)


class AssignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    person: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="an on-call person's id")
    note: str | None = Field(default=None, max_length=2000)
