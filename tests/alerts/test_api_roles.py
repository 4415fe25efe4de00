"""Who may see and do what over HTTP (real PostgreSQL behind the API)."""

import time

import pytest

from simulator.fleet import Fleet
from tests.alert_fixtures import OPERATOR, FakeClock, add_people, api, login
from tests.conftest import wait_for

pytestmark = pytest.mark.integration
OPEN = {"/healthz", "/livez", "/readyz", "/metrics", "/auth/token", "/auth/activate"}  # activate: an invite code


@pytest.fixture
def setup(alert_service, publisher, unique):
    clock = FakeClock()
    runtime = alert_service(clock=clock)
    add_people(runtime)
    fleet = Fleet(seed=11, prefix=unique)
    publisher.publish(fleet.inject("door_forced_open", "s1b1-door1", now_ms=int(time.time() * 1000)))
    client = api(runtime)
    staff = {"Authorization": f"Bearer {OPERATOR}"}
    assert wait_for(lambda: client.get("/work-orders", headers=staff).json())
    order = client.get("/work-orders", headers=staff).json()[0]
    return runtime, client, order, clock


def test_every_route_but_health_and_login_needs_a_credential(setup):
    _, client, order, _ = setup
    spec = client.get("/openapi.json").json()["paths"]
    routes = {path: methods for path, methods in spec.items() if path not in OPEN}
    assert len(routes) >= 14
    for route, methods in routes.items():
        path = route.replace("{order_id}", str(order["id"])).replace("{device_id}", "s1b1-door1") \
            .replace("{what}", "devices").replace("{username}", "wang")
        for method in methods:
            response = client.request(method, path)
            assert response.status_code == 401, (method, path, response.status_code)
            response = client.request(method, path, headers={"Authorization": "Bearer nonsense"})
            assert response.status_code == 401, (method, path)
    assert client.get("/healthz").status_code == 200


def test_roles_are_enforced(setup):
    _, client, order, _ = setup
    owner = login(client, "owner_b1", "owner-password")
    far = login(client, "far.tech", "tech-password")
    tech = login(client, "wang", "tech-password")
    for path in ("/work-orders", f"/work-orders/{order['id']}", "/alerts", "/devices", "/rules", "/stats",
                 "/dead-letters"):
        assert client.get(path, headers=owner).status_code == 403, path
    assert client.post(f"/work-orders/{order['id']}/acknowledge", headers=owner).status_code == 403
    # a technician of another site neither sees nor works this site's orders
    assert client.get("/work-orders", headers=far).json() == []
    assert client.post(f"/work-orders/{order['id']}/acknowledge", headers=far).status_code == 403
    assert client.get(f"/work-orders/{order['id']}", headers=far).status_code == 403
    # technicians read rules but are not staff
    assert client.get("/rules", headers=tech).status_code == 200
    assert client.get("/stats", headers=tech).status_code == 403
    assert client.get("/dead-letters", headers=tech).status_code == 403
    assert client.post(f"/work-orders/{order['id']}/follow-up", headers=tech, json={"rating": 4}).status_code == 403
    assert client.get("/notices", headers=tech).status_code == 403
    assert client.get("/me", headers=owner).json()["unit"] == "0201"


def test_technicians_see_only_their_sites_devices(setup):
    _, client, _, _ = setup
    staff = {"Authorization": f"Bearer {OPERATOR}"}
    assert wait_for(lambda: client.get("/devices/s1b1-door1", headers=staff).status_code == 200, 10)
    far = login(client, "far.tech", "tech-password")  # works site9 only
    tech = login(client, "wang", "tech-password")  # works site1
    assert client.get("/devices", headers=far).json() == []
    assert client.get("/devices/s1b1-door1", headers=far).status_code == 404  # as if it did not exist
    assert [d["device_id"] for d in client.get("/devices", headers=tech).json()] == ["s1b1-door1"]
    assert client.get("/devices/s1b1-door1", headers=tech).status_code == 200


def test_login_errors_token_expiry_and_bad_bodies(setup):
    _, client, order, clock = setup
    assert client.post("/auth/token", data={"username": "wang", "password": "wrong"}).status_code == 401
    assert client.post("/auth/token", data={"username": "nobody", "password": "x"}).status_code == 401
    assert client.post("/auth/token", data={}).status_code == 422
    tech = login(client, "wang", "tech-password")
    staff = login(client, "staff1", "staff-password")
    oid = order["id"]
    bad_rating = client.post(f"/work-orders/{oid}/follow-up", headers=staff, json={"rating": 9})
    assert bad_rating.status_code == 422 and "rating" in bad_rating.text
    assert client.post(f"/work-orders/{oid}/acknowledge", headers=tech, json={"nope": 1}).status_code == 422
    malformed = client.post(f"/work-orders/{oid}/acknowledge", content=b"{bad json",
                            headers={**tech, "Content-Type": "application/json"})
    assert malformed.status_code == 422
    early = client.post(f"/work-orders/{oid}/follow-up", headers=staff, json={"rating": 4})
    assert early.status_code == 409 and "resolved or closed" in early.json()["detail"]
    assert client.get("/work-orders/999999", headers=staff).status_code == 404
    assert client.get("/work-orders?limit=0", headers=staff).status_code == 422
    clock.advance(hours=13)
    assert client.get("/me", headers=tech).status_code == 401  # tokens expire after 12 h


def test_filters_devices_alerts_and_rules(setup):
    runtime, client, order, _ = setup
    staff = {"Authorization": f"Bearer {OPERATOR}"}
    assert [o["id"] for o in client.get("/work-orders?priority=outage&open_only=true", headers=staff).json()] == \
        [order["id"]]
    assert client.get("/work-orders?priority=maintenance", headers=staff).json() == []
    assert client.get("/work-orders?status=closed", headers=staff).json() == []
    firing = client.get("/alerts?firing=true", headers=staff).json()
    assert [(a["rule_id"], a["device_id"]) for a in firing] == [("access_door_forced", "s1b1-door1")]
    assert wait_for(lambda: client.get("/devices/s1b1-door1", headers=staff).status_code == 200, 10)
    assert client.get("/devices/unknown", headers=staff).status_code == 404
    rules = client.get("/rules", headers=staff).json()
    assert len(rules["rules"]) == len(runtime.alert_config.rules) and "sla" in rules
    spec = client.get("/openapi.json").json()
    assert {"/work-orders/{order_id}/acknowledge", "/notices", "/auth/token"} <= spec["paths"].keys()
