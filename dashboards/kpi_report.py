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

from core import i18n
from core.i18n import N_, _
from core.zones import Zones
from kpis.definitions import KPIS, status
from kpis.service import compute_day

__all__ = ["Report", "build", "status", "to_html"]


@dataclass(frozen=True)
class Report:
    day: date
    table: pd.DataFrame  # one row per site

    def write(self, directory: Path, lang: str = i18n.DEFAULT) -> tuple[Path, Path]:
        directory.mkdir(parents=True, exist_ok=True)
        csv_path = directory / f"kpi-{self.day.isoformat()}.csv"
        html_path = directory / f"kpi-{self.day.isoformat()}.html"
        self.table.to_csv(csv_path, index=False)
        html_path.write_text(to_html(self, lang), encoding="utf-8")
        return csv_path, html_path


def build(sessions: sessionmaker, day: date, zones: Zones | tzinfo) -> Report:
    """The report of ``day``: each site's own calendar day in its zone (a single zone for all sites may be given)."""
    if not isinstance(zones, Zones):
        zones = Zones(zones)
    return Report(day, compute_day(sessions, zones, day))


COLOURS = {"green": "#dafbe1", "yellow": "#fff8c5", "red": "#ffebe9", "n/a": "#f6f8fa"}
COLUMNS = {"site": N_("site"), "devices": N_("devices"), "orders_opened": N_("orders opened"),
           "orders_resolved": N_("orders resolved"), "urgent_opened": N_("urgent orders"),
           "routine_opened": N_("routine orders"), "emergency_orders": N_("emergency orders"),
           "requests_opened": N_("requests"), "mean_minutes_to_acknowledge": N_("minutes to acknowledge (mean)"),
           "mean_minutes_to_repair": N_("minutes to repair (mean)"), "mean_rating": N_("rating (mean)")}


def to_html(report: Report, lang: str = i18n.DEFAULT) -> str:
    """The report as a page in ``lang``: columns named as people say them, colours on the KPIs' status."""
    with i18n.using(lang):
        table = report.table.copy()
        status_columns = [c for c in table.columns if c.endswith("_status")]
        for column in status_columns:
            table[column] = table[column].map(lambda v: i18n.label(v) if v != "n/a" else "–")
        colour_of = {i18n.label(c): code for c, code in COLOURS.items()}
        names = {k.key: _(k.title) for k in KPIS} | {c: _(text) for c, text in COLUMNS.items()}
        names |= {f"{k.key}_status": _("%(kpi)s: status", kpi=_(k.title)) for k in KPIS}
        table = table.rename(columns=names)
        styled = table.style.map(lambda v: f"background-color: {colour_of.get(v, '')}",
                                 subset=[names[c] for c in status_columns]) \
            .format(precision=1, na_rep="–").hide(axis="index")
        targets = _(", ").join(f"{_(k.title)} ≥ {k.target:g} %" for k in KPIS)
        title = _("Daily KPI report, %(day)s", day=f"{report.day:%Y-%m-%d}")
        legend = _("Targets: %(targets)s. Yellow: within 5 %% of the target; red: further off.", targets=targets)
    return (
        f"<!doctype html><html lang='{lang.replace('_', '-')}'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{title}</title><style>body{{font:15px system-ui,\"WenQuanYi Micro Hei\",sans-serif;"
        "margin:1.5rem}table{border-collapse:collapse}td,th{border:1px solid #d0d7de;padding:.3rem .5rem;"
        "text-align:right}th{background:#f6f8fa}</style></head><body>"
        f"<h1>{title}</h1><p>{legend}</p>" + styled.to_html() + "</body></html>"
    )
