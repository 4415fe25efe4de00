"""The dashboards: facility health next to ticket metrics, with a red / yellow / green KPI row.

Every panel's query runs against the real InfluxDB / PostgreSQL in the tests (tests/dashboards). KPI targets
come from the seed plans: facility intact rate >= 98 %, fault repair rate >= 92 %, emergencies answered within
the 30-minute response circle.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard

from core import i18n
from core.i18n import _
from dashboards.panels import bars, count_thresholds, grid, kpi, series, single, site_variables
from dashboards.queries import INFLUX_FILTER as IF
from dashboards.queries import SQL, InfluxQL, sql_filter
from dashboards.queries import SQL_FILTER as SF
from devices import kinds
from kpis.definitions import KPIS
from register.service import kind_title

OPEN = "status IN ('open', 'acknowledged', 'in_progress')"
IN_SERVICE = "status NOT IN ('rejected', 'decommissioned')"  # devices the register retired leave the boards
URGENT = "priority IN ('life_safety', 'outage')"

MEASUREMENTS = ", ".join(f'"{k.measurement}"' for k in kinds.ALL)  # every kind's telemetry



def _board(uid: str, title: str, tags: list[str]) -> dashboard.Dashboard:
    """A board in the current language; a translated board gets its own uid (``community-elevators-zh_cn``)."""
    uid = uid if i18n.current() == i18n.SOURCE else f"{uid}-{i18n.current().lower()}"
    board = (dashboard.Dashboard(title).uid(uid).tags(["community", *tags]).time("now-24h", "now")
             .refresh("1m").timezone("browser").editable())
    for variable in site_variables():
        board = board.with_variable(variable)
    return board


def kpi_row(board: dashboard.Dashboard) -> dashboard.Dashboard:
    """Every KPI of ``kpis.definitions`` as the KPI watch computed it (measurement ``kpi``): the same figures the
    daily report, the API and the warnings use. Several sites selected: their mean."""
    board = board.with_row(dashboard.Row(_("Key performance indicators (red / yellow / green)")))
    for k in KPIS:
        board = board.with_panel(kpi(_(k.title), InfluxQL(
            f"SELECT mean(\"last\") FROM (SELECT last(\"value\") FROM \"kpi\" WHERE \"kpi\" = '{k.key}' "
            f"AND $timeFilter AND {IF} GROUP BY \"site\")"), k.target, f"{k.description}; target {k.target:g} %",
            span=4))
    return board


def overview() -> dashboard.Dashboard:
    board = kpi_row(_board("community-overview", _("Community: facility health and work orders"), ["overview"]))
    return (
        board.with_row(dashboard.Row(_("Facility health")))
        .with_panel(single(_("Devices online"), SQL(
            f"SELECT count(*) FILTER (WHERE online IS NOT FALSE) AS online FROM devices WHERE {IN_SERVICE} "
            f"AND {SF}")))
        .with_panel(single(_("Devices offline"), SQL(
            f"SELECT count(*) FILTER (WHERE online IS FALSE) AS offline FROM devices WHERE {IN_SERVICE} AND {SF}"),
            thresholds=count_thresholds()))
        .with_panel(single(_("Firing alerts"), SQL(
            f"SELECT count(*) AS firing FROM alerts WHERE firing AND {SF}"), thresholds=count_thresholds()))
        .with_panel(single(_("Notifications that reached nobody"), SQL(
            "SELECT count(*) AS undeliverable FROM notifications n LEFT JOIN work_orders w ON w.id = "
            "n.work_order_id WHERE n.status = 'failed' AND n.fell_back_to IS NULL AND $__timeFilter(n.created_at) "
            f"AND (w.id IS NULL OR ({sql_filter('w')}))"), thresholds=count_thresholds(),
            description="failed on every channel of the person's chain: phone them (GET /notifications?"
                        "undeliverable=true)"))
        .with_panel(grid(_("Open faults by kind and building"), SQL(
            f"SELECT kind, building, count(*) AS open FROM work_orders WHERE {OPEN} AND {SF} "
            "GROUP BY kind, building ORDER BY open DESC")))
        .with_panel(series(_("Telemetry messages"), InfluxQL(
            f"SELECT count(\"seq\") FROM {MEASUREMENTS} WHERE $timeFilter AND {IF} "
            "GROUP BY time($__interval) fill(0)"), description="Readings stored per interval, by device kind"))
        .with_panel(series(_("Device events"), InfluxQL(
            f"SELECT count(\"seq\") FROM \"device_event\" WHERE \"active\" = true AND $timeFilter AND {IF} "
            "GROUP BY time($__interval), \"kind\" fill(0)")))
        .with_row(dashboard.Row(_("Work orders")))
        .with_panel(bars(_("Open work orders by priority"), SQL(
            f"SELECT priority, count(*) AS open FROM work_orders WHERE {OPEN} AND {SF} GROUP BY priority "
            "ORDER BY priority"), span=12))
    )


def elevators() -> dashboard.Dashboard:
    availability = (
        "SELECT COALESCE(d.name, d.device_id) AS elevator, d.building, "
        "100 - 100 * COALESCE(sum(GREATEST(0, EXTRACT(EPOCH FROM (LEAST(COALESCE(w.resolved_at, $__timeTo()), "
        "$__timeTo()) - GREATEST(w.created_at, $__timeFrom()))))), 0)"
        " / EXTRACT(EPOCH FROM ($__timeTo() - $__timeFrom())) AS \"availability %\" "
        "FROM devices d LEFT JOIN work_orders w ON w.device_id = d.device_id AND w.priority IN "
        "('life_safety', 'outage') AND w.created_at <= $__timeTo() "
        "AND COALESCE(w.resolved_at, $__timeTo()) >= $__timeFrom() "
        f"WHERE d.kind = 'elevator' AND d.{IN_SERVICE} AND {sql_filter('d')} "
        "GROUP BY d.device_id, d.name, d.building ORDER BY 3"
    )
    return (
        _board("community-elevators", _("Elevators"), ["elevator"])
        .with_panel(grid(_("Availability per elevator"), SQL(availability), span=8,
                         description="100 % minus the time under an open life-safety or outage order"))
        .with_panel(single(_("Trapped-passenger incidents"), SQL(
            f"SELECT count(*) AS incidents FROM work_orders WHERE rule_id = 'elevator_trapped' "
            f"AND $__timeFilter(created_at) AND {SF}"), thresholds=count_thresholds(), span=4))
        .with_panel(series(_("Car movement (running samples)"), InfluxQL(
            f"SELECT count(\"floor\") FROM \"elevator\" WHERE \"running\" = true AND $timeFilter AND {IF} "
            "GROUP BY time($__interval) fill(0)"), span=6))
        .with_panel(series(_("Speed (max per elevator)"), InfluxQL(
            f"SELECT max(\"speed_mps\") FROM \"elevator\" WHERE $timeFilter AND {IF} "
            "GROUP BY time($__interval), \"device\""), unit="velocityms", span=6))
        .with_panel(bars(_("Elevator faults by type"), InfluxQL(
            f"SELECT count(\"seq\") FROM \"device_event\" WHERE \"kind\" = 'elevator' AND \"active\" = true "
            f"AND $timeFilter AND {IF} GROUP BY \"event\"", result_format="table")))
    )


def access() -> dashboard.Dashboard:
    watched = "(\"event\" = 'access_denied' OR \"event\" = 'door_forced_open' OR \"event\" = 'door_held_open')"
    return (
        _board("community-access", _("Access control"), ["access"])
        .with_panel(bars(_("Denied / forced / held open"), InfluxQL(
            f"SELECT count(\"seq\") FROM \"device_event\" WHERE \"kind\" = 'access' AND {watched} "
            f"AND $timeFilter AND {IF} GROUP BY \"event\"", result_format="table"), span=6))
        .with_panel(grid(_("Doors now"), InfluxQL(
            f"SELECT last(\"door\") AS door, last(\"open_s\") AS open_s FROM \"access\" WHERE $timeFilter "
            f"AND {IF} GROUP BY \"device\"", result_format="table"), span=6))
        .with_panel(series(_("Access events"), InfluxQL(
            f"SELECT count(\"seq\") FROM \"device_event\" WHERE \"kind\" = 'access' AND $timeFilter AND {IF} "
            "GROUP BY time($__interval), \"event\" fill(0)")))
    )


def meters() -> dashboard.Dashboard:
    return (
        _board("community-meters", _("Meters and energy"), ["meter"])
        .with_panel(series(_("Consumption per day by medium"), InfluxQL(
            "SELECT sum(\"used\") FROM (SELECT spread(\"reading\") AS \"used\" FROM \"meter\" WHERE $timeFilter "
            f"AND {IF} GROUP BY time(1d), \"device\", \"medium\") GROUP BY time(1d), \"medium\""),
            description="m³ (water, gas, heat) or kWh (electricity): the register's spread per meter, summed"))
        .with_panel(series(_("Minimum flow per water meter (night flow: leaks never reach zero)"), InfluxQL(
            f"SELECT min(\"flow\") FROM \"meter\" WHERE \"medium\" = 'water' AND $timeFilter AND {IF} "
            "GROUP BY time(1h), \"device\""), span=6))
        .with_panel(grid(_("Meter anomalies now"), SQL(
            "SELECT a.rule_id, a.device_id, a.building, d.unit, a.last_fired_at, a.detail FROM alerts a "
            "JOIN devices d ON d.device_id = a.device_id WHERE d.kind = 'meter' AND a.firing "
            f"AND {sql_filter('a')} ORDER BY a.last_fired_at DESC"), span=6))
        .with_panel(grid(_("Battery per meter"), InfluxQL(
            f"SELECT last(\"battery_pct\") AS battery FROM \"meter\" WHERE $timeFilter AND {IF} GROUP BY \"device\"",
            result_format="table")))
    )


def tickets() -> dashboard.Dashboard:
    return (
        kpi_row(_board("community-tickets", _("Work orders and service levels"), ["tickets"]))
        .with_row(dashboard.Row(_("Backlog")))
        .with_panel(bars(_("Open by priority"), SQL(
            f"SELECT priority, count(*) AS open FROM work_orders WHERE {OPEN} AND {SF} GROUP BY priority "
            "ORDER BY priority"), span=6))
        .with_panel(bars(_("Open by demand-response matrix cell"), SQL(
            f"SELECT COALESCE(matrix_cell, 'unclassified') AS cell, count(*) AS open FROM work_orders "
            f"WHERE {OPEN} AND {SF} GROUP BY 1 ORDER BY 1"), span=6))
        .with_panel(single(_("Oldest open order (hours)"), SQL(
            "SELECT COALESCE(max(EXTRACT(EPOCH FROM (now() - created_at))) / 3600, 0) AS hours "
            f"FROM work_orders WHERE {OPEN} AND {SF}"), unit="h", span=3))
        .with_panel(single(_("Owner rating (follow-up visits)"), SQL(
            "SELECT COALESCE(avg(rating), 0) AS rating FROM work_orders WHERE rating IS NOT NULL "
            f"AND $__timeFilter(followed_up_at) AND {SF}"), span=3))
        .with_row(dashboard.Row(_("Times")))
        .with_panel(series(_("Time to acknowledge"), InfluxQL(
            f"SELECT mean(\"seconds\") FROM \"work_order\" WHERE \"action\" = 'acknowledge' AND $timeFilter "
            f"AND {IF} GROUP BY time($__interval), \"priority\""), unit="s", span=6))
        .with_panel(series(_("Time to repair"), InfluxQL(
            f"SELECT mean(\"seconds\") FROM \"work_order\" WHERE \"action\" = 'resolve' AND $timeFilter "
            f"AND {IF} GROUP BY time($__interval), \"priority\""), unit="s", span=6))
        .with_panel(series(_("Orders opened per hour"), SQL(
            "SELECT date_trunc('hour', created_at) AS time, count(*) AS opened FROM work_orders "
            f"WHERE $__timeFilter(created_at) AND {SF} GROUP BY 1 ORDER BY 1", fmt="time_series")))
    )


def kind_board(spec: kinds.DeviceKind) -> dashboard.Dashboard:
    """The dashboard every device kind gets from its registry entry, unless it has a hand-made one below: devices
    online, firing alerts, open orders, its numeric telemetry fields (``DeviceKind.fields``) and its events."""
    kind = f"kind = '{spec.name}'"
    board = (
        _board(f"community-{spec.name.replace('_', '-')}", spec.title + "s" if i18n.current() == "en" else
               kind_title(spec.name), [spec.name])
        .with_panel(single(_("Devices online"), SQL(
            f"SELECT count(*) FILTER (WHERE online IS NOT FALSE) AS online FROM devices WHERE {kind} AND {IN_SERVICE} "
            f"AND {SF}"),
            span=4))
        .with_panel(single(_("Firing alerts"), SQL(
            "SELECT count(*) AS firing FROM alerts a JOIN devices d ON d.device_id = a.device_id "
            f"WHERE d.{kind} AND a.firing AND {sql_filter('d')}"), thresholds=count_thresholds(), span=4))
        .with_panel(single(_("Open work orders"), SQL(
            f"SELECT count(*) AS open FROM work_orders WHERE {kind} AND {OPEN} AND {SF}"),
            thresholds=count_thresholds(), span=4))
    )
    for name, unit in spec.fields.items():
        board = board.with_panel(series(f"{name} (max per device)", InfluxQL(
            f"SELECT max(\"{name}\") FROM \"{spec.measurement}\" WHERE $timeFilter AND {IF} "
            "GROUP BY time($__interval), \"device\" fill(none)"), span=6, description=unit))
    return board.with_panel(series(_("Events"), InfluxQL(
        f"SELECT count(\"seq\") FROM \"device_event\" WHERE \"kind\" = '{spec.name}' AND \"active\" = true "
        f"AND $timeFilter AND {IF} GROUP BY time($__interval), \"event\" fill(0)")))


HAND_MADE = {"elevator": ("elevators", elevators), "access": ("access", access), "meter": ("meters", meters)}


def _kind_boards() -> dict[str, object]:
    boards = {}
    for spec in kinds.ALL:
        name, make = HAND_MADE.get(spec.name, (spec.name, lambda spec=spec: kind_board(spec)))
        boards[name] = make
    return boards


DASHBOARDS = {"overview": overview, **_kind_boards(), "tickets": tickets}
