"""KPI colours per site (the last one judged), the warnings a change of colour sent, the ``kpis`` section of the
rules file, and the API schemas."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Float, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, UtcDateTime


class KpiState(Base):
    """The colour a KPI of a site had when last judged: a warning goes out only when it changes."""

    __tablename__ = "kpi_states"

    site: Mapped[str] = mapped_column(String(64), primary_key=True)
    kpi: Mapped[str] = mapped_column(String(40), primary_key=True)
    colour: Mapped[str] = mapped_column(String(8))
    value: Mapped[float | None] = mapped_column(Float)
    judged_at: Mapped[datetime] = mapped_column(UtcDateTime)
    since: Mapped[datetime] = mapped_column(UtcDateTime, doc="when it took this colour")


class KpiWarning(Base):
    __tablename__ = "kpi_warnings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    site: Mapped[str] = mapped_column(String(64), index=True)
    kpi: Mapped[str] = mapped_column(String(40))
    colour: Mapped[str] = mapped_column(String(8))
    previous: Mapped[str | None] = mapped_column(String(8))
    value: Mapped[float | None] = mapped_column(Float)
    target: Mapped[float] = mapped_column(Float)


class KpiConfig(BaseModel):
    """``kpis:`` in the rules file: how often KPIs are judged, and who hears of a change of colour per site."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    every_s: float = Field(default=900, ge=10, description="judged this often, over the site's day so far")
    managers: dict[str, list[str]] = Field(
        default_factory=dict, description="site -> on-call people ids told of KPI colour changes; 'default' for "
                                          "sites not listed")

    def managers_of(self, site: str) -> list[str]:
        return self.managers.get(site, self.managers.get("default", []))


class KpiStateOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    site: str
    kpi: str
    colour: str
    value: float | None
    judged_at: datetime
    since: datetime


class KpiWarningOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    site: str
    kpi: str
    colour: str
    previous: str | None
    value: float | None
    target: float
