"""The register over HTTP on the whole service (PostgreSQL, real broker): staff import files, new owners set
their password with an invite code and log in with their phone number, staff manage accounts, and devices heard
before they were registered are accepted or decommissioned (a decommissioned one runs no rules)."""

import json
import time
from pathlib import Path

import pytest

from tests.alert_fixtures import OPERATOR, api, login
from tests.conftest import engine_settled, wait_for

pytestmark = pytest.mark.integration
TEMPLATES = Path(__file__).resolve().parents[2] / "docs" / "templates"
STAFF = {"Authorization": f"Bearer {OPERATOR}"}


def upload(client, what: str, name: str, data: bytes | None = None, **params):
    data = data if data is not None else (TEMPLATES / name).read_bytes()
    return client.post(f"/register/import/{what}", params=params, headers=STAFF, files={"file": (name, data)})


@pytest.fixture
def client(alert_service):
    runtime = alert_service(alert_register_read_s=0.2)
    return runtime, api(runtime)


def test_staff_import_files_and_a_bad_file_answers_422_with_every_row_and_changes_nothing(client):
    runtime, http = client
    assert upload(http, "sites", "sites.zh.xlsx").json()["created"] == 2
    far = "site_id,name,timezone\nsite3,Far West,Asia/Urumqi\n"
    assert upload(http, "sites", "far.csv", far.encode()).json()["created"] == 1
    assert wait_for(lambda: str(runtime.orders.zones.of("site3")) == "Asia/Urumqi")  # the register sets its clock
    bad = ("设备编号,小区编号,楼栋编号,设备类型\nel-1,site1,b1,电梯\nel 2,site1,b1,电梯\nel-3,site1,b1,扶梯\n"
           "el-4,site7,b1,电梯\n")
    answer = upload(http, "devices", "bad.csv", bad.encode("gbk"))
    assert answer.status_code == 422
    errors = {(e["row"], e["column"]) for e in answer.json()["errors"]}
    assert errors == {(3, "设备编号"), (4, "设备类型"), (5, "小区编号")}
    assert http.get("/devices", headers=STAFF).json() == []
    assert upload(http, "devices", "devices.csv", dry_run=True).json()["created"] == 6
    assert http.get("/devices", headers=STAFF).json() == []
    assert upload(http, "devices", "devices.csv").json()["applied"] is True
    el1 = http.get("/devices/s1b1-el1", headers=STAFF).json()
    assert (el1["name"], el1["status"], el1["location"]) == ("Building 1 elevator 1", "active", "shaft A")
    exported = http.get("/register/export/devices", params={"lang": "zh"}, headers=STAFF)
    assert exported.status_code == 200 and exported.text.lstrip("\ufeff").startswith("设备编号,小区编号")
    assert http.get("/register/sites", headers=STAFF).json()[0]["timezone"] == "Asia/Shanghai"


def test_a_new_owner_sets_a_password_with_the_invite_code_and_logs_in_with_their_phone(client):
    _runtime, http = client
    for what in ("sites", "households"):
        assert upload(http, what, f"{what}.csv").status_code == 200
    invites = {i["username"]: i["code"] for i in upload(http, "owners", "owners.csv").json()["invites"]}
    assert set(invites) == {"13700137001", "13700137002", "13700137003", "13700137005"}
    refused = http.post("/auth/token", data={"username": "13700137001", "password": ""})
    assert refused.status_code in (401, 422)  # no password until the invite is redeemed
    body = {"username": "137 0013 7001", "code": invites["13700137001"].lower(), "password": "my-new-password"}
    assert http.post("/auth/activate", json=body).status_code == 200
    assert http.post("/auth/activate", json=body).status_code == 401  # a code works once
    me = http.get("/me", headers=login(http, "+86 137-0013-7001", "my-new-password")).json()
    assert (me["role"], me["site"], me["building"], me["unit"]) == ("owner", "site1", "b1", "1-0101")
    wrong = {"username": "13700137002", "code": invites["13700137001"], "password": "my-new-password"}
    assert http.post("/auth/activate", json=wrong).status_code == 401  # a code is only its owner's


def test_staff_create_disable_and_reset_accounts(client):
    _runtime, http = client
    made = http.post("/users", headers=STAFF, json={"username": "zhao", "role": "technician", "name": "赵师傅",
                                                    "person_id": "zhao.tech", "sites": ["site1"]})
    assert made.status_code == 201 and len(made.json()["code"]) == 9
    assert http.post("/auth/activate", json={"username": "zhao", "code": made.json()["code"],
                                             "password": "zhao-password"}).status_code == 200
    token = login(http, "zhao", "zhao-password")
    assert http.get("/me", headers=token).status_code == 200
    assert http.get("/users", headers=token).status_code == 403  # staff only
    changed = http.patch("/users/zhao", headers=STAFF, json={"disabled": True})
    assert changed.status_code == 200 and changed.json()["disabled"] is True
    assert http.get("/me", headers=token).status_code == 401  # their sessions ended
    assert http.post("/auth/token", data={"username": "zhao", "password": "zhao-password"}).status_code == 401
    http.patch("/users/zhao", headers=STAFF, json={"disabled": False})
    reset = http.post("/users/zhao/invite", headers=STAFF).json()["code"]
    assert http.post("/auth/activate", json={"username": "zhao", "code": reset,
                                             "password": "another-password"}).status_code == 200
    assert http.get("/me", headers=login(http, "zhao", "another-password")).json()["sites"] == ["site1"]
    roles = {u["username"]: u["role"] for u in http.get("/users", headers=STAFF).json()}
    assert roles["zhao"] == "technician"
    assert http.patch("/users/nobody", headers=STAFF, json={"disabled": True}).status_code == 404


def test_unregistered_devices_are_pending_until_accepted_and_a_decommissioned_one_runs_no_rules(client, publisher,
                                                                                                 unique):
    runtime, http = client

    def status(device: str, online: bool) -> None:
        payload = {"online": online, "ts": int(time.time() * 1000)}
        publisher.publish_raw(f"{unique}/site1/b1/meter/{device}/status", json.dumps(payload).encode())

    for device in ("m1", "m2"):
        status(device, True)
    pending = lambda: {d["device_id"] for d in http.get("/devices", params={"status": "pending"},  # noqa: E731
                                                        headers=STAFF).json()}
    assert wait_for(lambda: pending() == {"m1", "m2"})
    assert http.put("/devices/m2/status", headers=STAFF, json={"status": "active"}).json()["status"] == "active"
    assert http.put("/devices/m1/status", headers=STAFF, json={"status": "decommissioned"}).status_code == 200
    assert http.put("/devices/m9/status", headers=STAFF, json={"status": "active"}).status_code == 404
    assert wait_for(lambda: runtime.alert_engine.evaluator.device("m1") is None)  # the engine read the register
    for device in ("m1", "m2"):
        status(device, False)
    firing = lambda: {a["device_id"] for a in http.get("/alerts", headers=STAFF).json() if a["firing"]}  # noqa: E731
    assert wait_for(lambda: "m2" in firing())
    assert engine_settled(runtime)
    assert "m1" not in firing()
    assert [d["device_id"] for d in http.get("/devices", headers=STAFF).json()] == ["m2"]
    assert [d["device_id"] for d in http.get("/devices", params={"status": "decommissioned"},
                                             headers=STAFF).json()] == ["m1"]


def test_orders_notices_and_pages_say_the_registered_place_and_who_maintains_it(client, publisher, unique,
                                                                               webhook):
    runtime, http = client
    for what in ("sites", "devices"):
        assert upload(http, what, f"{what}.zh.csv").status_code == 200
    event = {"ts": int(time.time() * 1000), "seq": 1, "event": "passengers_trapped"}
    publisher.publish_raw(f"{unique}/site1/b1/elevator/s1b1-el1/event", json.dumps(event).encode())
    notices = lambda: http.get("/notices", headers=STAFF).json()  # noqa: E731
    assert wait_for(lambda: len(notices()) == 1)
    assert notices()[0]["text"].startswith("1号楼1号电梯: ")  # the register's name, not s1b1-el1
    paged = lambda: [b for b in webhook.bodies if b.get("event") == "new work order"]  # noqa: E731
    assert wait_for(lambda: paged())
    body = paged()[0]
    assert (body["place"], body["location"], body["contractor_phone"]) == ("1号楼1号电梯", "A井道", "4008100000")
    order_id = body["work_order"]["id"]
    http.cookies.set("community_token", OPERATOR)
    page = http.get(f"/ui/orders/{order_id}").text
    assert "1号楼1号电梯" in page and 'href="tel:4008100000"' in page and "奥的斯维保" in page
