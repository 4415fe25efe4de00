"""Computing the KPIs (kpis.definitions) per site over a period, with pandas over the work-order database. The
daily report, the KPI watch (its warnings and the points the dashboards show) and the API all call ``compute``."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, tzinfo

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from core.partition import Owns, owned
from core.zones import Zones
from devices.models import Device
from kpis.definitions import KPIS, status
from workorders.models import REQUEST, WorkOrder, WorkOrderEvent

URGENT = ("life_safety", "outage")
TIMEOUT_NOTE = "no follow-up within"  # how workorders.scheduled.close_unanswered records a follow-up nobody made
ORDER_COLUMNS = ["id", "site", "device_id", "kind", "category", "priority", "matrix_cell", "assignee", "created_at",
                 "acknowledged_at", "started_at", "resolved_at", "closed_at", "resolve_due_at", "rating",
                 "followed_up_at", "follow_up_comment"]
TIMES = ("created_at", "acknowledged_at", "started_at", "resolved_at", "closed_at", "resolve_due_at",
         "followed_up_at")


def compute(sessions: sessionmaker, start: datetime, end: datetime, site: str | None = None) -> pd.DataFrame:
    """One row per site: every KPI (percent, None when there was nothing to measure), its ``<kpi>_status`` and the
    counts and means the daily report shows."""
    devices, orders, first = _load(sessions, end, site)
    start_ts, end_ts = pd.Timestamp(start), pd.Timestamp(end)
    sites = sorted(set(devices["site"]) | set(orders["site"]))
    table = pd.DataFrame([_site_row(s, devices, orders, first, start_ts, end_ts) for s in sites])
    for kpi in KPIS:
        if kpi.key in table:
            table[f"{kpi.key}_status"] = [status(v, kpi.target) for v in table[kpi.key]]
    return table


def sites(sessions: sessionmaker) -> list[str]:
    with sessions() as session:
        return sorted(set(session.scalars(select(Device.site).distinct())) |
                      set(session.scalars(select(WorkOrder.site).distinct())))


def day_of(day: date, tz: tzinfo) -> tuple[datetime, datetime]:
    """[00:00, 24:00) of a day on a site's clock."""
    start = datetime.combine(day, time(0), tz)
    return start, datetime.combine(day + timedelta(days=1), time(0), tz)


def compute_days(sessions: sessionmaker, zones: Zones, now: datetime, owns: Owns | None = None) -> pd.DataFrame:
    """Each site's KPIs over its own day so far (the day and midnight of its own zone; this instant included);
    ``owns``: an alert engine partition's sites only."""
    parts = []
    for site in (s for s in sites(sessions) if owned(owns, s)):
        tz = zones.of(site)
        start, _ = day_of(now.astimezone(tz).date(), tz)
        parts.append(compute(sessions, start, now + timedelta(microseconds=1), site))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def compute_day(sessions: sessionmaker, zones: Zones, day: date) -> pd.DataFrame:
    """Each site's KPIs over a whole day of its own calendar (the daily report)."""
    parts = [compute(sessions, *day_of(day, zones.of(site)), site) for site in sites(sessions)]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def history(sessions: sessionmaker, tz: tzinfo, site: str, day: date, days: int = 30) -> tuple[pd.DataFrame,
                                                                                                  pd.DataFrame]:
    """A site's KPI rows for each of the ``days`` days up to ``day`` (its own calendar; one read of the database),
    and the orders opened on ``day`` itself (for the report's charts)."""
    devices, orders, first = _load(sessions, day_of(day, tz)[1], site)
    rows = []
    for back in range(days - 1, -1, -1):
        start, end = day_of(day - timedelta(days=back), tz)
        rows.append({"day": (day - timedelta(days=back)).isoformat(),
                     **_site_row(site, devices, orders, first, pd.Timestamp(start), pd.Timestamp(end))})
    start, end = day_of(day, tz)
    today = orders[(orders["created_at"] >= pd.Timestamp(start)) & (orders["created_at"] < pd.Timestamp(end))]
    return pd.DataFrame(rows), today.reset_index(drop=True)


def _load(sessions: sessionmaker, end: datetime, site: str | None) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    with sessions() as session:
        device_query, order_query = select(Device), select(WorkOrder).where(WorkOrder.created_at < end)
        if site is not None:
            device_query, order_query = device_query.where(Device.site == site), order_query.where(
                WorkOrder.site == site)
        devices = _frame(session.scalars(device_query).all(), ["device_id", "site"])
        orders = _frame(session.scalars(order_query).all(), ORDER_COLUMNS)
        ids = [int(i) for i in orders["id"]]
        first: dict[int, str] = {}
        if ids:
            for order_id, note in session.execute(select(WorkOrderEvent.work_order_id, WorkOrderEvent.note).where(
                    WorkOrderEvent.work_order_id.in_(ids), WorkOrderEvent.action == "assigned")
                    .order_by(WorkOrderEvent.id)).all():
                first.setdefault(order_id, note)  # the first "assigned" is the dispatch (creation)
    for column in TIMES:
        orders[column] = pd.to_datetime(orders[column], utc=True)
    return devices, orders, first


def _frame(rows: list, columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame([{c: getattr(r, c) for c in columns} for r in rows], columns=columns)


def _pct(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def _minutes(deltas: pd.Series) -> float | None:
    deltas = deltas.dropna()
    return round(deltas.dt.total_seconds().mean() / 60, 1) if len(deltas) else None


def _within(frame: pd.DataFrame, later: str, minutes: float) -> int:
    done = frame[frame[later].notna()]
    return int((done[later] - done["created_at"] <= pd.Timedelta(minutes=minutes)).sum())


def _site_row(site: str, devices: pd.DataFrame, orders: pd.DataFrame, first: dict[int, str], start: pd.Timestamp,
              end: pd.Timestamp) -> dict:
    mine = orders[orders["site"] == site]
    site_devices = devices[devices["site"] == site]
    overlapping = mine[(mine["priority"] != "maintenance") & (mine["created_at"] < end)
                       & (mine["resolved_at"].isna() | (mine["resolved_at"] >= start))]
    faulty = set(overlapping["device_id"]) & set(site_devices["device_id"])
    opened = mine[(mine["created_at"] >= start) & (mine["created_at"] < end)]
    repaired = opened[opened["resolved_at"].notna() & (opened["resolved_at"] < end)]
    urgent = opened[opened["priority"].isin(URGENT)]
    resolved = mine[mine["resolved_at"].notna() & (mine["resolved_at"] >= start) & (mine["resolved_at"] < end)]
    in_sla = resolved[resolved["resolved_at"] <= resolved["resolve_due_at"]]
    dispatched = resolved[resolved["id"].isin(list(first))]
    accurate = sum(first[int(i)] == a for i, a in zip(dispatched["id"], dispatched["assignee"], strict=True))
    closed = mine[mine["closed_at"].notna() & (mine["closed_at"] >= start) & (mine["closed_at"] < end)]
    followed = closed[closed["rating"].notna() | ~closed["follow_up_comment"].fillna("").str.startswith(TIMEOUT_NOTE)]
    rated = mine[mine["rating"].notna() & (mine["followed_up_at"] >= start) & (mine["followed_up_at"] < end)]
    requests = opened[opened["kind"] == REQUEST]
    complaints = opened[opened["category"] == "complaint"]
    ratings = resolved["rating"].dropna()
    return {
        "site": site,
        "devices": len(site_devices),
        "facility_intact_rate": _pct(len(site_devices) - len(faulty), len(site_devices)),
        "orders_opened": len(opened),
        "orders_resolved": len(resolved),
        "fault_repair_rate": _pct(len(repaired), len(opened)),
        "emergency_orders": len(urgent),
        "emergency_response_30min": _pct(_within(urgent, "started_at", 30), len(urgent)),
        "sla_compliance": _pct(len(in_sla), len(resolved)),
        "requests_opened": len(requests),
        "intake_response_3min": _pct(_within(requests, "acknowledged_at", 3), len(requests)),
        "dispatch_accuracy": _pct(int(accurate), len(dispatched)),
        "follow_up_rate": _pct(len(followed), len(closed)),
        "owner_satisfaction": _pct(int((rated["rating"] >= 4).sum()), len(rated)),
        "complaint_cycle_24h": _pct(_within(complaints, "resolved_at", 24 * 60), len(complaints)),
        "urgent_opened": int(opened["matrix_cell"].fillna("").str.startswith("urgent").sum()),
        "routine_opened": int(opened["matrix_cell"].fillna("").str.startswith("routine").sum()),
        "mean_minutes_to_acknowledge": _minutes(opened["acknowledged_at"] - opened["created_at"]),
        "mean_minutes_to_repair": _minutes(repaired["resolved_at"] - repaired["created_at"]),
        "mean_rating": round(float(ratings.mean()), 2) if len(ratings) else None,
    }
