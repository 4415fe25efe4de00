"""A site's report of one day, as data: the summary (each KPI, its value, target, colour and change since the day
before), the 30-day trend, and the day's orders (by category and priority, and how fast they were acknowledged).
One computation (``kpis.service``) with the dashboards, the API and the warnings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, tzinfo

import pandas as pd
from sqlalchemy.orm import sessionmaker

from kpis.definitions import KPIS, Kpi, status
from kpis.service import history

TREND_DAYS = 30


@dataclass(frozen=True)
class Line:
    kpi: Kpi
    value: float | None
    colour: str  # green / yellow / red / n/a
    change: float | None  # percentage points since the day before


@dataclass(frozen=True)
class SiteReport:
    site: str
    day: date
    lines: list[Line]
    trend: pd.DataFrame  # one row per day, a column per KPI
    orders: pd.DataFrame  # the orders opened that day
    counts: dict  # opened, resolved, requests, mean minutes to acknowledge / repair

    @property
    def worst(self) -> str:
        colours = {line.colour for line in self.lines}
        return next((c for c in ("red", "yellow", "green") if c in colours), "n/a")

    def acknowledge_minutes(self) -> pd.Series:
        done = self.orders[self.orders["acknowledged_at"].notna()]
        return ((done["acknowledged_at"] - done["created_at"]).dt.total_seconds() / 60).round(1)


def build(sessions: sessionmaker, tz: tzinfo, site: str, day: date) -> SiteReport:
    trend, orders = history(sessions, tz, site, day, TREND_DAYS)
    today, yesterday = trend.iloc[-1], trend.iloc[-2] if len(trend) > 1 else None
    lines = []
    for kpi in KPIS:
        value = _number(today.get(kpi.key))
        before = _number(yesterday.get(kpi.key)) if yesterday is not None else None
        change = round(value - before, 1) if value is not None and before is not None else None
        lines.append(Line(kpi, value, status(value, kpi.target), change))
    counts = {key: _number(today.get(key)) for key in ("orders_opened", "orders_resolved", "requests_opened",
                                                         "mean_minutes_to_acknowledge", "mean_minutes_to_repair")}
    return SiteReport(site, day, lines, trend, orders, counts)


def _number(value: object) -> float | None:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    return float(value)
