"""KPI warnings reach a person: a KPI that turns red is sent to the site's manager once, not again while it stays
red; the API lists colours and warnings (real PostgreSQL, the local webhook receiver as the manager's phone)."""

import time

import pytest

from kpis.definitions import KPIS, status
from simulator.fleet import Fleet
from tests.alert_fixtures import OPERATOR, FakeClock, api
from tests.conftest import wait_for

pytestmark = pytest.mark.integration
STAFF = {"Authorization": f"Bearer {OPERATOR}"}


def test_traffic_light_yellow_within_five_percent_of_the_target():
    assert [status(v, 95.0) for v in (95.0, 90.3, 90.2, None)] == ["green", "yellow", "red", "n/a"]
    assert len({k.key for k in KPIS}) == len(KPIS) >= 9


def test_a_kpi_turning_red_warns_the_sites_manager_once(alert_service, publisher, unique, webhook):
    clock = FakeClock()
    runtime = alert_service(clock=clock)
    fleet = Fleet(seed=23, prefix=unique)
    publisher.publish(fleet.inject("door_forced_open", "s1b1-door1", now_ms=int(time.time() * 1000)))

    def order_id() -> int | None:
        rows = api(runtime).get("/work-orders", headers=STAFF).json()
        return rows[0]["id"] if rows else None

    assert wait_for(order_id)
    runtime.orders.transition(order_id(), "start", "zhao")
    clock.advance(hours=5)  # outage: resolve within 4 h; this one takes 5
    runtime.orders.transition(order_id(), "resolve", "zhao")

    sent = runtime.kpis.run_once()
    assert runtime.offload is not None and runtime.offload.calls == 1  # computed in the offload child
    by_kpi = {w.kpi: w for w in sent}
    assert by_kpi["sla_compliance"].colour == "red" and by_kpi["sla_compliance"].value == 0.0
    assert "fault_repair_rate" not in by_kpi  # green from the start: nothing to say
    assert wait_for(lambda: any(b["path"] == "/people/zhou.manager" and "sla_compliance" == b["kpi"]["kpi"]
                                for b in webhook.bodies if b.get("event") == "kpi warning"))
    hook = next(b for b in webhook.bodies if b.get("event") == "kpi warning" and b["kpi"]["kpi"] == "sla_compliance")
    assert hook["subject"].startswith("[KPI red] site1: SLA compliance (resolve) 0.0 % (target 95 %)")

    from sqlalchemy import select

    from notifications.models import Notification

    with runtime.sessions() as session:
        feed = [n for n in session.scalars(select(Notification).where(Notification.channel == "mqtt"))
                if n.body.get("kpi", {}).get("kpi") == "sla_compliance"]
    assert len(feed) == 1 and feed[0].recipient.endswith("/site1/kpi")  # the site's feed hears it once

    assert runtime.kpis.run_once() == []  # still red: no second warning
    client = api(runtime)
    colours = {(s["site"], s["kpi"]): s["colour"] for s in client.get("/kpis", headers=STAFF).json()}
    assert colours[("site1", "sla_compliance")] == "red" and colours[("site1", "fault_repair_rate")] == "green"
    listed = client.get("/kpis/warnings", headers=STAFF).json()
    assert [w["kpi"] for w in listed].count("sla_compliance") == 1
    computed = client.get("/kpis/compute", headers=STAFF, params={"start": "2000-01-01T00:00:00+00:00"}).json()
    assert computed[0]["sla_compliance"] == 0.0  # the same definition, over any period
