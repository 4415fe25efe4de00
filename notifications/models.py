"""The outbox: one message to one recipient over one channel (a link of a person's chain: when it fails for good,
the next link is written), and the policy from the rules file's ``notify:`` section."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import JSON, Float, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, UtcDateTime
from people.oncall import ChannelName


class Notification(Base):
    """Sent by the dispatcher with retries; the outcome (sent, or failed with the reason) is recorded."""

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
    person_id: Mapped[str | None] = mapped_column(String(64), doc="the on-call person it is for")
    priority: Mapped[str | None] = mapped_column(String(16))
    chain: Mapped[list] = mapped_column(JSON, default=list, doc="[channel, recipient] links left after this one")
    give_up_at: Mapped[datetime | None] = mapped_column(UtcDateTime, doc="retry window end (by priority)")
    window_s: Mapped[float | None] = mapped_column(Float, doc="the retry window, kept for the next link")
    fell_back_to: Mapped[int | None] = mapped_column(Integer, doc="the next link, written when this one failed")

    @property
    def undeliverable(self) -> bool:
        """Failed on its last channel: an operator must reach the person another way."""
        return self.status == "failed" and self.fell_back_to is None


class NotifyPolicy(BaseModel):
    """How people are reached (rules file, ``notify:``): per priority, the chain of channels tried in order (a
    person's own ``channels`` replace it), the chain for escalations, and how long one channel is retried before
    the next is tried."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    chains: dict[str, list[ChannelName]] = Field(default_factory=lambda: {
        "life_safety": ["wecom", "dingtalk", "feishu", "sms", "webhook", "email"],
        "outage": ["wecom", "dingtalk", "feishu", "sms", "webhook", "email"],
        "degradation": ["wecom", "dingtalk", "feishu", "webhook", "email"],
        "maintenance": ["wecom", "dingtalk", "feishu", "webhook", "email"]})
    escalation_chains: dict[str, list[ChannelName]] = Field(default_factory=lambda: {
        "life_safety": ["voice", "sms", "wecom", "dingtalk", "feishu", "webhook", "email"]},
        description="when nobody acknowledged or arrived in time; priorities not listed use chains")
    retry_window_s: dict[str, float] = Field(default_factory=lambda: {
        "life_safety": 120, "outage": 900, "degradation": 3600, "maintenance": 4 * 3600})

    def chain(self, priority: str, *, escalation: bool = False) -> list[str]:
        if escalation and priority in self.escalation_chains:
            return list(self.escalation_chains[priority])
        return list(self.chains.get(priority, ["webhook", "email"]))

    def window_s(self, priority: str | None) -> float:
        return self.retry_window_s.get(priority or "", 3600)


class NotificationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    work_order_id: int | None
    person_id: str | None
    priority: str | None
    channel: str
    recipient: str
    subject: str
    status: str
    attempts: int
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None
    chain: list | None
    fell_back_to: int | None
