"""Dashboards as code: structure of the generated JSON, and every panel query executed against the real
InfluxDB and PostgreSQL after the simulator and the alert engine have produced data (no Grafana runs here)."""

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
import yaml
from sqlalchemy import text

from dashboards.build import GENERATED, LANGUAGES, PROVISIONING, all_dashboards, datasources
from dashboards.catalog import HAND_MADE
from dashboards.macros import Context, render_influxql, render_sql
from devices import kinds
from devices.kinds import Kind
from intake.service import NewRequest, submit
from kpis.definitions import DRIFT
from simulator.fleet import Fleet
from tests.conftest import wait_for

KPI_TITLES = {"Facility intact rate": 98.0, "Fault repair rate": 92.0, "Emergency response within 30 min": 100.0}


def sql_rows(runtime, sql: str) -> list:
    with runtime.sessions() as session:
        return session.execute(text(sql)).all()


def panels(board: dict) -> list[dict]:
    return [p for p in board["panels"] if p.get("type") != "row"]


def test_generated_files_are_up_to_date_with_the_code_in_both_languages():
    for lang in LANGUAGES:
        for name, body in all_dashboards(lang).items():
            on_disk = json.loads((GENERATED / lang / f"{name}.json").read_text())
            assert on_disk == body, f"dashboards/generated/{lang}/{name}.json is stale: `community dashboards build`"
    english, chinese = all_dashboards("en"), all_dashboards("zh_CN")
    assert (english["elevators"]["title"], chinese["elevators"]["title"]) == ("Elevators", "电梯")
    assert (chinese["overview"]["uid"], english["overview"]["uid"]) == ("community-overview-zh_cn",
                                                                         "community-overview")
    titles = {p["title"] for p in chinese["overview"]["panels"]}
    assert {"设备在线", "设施完好率"} <= titles  # panels and KPIs in Chinese
    assert len({p["title"] for p in english["overview"]["panels"]} & titles) <= 1  # nothing left in English
    provisioned = yaml.safe_load((PROVISIONING / "datasources" / "community.yaml").read_text())
    assert provisioned == datasources()


def test_structure_uids_datasources_variables_and_kpi_thresholds():
    boards = all_dashboards()
    per_kind = {HAND_MADE.get(k.name, (k.name,))[0] for k in kinds.ALL}  # a hand-made board or the generated one
    assert set(boards) == {"overview", "tickets"} | per_kind
    assert {"elevators", "access", "meters", "fire_pump"} <= per_kind
    uids = [b["uid"] for b in boards.values()]
    assert len(set(uids)) == len(uids)
    known = {(d["type"], d["uid"]) for d in datasources()["datasources"]}
    seen_kpis = set()
    for board in boards.values():
        assert [v["name"] for v in board["templating"]["list"]] == ["site", "building"]
        ids = [p["id"] for p in board["panels"]]
        assert len(set(ids)) == len(ids)
        for panel in panels(board):
            assert panel["targets"], panel["title"]
            for target in panel["targets"]:
                assert (target["datasource"]["type"], target["datasource"]["uid"]) in known, panel["title"]
            if panel["title"] in KPI_TITLES:
                target = KPI_TITLES[panel["title"]]
                steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
                assert [s["color"] for s in steps] == ["red", "yellow", "green"]
                assert steps[1]["value"] == pytest.approx(target * (1 - DRIFT))
                assert steps[2]["value"] == target
                seen_kpis.add(panel["title"])
    assert seen_kpis == set(KPI_TITLES)


@pytest.mark.integration
def test_every_panel_query_returns_rows_on_real_servers(alert_service, publisher, unique, influx, tmp_path):
    runtime = alert_service()
    every_kind = {k.name: max(1, k.simulation.per_building) for k in kinds.ALL}
    fleet = Fleet(sites=1, buildings=2, elevators=2, doors=2, meters=4, per_building=every_kind, seed=12,
                  prefix=unique)
    now_ms = lambda: int(time.time() * 1000)  # noqa: E731
    for _ in range(3):
        publisher.publish(fleet.round(now_ms()))
        publisher.publish(fleet.heartbeats(now_ms()))
    for fault, device in (("passengers_trapped", "s1b1-el1"), ("door_forced_open", "s1b1-door1"),
                          ("access_denied", "s1b2-door1"), ("door_held_open", "s1b2-door2"),
                          ("low_battery", "s1b1-m1"), ("out_of_service", "s1b2-el1")):
        publisher.publish(fleet.inject(fault, device, now_ms=now_ms()))
    publisher.publish(fleet.inject("offline", "s1b2-m2", now_ms=now_ms()))
    for spec in kinds.ALL:  # every kind's generated board shows its events: one of each kind
        publisher.publish(fleet.inject(sorted(spec.events)[0], kind=Kind(spec.name), now_ms=now_ms()))
    for _ in range(3):
        publisher.publish(fleet.round(now_ms()))
    assert wait_for(lambda: len(sql_rows(runtime, "SELECT id FROM work_orders")) >= 6)
    orders = [r[0] for r in sql_rows(runtime, "SELECT id FROM work_orders ORDER BY id")]
    runtime.orders.transition(orders[0], "start", "wang")
    runtime.orders.transition(orders[0], "resolve", "wang")
    runtime.orders.follow_up(orders[0], "staff1", 4)
    runtime.orders.transition(orders[1], "acknowledge", "zhao")
    assert wait_for(lambda: influx.count("work_order", "order_id") >= 10)
    assert wait_for(lambda: sql_rows(runtime, "SELECT count(*) FROM devices")[0][0] == len(fleet.devices))
    complaint = NewRequest(site="site1", building="b1", unit="0101", category="complaint", reporter="Mr Zhang",
                           description="the lobby was not cleaned", reporter_phone=None, channel="phone",
                           source="front_desk")
    submit(runtime.orders, runtime.alert_config.intake, tmp_path / "attachments", complaint)
    runtime.kpis.run_once()  # the KPI tiles show what the KPI watch computed
    assert wait_for(lambda: influx.count("kpi", "value") >= 9)

    ctx = Context(start=datetime.now(UTC) - timedelta(days=2), end=datetime.now(UTC) + timedelta(minutes=5),
                  interval="1m", variables={"site": [], "building": []})
    all_values = {"site": ["site1"], "building": ["b1", "b2"]}
    failures = []
    executed = 0
    for name, board in all_dashboards().items():
        for variable in board["templating"]["list"]:
            series = influx.query(render_influxql(variable["query"], ctx))
            assert series and series[0]["values"], (name, variable["name"])
        for panel in panels(board):
            for target in panel["targets"]:
                executed += 1
                if "rawSql" in target:
                    sql = render_sql(target["rawSql"], ctx, all_values)
                    rows = sql_rows(runtime, sql)
                    values = [v for row in rows for v in row]
                    if not rows or all(v is None for v in values):
                        failures.append(f"{name} / {panel['title']}: no rows from SQL\n{sql}")
                else:
                    query = render_influxql(target["query"], ctx)
                    series = influx.query(query)
                    if not series or all(v is None for s in series for row in s["values"] for v in row[1:]):
                        failures.append(f"{name} / {panel['title']}: no rows from InfluxQL\n{query}")
    assert executed >= 25
    assert not failures, "\n\n".join(failures)


@pytest.mark.integration
def test_site_filter_narrows_sql_and_influxql(alert_service, publisher, unique, influx):
    runtime = alert_service()
    fleet = Fleet(sites=2, buildings=1, elevators=1, doors=0, meters=0, seed=13, prefix=unique)
    publisher.publish(fleet.round(int(time.time() * 1000)))
    assert wait_for(lambda: influx.count("elevator", "floor") == 2)
    ctx = Context(start=datetime.now(UTC) - timedelta(hours=1), end=datetime.now(UTC) + timedelta(minutes=1),
                  variables={"site": ["site2"], "building": []})
    query = render_influxql('SELECT count("floor") FROM "elevator" WHERE $timeFilter AND "site" =~ /^$site$/', ctx)
    assert influx.query(query)[0]["values"][0][1] == 1
    sql = render_sql("SELECT count(*) FROM devices WHERE site IN ($site)", ctx, {"site": ["site1", "site2"]})
    assert wait_for(lambda: sql_rows(runtime, sql)[0][0] == 1, 5)
