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
from datetime import datetime, timedelta

import pandas as pd

from alerts.config import AnalyticsRule
from ingest.influx import InfluxV1Client


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


def _frames(series: list[dict]) -> list[tuple[dict, pd.DataFrame]]:
    out = []
    for s in series:
        frame = pd.DataFrame(s["values"], columns=s["columns"])
        frame["time"] = pd.to_datetime(frame["time"], unit="ms", utc=True)
        out.append((s.get("tags", {}), frame))
    return out


def _finding(tags: dict, fault: bool, detail: str) -> Finding:
    return Finding(tags["device"], tags["site"], tags["building"], tags.get("unit") or None,
                   tags.get("medium") or None, fault, detail)


def night_flow_leak(influx: InfluxV1Client, rule: AnalyticsRule, now: datetime) -> list[Finding]:
    since = now - timedelta(hours=rule.lookback_h)
    series = influx.query(
        f"SELECT \"flow\" FROM \"meter\" WHERE time >= {int(since.timestamp() * 1000)}ms{_media_clause(rule)} "
        "GROUP BY \"device\", \"site\", \"building\", \"unit\", \"medium\""
    )
    start_h, end_h = rule.night_hours
    findings = []
    for tags, frame in _frames(series):
        local_hours = frame["time"].dt.tz_convert(now.astimezone().tzinfo).dt.hour
        night = frame[(local_hours >= start_h) & (local_hours < end_h)]
        if len(night) < 3:
            continue  # not enough night readings to judge
        minimum = float(night["flow"].min())
        findings.append(_finding(tags, minimum > rule.min_flow,
                                 f"minimum night flow {minimum:.3f} over {len(night)} readings"))
    return findings


def _daily_spread(influx: InfluxV1Client, rule: AnalyticsRule, now: datetime) -> list[tuple[dict, pd.DataFrame]]:
    since = now - timedelta(days=rule.baseline_days)
    series = influx.query(
        f"SELECT spread(\"reading\") AS used, count(\"reading\") AS n FROM \"meter\" "
        f"WHERE time >= {int(since.timestamp() * 1000)}ms AND time <= {int(now.timestamp() * 1000)}ms"
        f"{_media_clause(rule)} GROUP BY time(1d), \"device\", \"site\", \"building\", \"unit\", \"medium\""
    )
    return [(tags, frame[frame["n"].fillna(0) > 0]) for tags, frame in _frames(series)]


def consumption_anomaly(influx: InfluxV1Client, rule: AnalyticsRule, now: datetime) -> list[Finding]:
    findings = []
    for tags, days in _daily_spread(influx, rule, now):
        if len(days) < 4:
            continue  # need a baseline of at least three days plus the day judged
        history, latest = days["used"].iloc[:-1], float(days["used"].iloc[-1])
        mean, std = float(history.mean()), float(history.std(ddof=0))
        deviation = abs(latest - mean)
        fault = deviation > rule.sigma * std if std > 0 else deviation > max(mean, 1e-9) * rule.sigma
        findings.append(_finding(tags, fault, f"latest day {latest:.3f} vs mean {mean:.3f} (std {std:.3f})"))
    return findings


def zero_consumption(influx: InfluxV1Client, rule: AnalyticsRule, now: datetime) -> list[Finding]:
    findings = []
    for tags, days in _daily_spread(influx, rule, now):
        if len(days) < rule.baseline_days - 1:
            continue  # the meter has not reported over (nearly) the whole period
        total = float(days["used"].sum())
        findings.append(_finding(tags, total == 0.0, f"consumption {total:.3f} over {len(days)} days"))
    return findings


ANALYSES = {
    "night_flow_leak": night_flow_leak,
    "consumption_anomaly": consumption_anomaly,
    "zero_consumption": zero_consumption,
}


def run(influx: InfluxV1Client, rule: AnalyticsRule, now: datetime) -> list[Finding]:
    return ANALYSES[rule.analysis](influx, rule, now)
