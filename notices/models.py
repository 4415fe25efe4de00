"""Notices (table), who hears of a fault (``Scope``), the texts (validated from the rules file's ``notices``
section), and the API schema."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import JSON, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, UtcDateTime


class Scope(StrEnum):
    """Who hears about a fault: the whole building (shared facility), one unit (private), or no owner."""

    BUILDING = "building"
    UNIT = "unit"
    NONE = "none"


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
    texts: Mapped[dict | None] = mapped_column(JSON, doc="the notice in every language: {zh_CN: ..., en: ...}")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)


class NoticeTexts(BaseModel):
    """Templates (``str.format``) with ``where`` (the device's name in the register, or kind, id and building),
    ``device`` (its name, or kind and id), ``building`` (its id), ``building_name`` (its name, or "Building b1"),
    ``unit``, ``title``, ``dispatched``, ``fixed``, and for ``progress`` also ``step`` and ``at``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    fault: str = "{where}: {title}. Technician dispatched at {dispatched:%H:%M}."
    fixed: str = "{where}: {title}: fixed at {fixed:%H:%M}. Thank you for your patience."
    unit_fault: str = "Unit {unit}: {title} on your {device}. We have dispatched a technician ({dispatched:%H:%M})."
    unit_fixed: str = "Unit {unit}: {title} on your {device}: fixed at {fixed:%H:%M}."
    progress: str = "{title}: {step} ({at:%H:%M})."  # a person's request, at each step of its work
    translations: dict[str, dict[str, str]] = Field(default_factory=lambda: {"zh_CN": {
        "fault": "{where}：{title}。维修人员已于 {dispatched:%H:%M} 出发。",
        "fixed": "{where}：{title}，已于 {fixed:%H:%M} 修复。感谢您的耐心等待。",
        "unit_fault": "{unit} 室：您的{device}出现“{title}”。我们已派出维修人员（{dispatched:%H:%M}）。",
        "unit_fixed": "{unit} 室：您的{device}“{title}”已于 {fixed:%H:%M} 修复。",
        "progress": "{title}：{step}（{at:%H:%M}）。"}}, description=(
        "per language (zh_CN), the same templates; one missing shows the English one marked [en]"))

    def template(self, name: str, lang: str) -> str:
        if lang == "en":
            return getattr(self, name)
        found = self.translations.get(lang, {}).get(name)
        return found if found else f"[en] {getattr(self, name)}"

    @field_validator("translations")
    @classmethod
    def _translations_render(cls, translations: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        for lang, texts in translations.items():
            unknown = set(texts) - {"fault", "fixed", "unit_fault", "unit_fixed", "progress"}
            if unknown:
                raise ValueError(f"{lang}: unknown notice texts {sorted(unknown)}")
            for name, template in texts.items():
                _check(template, f"{lang}.{name}")
        return translations

    @field_validator("fault", "fixed", "unit_fault", "unit_fixed", "progress")
    @classmethod
    def _renders(cls, template: str) -> str:
        """Render with sample values at load, so a typo (``{devce}``) stops the start instead of every order."""
        return _check(template)


def _check(template: str, name: str = "") -> str:
    try:
        render(template, **SAMPLE)
    except (KeyError, IndexError, ValueError, AttributeError, TypeError) as err:
        where = f"{name}: " if name else ""
        raise ValueError(f"{where}does not render ({type(err).__name__}: {err}); fields: {', '.join(SAMPLE)}") from None
    return template


SAMPLE = {"device": "Elevator s1b1-el1", "building": "b1", "building_name": "Building b1",
          "where": "Elevator s1b1-el1, Building b1", "unit": "0101", "title": "passengers trapped",
          "dispatched": datetime(2026, 1, 1, 10, 2, tzinfo=UTC), "fixed": datetime(2026, 1, 1, 11, 30, tzinfo=UTC),
          "step": "a technician has taken it", "at": datetime(2026, 1, 1, 10, 5, tzinfo=UTC)}


def render(template: str, **values: object) -> str:
    return template.format(**values)


class NoticeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    work_order_id: int
    site: str
    building: str
    unit: str | None
    phase: str
    text: str
    created_at: datetime
