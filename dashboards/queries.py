"""Panel queries as grafana-foundation-sdk builders, for the two data sources the dashboards use:

- InfluxDB in InfluxQL mode (works on InfluxDB 1.x, 2.x and 3.x through the v1 API): facility telemetry and
  ticket-metric points;
- PostgreSQL (the work-order database): where SQL fits better (current state, ratios over orders).

The SDK has no InfluxQL or SQL query builders of its own; these produce the same JSON Grafana saves.
"""

from __future__ import annotations

from dataclasses import dataclass

from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models.dashboard import DataSourceRef

INFLUX = DataSourceRef(type_val="influxdb", uid="community-influxdb")
WORKORDERS = DataSourceRef(type_val="grafana-postgresql-datasource", uid="community-workorders")

# Filters every panel applies from the dashboard's template variables.
INFLUX_FILTER = "\"site\" =~ /^$site$/ AND \"building\" =~ /^$building$/"
SQL_FILTER = "site IN ($site) AND building IN ($building)"


def sql_filter(alias: str) -> str:
    """``SQL_FILTER`` on a table alias (for joins): ``d.site IN ($site) AND d.building IN ($building)``."""
    return f"{alias}.site IN ($site) AND {alias}.building IN ($building)"


@dataclass
class _Query(cogvariants.Dataquery):
    body: dict

    def to_json(self) -> dict:
        return self.body


class InfluxQL(cogbuilder.Builder[cogvariants.Dataquery]):
    """A raw InfluxQL query (``rawQuery``), as Grafana's query editor stores it in raw mode."""

    def __init__(self, query: str, *, ref_id: str = "A", result_format: str = "time_series",
                 alias: str | None = None) -> None:
        self.body = {"refId": ref_id, "datasource": {"type": INFLUX.type_val, "uid": INFLUX.uid}, "query": query,
                     "rawQuery": True, "resultFormat": result_format}
        if alias:
            self.body["alias"] = alias

    def build(self) -> cogvariants.Dataquery:
        return _Query(self.body)


class SQL(cogbuilder.Builder[cogvariants.Dataquery]):
    """A raw SQL query for the PostgreSQL data source (code editor mode)."""

    def __init__(self, sql: str, *, ref_id: str = "A", fmt: str = "table") -> None:
        self.body = {"refId": ref_id, "datasource": {"type": WORKORDERS.type_val, "uid": WORKORDERS.uid},
                     "rawSql": sql, "rawQuery": True, "editorMode": "code", "format": fmt}

    def build(self) -> cogvariants.Dataquery:
        return _Query(self.body)
