"""Render Grafana's query macros and template variables the way Grafana does, so the tests (and the KPI
report) can run every panel's query against the real InfluxDB and PostgreSQL without a Grafana server.

Only what the dashboards use is covered: ``$timeFilter``, ``$__interval`` (InfluxQL); ``$__timeFilter(col)``,
``$__timeFrom()``, ``$__timeTo()`` (SQL); and the ``$site`` / ``$building`` variables (regex for InfluxQL, a
quoted list for SQL, as Grafana formats multi-value variables for each data source).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Context:
    start: datetime
    end: datetime
    interval: str = "1h"
    variables: dict[str, list[str]] = field(default_factory=dict)  # empty list = All


def _influx_regex(values: list[str]) -> str:
    if not values:
        return ".*"
    return "(" + "|".join(re.escape(v) for v in values) + ")"


def _sql_list(values: list[str], all_values: list[str]) -> str:
    chosen = values or all_values
    return ",".join("'" + v.replace("'", "''") + "'" for v in chosen) or "''"


def render_influxql(query: str, ctx: Context) -> str:
    start_ms, end_ms = int(ctx.start.timestamp() * 1000), int(ctx.end.timestamp() * 1000)
    out = query.replace("$timeFilter", f"time >= {start_ms}ms AND time <= {end_ms}ms")
    out = out.replace("$__interval", ctx.interval)
    for name, values in ctx.variables.items():
        out = out.replace(f"${name}", _influx_regex(values))
    return out


def render_sql(sql: str, ctx: Context, all_values: dict[str, list[str]]) -> str:
    start, end = f"'{ctx.start.isoformat()}'::timestamptz", f"'{ctx.end.isoformat()}'::timestamptz"
    out = re.sub(r"\$__timeFilter\(([^)]+)\)", lambda m: f"{m.group(1)} BETWEEN {start} AND {end}", sql)
    out = out.replace("$__timeFrom()", start).replace("$__timeTo()", end)
    for name, values in ctx.variables.items():
        out = out.replace(f"${name}", _sql_list(values, all_values.get(name, [])))
    return out
