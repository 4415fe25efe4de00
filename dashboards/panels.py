"""Small panel factories, so each dashboard reads as a list of what it shows."""

from __future__ import annotations

from grafana_foundation_sdk.builders import barchart, dashboard, stat, table, timeseries
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models.dashboard import (
    DataSourceRef,
    Threshold,
    ThresholdsMode,
    VariableRefresh,
)

from dashboards.queries import INFLUX
from kpis.definitions import DRIFT  # the traffic-light rule has one home

Query = cogbuilder.Builder[cogvariants.Dataquery]

GREEN, YELLOW, RED = "green", "yellow", "red"


def kpi_thresholds(target: float, *, higher_is_better: bool = True) -> dashboard.ThresholdsConfig:
    """Red / yellow / green around a target: green at or past the target, yellow within 5 % of it, red beyond."""
    if higher_is_better:
        steps = [Threshold(None, RED), Threshold(round(target * (1 - DRIFT), 3), YELLOW), Threshold(target, GREEN)]
    else:
        steps = [Threshold(None, GREEN), Threshold(target, YELLOW), Threshold(round(target * (1 + DRIFT), 3), RED)]
    return dashboard.ThresholdsConfig().mode(ThresholdsMode.ABSOLUTE).steps(steps)


def count_thresholds(red_at: float = 1) -> dashboard.ThresholdsConfig:
    """Green at zero, red from ``red_at``: for things that should not happen (trapped passengers, offline)."""
    return dashboard.ThresholdsConfig().mode(ThresholdsMode.ABSOLUTE).steps(
        [Threshold(None, GREEN), Threshold(red_at, RED)])


def kpi(title: str, query: Query, target: float, description: str, *, unit: str = "percent",
        higher_is_better: bool = True, span: int = 6) -> stat.Panel:
    return (stat.Panel().title(title).description(description).with_target(query).unit(unit).decimals(1)
            .thresholds(kpi_thresholds(target, higher_is_better=higher_is_better)).height(5).span(span))


def single(title: str, query: Query, *, unit: str = "short", thresholds: dashboard.ThresholdsConfig | None = None,
           span: int = 4, description: str = "") -> stat.Panel:
    panel = stat.Panel().title(title).with_target(query).unit(unit).height(5).span(span)
    if description:
        panel = panel.description(description)
    if thresholds is not None:
        panel = panel.thresholds(thresholds)
    return panel


def series(title: str, query: Query, *, unit: str = "short", span: int = 12, description: str = "") -> timeseries.Panel:
    panel = timeseries.Panel().title(title).with_target(query).unit(unit).height(8).span(span)
    return panel.description(description) if description else panel


def grid(title: str, query: Query, *, span: int = 12, description: str = "") -> table.Panel:
    panel = table.Panel().title(title).with_target(query).height(8).span(span)
    return panel.description(description) if description else panel


def bars(title: str, query: Query, *, span: int = 12, unit: str = "short") -> barchart.Panel:
    return barchart.Panel().title(title).with_target(query).unit(unit).height(8).span(span)


def site_variables() -> list[dashboard.QueryVariable]:
    """``$site`` and ``$building`` from InfluxDB tag values, multi-select with All."""
    source = DataSourceRef(type_val=INFLUX.type_val, uid=INFLUX.uid)
    site = (dashboard.QueryVariable("site").label("Site").datasource(source)
            .query('SHOW TAG VALUES WITH KEY = "site"').multi(True).include_all(True)
            .refresh(VariableRefresh.ON_DASHBOARD_LOAD))
    building = (dashboard.QueryVariable("building").label("Building").datasource(source)
                .query('SHOW TAG VALUES WITH KEY = "building" WHERE "site" =~ /^$site$/').multi(True)
                .include_all(True).refresh(VariableRefresh.ON_DASHBOARD_LOAD))
    return [site, building]
