"""Daily KPI report per site: the KPIs of ``kpis`` (one definition, one computation, shared with the dashboards,
the API and the warnings) for a day [00:00, 24:00) on each site's clock, written as CSV and as a readable HTML
page, with their red / yellow / green status.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, tzinfo
from pathlib import Path

import pandas as pd
from sqlalchemy.orm import sessionmaker

from core.zones import Zones
from kpis.definitions import KPIS, status
from kpis.service import compute_day

__all__ = ["Report", "build", "status", "to_html"]


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


def build(sessions: sessionmaker, day: date, zones: Zones | tzinfo) -> Report:
    """The report of ``day``: each site's own calendar day in its zone (a single zone for all sites may be given)."""
    if not isinstance(zones, Zones):
        zones = Zones(zones)
    return Report(day, compute_day(sessions, zones, day))


COLOURS = {"green": "#dafbe1", "yellow": "#fff8c5", "red": "#ffebe9", "n/a": "#f6f8fa"}


def to_html(report: Report) -> str:
    table = report.table.copy()
    status_columns = [c for c in table.columns if c.endswith("_status")]
    styled = table.style.map(lambda v: f"background-color: {COLOURS.get(v, '')}", subset=status_columns) \
        .format(precision=1, na_rep="–").hide(axis="index")
    targets = ", ".join(f"{k.title.lower()} ≥ {k.target:g} %" for k in KPIS)
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>KPI report {report.day}</title><style>body{{font:15px system-ui,sans-serif;margin:1.5rem}}"
        "table{border-collapse:collapse}td,th{border:1px solid #d0d7de;padding:.3rem .5rem;text-align:right}"
        "th{background:#f6f8fa}</style></head><body>"
        f"<h1>Daily KPI report, {report.day:%Y-%m-%d}</h1><p>Targets: {targets}. Yellow: within 5 % of the "
        "target; red: further off.</p>" + styled.to_html() + "</body></html>"
    )
