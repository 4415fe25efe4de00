"""Analytics rules: judgements over InfluxDB history with pandas, run on a schedule.

- ``night_flow_leak``: a water meter whose *minimum* flow during the night hours never reached (near) zero is
  leaking: in a healthy flat nobody draws water every minute between 01:00 and 05:00.
- ``consumption_anomaly``: yesterday's consumption (the spread of the register) far from the device's own mean
  over the baseline days (more than ``sigma`` standard deviations).
- ``zero_consumption``: the register has not moved at all over the baseline days (vacant flat or stuck meter).

Each returns ``Finding``s: a verdict (fault or healthy) per device that had enough data to judge.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta, tzinfo

import pandas as pd

from alerts.config import AnalyticsRule
from core.partition import Owns, owned
from core.zones import Zones
from ingest.influx import InfluxConfig, InfluxV1Client


@dataclass(frozen=True, slots=True)
class Finding:
    device_id: str
    site: str
    building: str
    unit: str | None
    medium: str | None
    fault: bool
    detail: str


def _media_clause(rule: AnalyticsRule) -> str:
    if not rule.media:
        return ""
    return " AND (" + " OR ".join(f"\"medium\" = '{m}'" for m in rule.media) + ")"


TAGS = ["device", "site", "building", "unit", "medium"]


def _frame(series: list[dict]) -> pd.DataFrame:
    """All series of a ``GROUP BY`` query as one long frame with the tags as columns.

    One frame for the whole fleet rather than one per device: per-device frames cost milliseconds each and ran on
    the service's own interpreter while telemetry was streaming (measured: 18 % of it during a drain).
    """
    parts = []
    for s in series:
        part = pd.DataFrame(s["values"], columns=s["columns"])
        tags = s.get("tags", {})
        for tag in TAGS:
            part[tag] = tags.get(tag) or ""
        parts.append(part)
    if not parts:
        return pd.DataFrame(columns=["time", *TAGS])
    frame = pd.concat(parts, ignore_index=True)
    frame["time"] = pd.to_datetime(frame["time"], unit="ms", utc=True)
    return frame


def _findings(table: pd.DataFrame, fault: pd.Series, detail: pd.Series) -> list[Finding]:
    """One verdict per row of a table indexed by the tags."""
    return [Finding(device, site, building, unit or None, medium or None, bool(is_fault), text)
            for (device, site, building, unit, medium), is_fault, text
            in zip(table.index, fault, detail, strict=True)]


def night_flow_leak(influx: InfluxV1Client, rule: AnalyticsRule, now: datetime,
                    zones: Zones | None = None) -> list[Finding]:
    """Night is the meter's site's night (``night_hours`` on the site's clock, whatever the server's zone).

    InfluxDB sums the readings up per quarter of an hour (minimum and count), and only over the nights of the
    lookback window: one query per time zone the sites use, from its first night's start to its last night's
    end. Fetching every raw reading of the whole window instead cost InfluxDB and the interpreter seconds at a few
    hundred meters reporting every second (docs/performance.md). Every zone's offset is a whole number of
    quarters, so each quarter falls in one local hour on any site's clock."""
    since = now - timedelta(hours=rule.lookback_h)
    zones = zones or Zones()
    frames = []
    for tz, sites in _zone_clauses(zones):
        span = _nights(rule, since, now, tz)
        if span is None:
            continue
        first, last = span
        frames.append(_frame(influx.query(
            f"SELECT min(\"flow\") AS low, count(\"flow\") AS n FROM \"meter\" "
            f"WHERE time >= {int(first.timestamp() * 1000)}ms AND time <= {int(last.timestamp() * 1000)}ms"
            f"{_media_clause(rule)}{sites} "
            "GROUP BY time(15m), \"device\", \"site\", \"building\", \"unit\", \"medium\" fill(none)")))
    frames = [f for f in frames if not f.empty]
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if frame.empty:
        return []
    start_h, end_h = rule.night_hours
    local_hours = pd.Series(0, index=frame.index)
    for site, rows in frame.groupby("site").groups.items():
        local_hours[rows] = frame.loc[rows, "time"].dt.tz_convert(zones.of(site)).dt.hour
    night = frame[(local_hours >= start_h) & (local_hours < end_h)]
    table = night.groupby(TAGS, sort=True).agg(min=("low", "min"), count=("n", "sum"))
    table = table[table["count"] >= 3]  # not enough night readings to judge the others
    detail = [f"minimum night flow {m:.3f} over {n} readings" for m, n in zip(table["min"], table["count"],
                                                                                strict=True)]
    return _findings(table, table["min"] > rule.min_flow, pd.Series(detail, dtype=object))


def _zone_clauses(zones: Zones) -> list[tuple[tzinfo, str]]:
    """(zone, InfluxQL site condition) for every zone the sites use: the sites given a zone of their own other than
    the default by name, the rest (every site not named) under the default zone."""
    default = str(zones.default)
    others: dict[str, list[str]] = {}
    for site, tz in zones.sites.items():
        if str(tz) != default:
            others.setdefault(str(tz), []).append(site)
    clauses = [(zones.default, "".join(f" AND \"site\" != {_quoted(s)}" for group in others.values()
                                       for s in group))]
    for group in others.values():
        clauses.append((zones.of(group[0]), " AND (" + " OR ".join(f"\"site\" = {_quoted(s)}" for s in group) + ")"))
    return clauses


def _quoted(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _nights(rule: AnalyticsRule, since: datetime, now: datetime, tz: tzinfo) -> tuple[datetime, datetime] | None:
    """From the start of the first night to the end of the last one on ``tz``'s clock, within [since, now]."""
    start_h, end_h = rule.night_hours
    spans = []
    day = since.astimezone(tz).date() - timedelta(days=1)
    while day <= now.astimezone(tz).date():
        first = max(datetime.combine(day, time(start_h), tz), since)
        last = min(datetime.combine(day, time(end_h), tz), now)
        if first < last:
            spans.append((first, last))
        day += timedelta(days=1)
    return (spans[0][0], spans[-1][1]) if spans else None


def _daily_use(influx: InfluxV1Client, rule: AnalyticsRule, now: datetime) -> pd.DataFrame:
    """Consumption per device and day (the spread of the register), days without readings left out."""
    since = now - timedelta(days=rule.baseline_days)
    frame = _frame(influx.query(
        f"SELECT spread(\"reading\") AS used, count(\"reading\") AS n FROM \"meter\" "
        f"WHERE time >= {int(since.timestamp() * 1000)}ms AND time <= {int(now.timestamp() * 1000)}ms"
        f"{_media_clause(rule)} GROUP BY time(1d), \"device\", \"site\", \"building\", \"unit\", \"medium\""
    ))
    if frame.empty:
        return frame
    return frame[frame["n"].fillna(0) > 0].sort_values([*TAGS, "time"])


def consumption_anomaly(influx: InfluxV1Client, rule: AnalyticsRule, now: datetime) -> list[Finding]:
    days = _daily_use(influx, rule, now)
    if days.empty:
        return []
    is_latest = days.groupby(TAGS).cumcount(ascending=False) == 0
    baseline = days[~is_latest].groupby(TAGS)["used"]
    history = pd.DataFrame({"days": baseline.count(), "mean": baseline.mean(), "std": baseline.std(ddof=0)})
    table = history.join(days[is_latest].set_index(TAGS)["used"].rename("latest"), how="inner")
    table = table[table["days"] >= 3]  # a baseline of at least three days plus the day judged
    deviation = (table["latest"] - table["mean"]).abs()
    fault = (deviation > rule.sigma * table["std"]).where(
        table["std"] > 0, deviation > table["mean"].clip(lower=1e-9) * rule.sigma)
    detail = [f"latest day {latest:.3f} vs mean {mean:.3f} (std {std:.3f})"
              for latest, mean, std in zip(table["latest"], table["mean"], table["std"], strict=True)]
    return _findings(table, fault, pd.Series(detail, dtype=object))


def zero_consumption(influx: InfluxV1Client, rule: AnalyticsRule, now: datetime) -> list[Finding]:
    days = _daily_use(influx, rule, now)
    if days.empty:
        return []
    table = days.groupby(TAGS)["used"].agg(["sum", "count"])
    table = table[table["count"] >= rule.baseline_days - 1]  # reported over (nearly) the whole period
    detail = [f"consumption {total:.3f} over {n} days" for total, n in zip(table["sum"], table["count"], strict=True)]
    return _findings(table, table["sum"] == 0.0, pd.Series(detail, dtype=object))


ANALYSES = {
    "night_flow_leak": night_flow_leak,
    "consumption_anomaly": consumption_anomaly,
    "zero_consumption": zero_consumption,
}


def run(influx: InfluxV1Client, rule: AnalyticsRule, now: datetime, zones: Zones | None = None) -> list[Finding]:
    if rule.analysis == "night_flow_leak":
        return night_flow_leak(influx, rule, now, zones)
    return ANALYSES[rule.analysis](influx, rule, now)


_clients: dict[InfluxConfig, InfluxV1Client] = {}


def run_remote(config: InfluxConfig, rule: AnalyticsRule, now: datetime, zones: Zones | None,
               owns: Owns | None) -> list[Finding]:
    """``run`` in the offload child (core/offload.py), with a client of its own kept between runs; only the
    findings of the engine's own sites travel back."""
    influx = _clients.get(config) or _clients.setdefault(config, InfluxV1Client(config))
    return [f for f in run(influx, rule, now, zones) if owned(owns, f.site)]
