"""The request catalogue (validated from the rules file's ``intake`` section), photo attachments (table), and the
API schemas of requests."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, UtcDateTime
from devices.kinds import Skill
from workorders.models import Priority

CATEGORY = r"^[a-z][a-z0-9_]{0,31}$"
CHANNELS = ("app", "phone", "walk_in", "wechat", "email", "api")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Category(_Strict):
    title: str = Field(min_length=1, max_length=120)
    titles: dict[str, str] = Field(default_factory=dict, description="the title in other languages: {zh_CN: ...}")
    skill: Skill = Field(description="who is dispatched (on-call routing by site and skill)")
    priority: Priority = Field(description="sets the SLA timers, as for device faults")
    where: Literal["unit", "building", "either"] = Field(
        default="either", description="a problem in the reporter's unit, in a common area, or either")
    service: Literal["basic", "special"] | None = Field(
        default=None, description="the matrix: basic or special service (default: as the priority says)")


class IntakeConfig(_Strict):
    categories: dict[str, Category] = Field(default_factory=dict)
    reopen_window_h: float = Field(default=168, gt=0, description="an owner may say 'not fixed' this long after")
    followup_timeout_h: float = Field(default=72, gt=0, description="a resolved order nobody could follow up "
                                                                     "closes as 'no answer' after this long")
    max_photos: int = Field(default=3, ge=0, le=10)
    max_photo_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)

    def category(self, name: str) -> Category:
        try:
            return self.categories[name]
        except KeyError:
            raise ValueError(f"unknown category {name!r}; one of {sorted(self.categories)}") from None


class Attachment(Base):
    """A photo of a request, stored as a file under the data directory (re-encoded: no EXIF, no payloads)."""

    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    work_order_id: Mapped[int] = mapped_column(ForeignKey("work_orders.id", ondelete="CASCADE"), index=True)
    stored_as: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(32))
    size: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class RequestIn(_Strict):
    """A request recorded by front-desk staff or an integration (``POST /work-orders``)."""

    site: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    building: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    unit: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]{1,32}$", description="None: a common area")
    category: str = Field(pattern=CATEGORY)
    description: str = Field(min_length=3, max_length=4000)
    reporter: str = Field(min_length=1, max_length=64, description="the caller's name")
    reporter_phone: str | None = Field(default=None, pattern=r"^[0-9+() -]{3,32}$")
    channel: Literal["phone", "walk_in", "wechat", "app", "email", "api"] = "phone"


class RatingIn(_Strict):
    rating: int = Field(ge=1, le=5, description="1 (poor) to 5 (excellent)")
    comment: str | None = Field(default=None, max_length=2000)


class NotFixedIn(_Strict):
    comment: str = Field(min_length=1, max_length=2000, description="what is still wrong")
