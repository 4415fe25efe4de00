"""What was sent: one row per site and day, so the report goes out once, and a run missed while the service was
down is made up once on start."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, String
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, UtcDateTime


class ReportRun(Base):
    __tablename__ = "report_runs"

    site: Mapped[str] = mapped_column(String(64), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True, doc="the site's calendar day reported on")
    sent_at: Mapped[datetime] = mapped_column(UtcDateTime)
    pdf: Mapped[str] = mapped_column(String(300), doc="where the PDF was written")
