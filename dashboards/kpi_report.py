"""Daily KPI report per site (pandas): the seed plans' key metrics with their red / yellow / green status,
written as CSV and as a readable HTML page.

For a day [00:00, 24:00) in the given time zone:

- facility intact rate: devices with no outage or life-safety order overlapping the day / devices (target 98 %);
- fault repair rate: orders opened that day and resolved by the end of it / orders opened (target 92 %);
- emergency response within 30 min: life-safety and outage orders opened that day whose work started within
  30 minutes / those orders (target 100 %);
- SLA compliance: orders resolved that day before their resolve timer / orders resolved that day (target 95 %);
- mean time to acknowledge and to repair (minutes), orders opened / resolved, mean owner rating.

Status: green at or past the target, yellow within 5 % of it (the traffic-light rule), red beyond.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from pathlib import Path

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from dashboards.panels import DRIFT
from devices.models import Device
from workorders.models import WorkOrder

TARGETS = {"facility_intact_rate": 98.0, "fault_repair_rate": 92.0, "emergency_response_30min": 100.0,
           "sla_compliance": 95.0}
URGENT = ("life_safety", "outage")


@dataclass(frozen=True)
class Report:
    day: date
    table: pd.DataFrame  # one row per site

    def write(self, directory: Path) -> tuple[Path, Path]:
        directory.mkdir(parents=True, exist_ok=True)
        csv_path = directory / f"kpi-{self.day.isoformat()}.csv"
        html_path = directory / f"kpi-{self.day.isoformat()}.html"
        self.table.to_csv(csv_path, index=False)
        html_path.write_text(to_html(self), encoding="utf-8")
        return csv_path, html_path


def status(value: float | None, target: float) -> str:
    if value is None or pd.isna(value):
        return "n/a"
    if value >= target:
        return "green"
    return "yellow" if value >= target * (1 - DRIFT) else "red"


def _frame(rows: list, columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame([{c: getattr(r, c) for c in columns} for r in rows], columns=columns)


def build(sessions: sessionmaker, day: date, tz: tzinfo) -> Report:
    start = datetime.combine(day, time(0), tz)
    end = start + timedelta(days=1)
    with sessions() as session:
        devices = _frame(session.scalars(select(Device)).all(), ["device_id", "site"])
        orders = _frame(session.scalars(select(WorkOrder).where(WorkOrder.created_at < end)).all(), [
            "id", "site", "device_id", "priority", "created_at", "acknowledged_at", "started_at", "resolved_at",
            "resolve_due_at", "rating"])
    for column in ("created_at", "acknowledged_at", "started_at", "resolved_at", "resolve_due_at"):
        orders[column] = pd.to_datetime(orders[column], utc=True)
    start_ts, end_ts = pd.Timestamp(start), pd.Timestamp(end)
    sites = sorted(set(devices["site"]) | set(orders["site"]))
    rows = [_site_row(site, devices, orders, start_ts, end_ts) for site in sites]
    table = pd.DataFrame(rows)
    for kpi, target in TARGETS.items():
        if kpi in table:
            table[f"{kpi}_status"] = [status(v, target) for v in table[kpi]]
    return Report(day, table)


def _pct(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def _minutes(deltas: pd.Series) -> float | None:
    deltas = deltas.dropna()
    return round(deltas.dt.total_seconds().mean() / 60, 1) if len(deltas) else None


def _site_row(site: str, devices: pd.DataFrame, orders: pd.DataFrame, start: pd.Timestamp,
              end: pd.Timestamp) -> dict:
    mine = orders[orders["site"] == site]
    site_devices = devices[devices["site"] == site]
    overlapping = mine[(mine["priority"] != "maintenance") & (mine["created_at"] < end)
                       & (mine["resolved_at"].isna() | (mine["resolved_at"] >= start))]
    faulty = set(overlapping["device_id"]) & set(site_devices["device_id"])
    opened = mine[(mine["created_at"] >= start) & (mine["created_at"] < end)]
    repaired = opened[opened["resolved_at"].notna() & (opened["resolved_at"] < end)]
    urgent = opened[opened["priority"].isin(URGENT)]
    responded = urgent[urgent["started_at"].notna()
                       & (urgent["started_at"] <= urgent["created_at"] + pd.Timedelta(minutes=30))]
    resolved_today = mine[mine["resolved_at"].notna() & (mine["resolved_at"] >= start) & (mine["resolved_at"] < end)]
    in_sla = resolved_today[resolved_today["resolved_at"] <= resolved_today["resolve_due_at"]]
    ratings = resolved_today["rating"].dropna()
    return {
        "site": site,
        "devices": len(site_devices),
        "facility_intact_rate": _pct(len(site_devices) - len(faulty), len(site_devices)),
        "orders_opened": len(opened),
        "orders_resolved": len(resolved_today),
        "fault_repair_rate": _pct(len(repaired), len(opened)),
        "emergency_orders": len(urgent),
        "emergency_response_30min": _pct(len(responded), len(urgent)),
        "sla_compliance": _pct(len(in_sla), len(resolved_today)),
        "mean_minutes_to_acknowledge": _minutes(opened["acknowledged_at"] - opened["created_at"]),
        "mean_minutes_to_repair": _minutes(repaired["resolved_at"] - repaired["created_at"]),
        "mean_rating": round(float(ratings.mean()), 2) if len(ratings) else None,
    }


COLOURS = {"green": "#dafbe1", "yellow": "#fff8c5", "red": "#ffebe9", "n/a": "#f6f8fa"}


def to_html(report: Report) -> str:
    table = report.table.copy()
    status_columns = [c for c in table.columns if c.endswith("_status")]
    styled = table.style.map(lambda v: f"background-color: {COLOURS.get(v, '')}", subset=status_columns) \
        .format(precision=1, na_rep="–").hide(axis="index")
    targets = ", ".join(f"{k.replace('_', ' ')} ≥ {v:g} %" for k, v in TARGETS.items())
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>KPI report {report.day}</title><style>body{{font:15px system-ui,sans-serif;margin:1.5rem}}"
        "table{border-collapse:collapse}td,th{border:1px solid #d0d7de;padding:.3rem .5rem;text-align:right}"
        "th{background:#f6f8fa}</style></head><body>"
        f"<h1>Daily KPI report, {report.day:%Y-%m-%d}</h1><p>Targets: {targets}. Yellow: within 5 % of the "
        "target; red: further off.</p>" + styled.to_html() + "</body></html>"
    )
