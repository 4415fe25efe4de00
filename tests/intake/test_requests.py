"""People's requests over the API, on PostgreSQL: owners report with photos, the front desk records calls (with
idempotency keys), owners rate or say "not fixed"; every bad input refused with nothing stored."""

import io

import pytest
from PIL import Image
from sqlalchemy import func, select

from intake.models import Attachment
from tests.alert_fixtures import OPERATOR, FakeClock, add_people, api, login
from workorders.models import WorkOrder, WorkOrderEvent

pytestmark = pytest.mark.integration
STAFF = {"Authorization": f"Bearer {OPERATOR}"}


def jpeg_with_exif() -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"  # Make
    exif[0x0110] = "Model X"
    out = io.BytesIO()
    Image.new("RGB", (32, 24), (200, 30, 30)).save(out, "JPEG", exif=exif)
    return out.getvalue()


@pytest.fixture
def setup(alert_service):
    clock = FakeClock()
    runtime = alert_service(clock=clock)
    add_people(runtime)
    client = api(runtime)
    return runtime, client, clock


def count(runtime, model) -> int:
    with runtime.sessions() as session:
        return session.scalar(select(func.count()).select_from(model))


def test_an_owner_reports_a_leak_with_a_photo_and_it_goes_to_the_plumber_on_call(setup):
    runtime, client, _ = setup
    owner = login(client, "owner_b1_0101", "owner-password")
    raw = jpeg_with_exif()
    assert b"SecretCam" in raw
    made = client.post("/requests", headers=owner, data={"category": "unit_repair", "where": "unit",
                                                         "description": "water drips from the kitchen ceiling"},
                       files=[("photos", ("leak.jpg", raw, "image/jpeg"))])
    assert made.status_code == 201, made.text
    order = made.json()
    assert (order["site"], order["building"], order["unit"], order["kind"]) == ("site1", "b1", "0101", "request")
    assert (order["category"], order["source"], order["channel"], order["reporter"]) == (
        "unit_repair", "owner", "app", "owner_b1_0101")
    assert (order["priority"], order["skill"], order["assignee"]) == ("degradation", "plumbing", "chen.tech")
    with runtime.sessions() as session:
        [photo] = session.scalars(select(Attachment)).all()
    stored = (runtime.settings.data_dir / "attachments" / photo.stored_as).read_bytes()
    assert b"SecretCam" not in stored and not Image.open(io.BytesIO(stored)).getexif()  # EXIF stripped
    url = f"/requests/{order['id']}/photos/{photo.id}"
    assert client.get(url, headers=owner).content == stored
    assert client.get(url, headers=login(client, "wang", "tech-password")).status_code == 200  # site1's technician
    assert client.get(url, headers=login(client, "owner_b2", "owner-password")).status_code == 403
    assert client.get(url, headers=login(client, "far.tech", "tech-password")).status_code == 403
    assert [r["id"] for r in client.get("/requests", headers=owner).json()] == [order["id"]]
    assert client.get("/requests", headers=login(client, "owner_b2", "owner-password")).json() == []
    notices = client.get("/notices", headers=owner).json()
    assert notices and notices[0]["unit"] == "0101"  # acknowledged to the reporter at once
    runtime.orders.transition(order["id"], "acknowledge", "chen")
    texts = [n["text"] for n in client.get("/notices", headers=owner).json()]
    assert texts[0].startswith("repair in my unit: a technician has taken it")  # and told of every step


@pytest.mark.parametrize(("form", "files", "reason"), [
    ({"category": "teleport", "description": "help"}, [], "unknown category 'teleport'"),
    ({"category": "unit_repair", "description": "  "}, [], "describe the problem"),
    ({"category": "unit_repair", "where": "common", "description": "broken"}, [], "give the unit"),
    ({"category": "elevator", "where": "unit", "description": "stuck"}, [], "give no unit"),
    ({"category": "unit_repair", "description": "leak"}, [("photos", ("x.jpg", b"<?php evil", "image/jpeg"))],
     "not a readable JPEG, PNG or WebP"),
    ({"category": "unit_repair", "description": "leak"}, [("photos", ("x.gif", b"GIF89a\x01\x00\x01\x00\x00\x00\x00;",
                                                                       "image/gif"))], "JPEG, PNG or WebP"),
    ({"category": "unit_repair", "description": "leak"},
     [("photos", (f"p{i}.jpg", jpeg_with_exif(), "image/jpeg")) for i in range(4)], "at most 3 photos"),
    ({"category": "unit_repair", "description": "leak"},
     [("photos", ("big.jpg", b"\xff\xd8" + b"0" * (5 * 1024 * 1024 + 10), "image/jpeg"))], "larger than"),
])
def test_bad_requests_are_refused_with_the_reason_and_nothing_is_stored(setup, form, files, reason):
    runtime, client, _ = setup
    owner = login(client, "owner_b1_0101", "owner-password")
    response = client.post("/requests", headers=owner, data=form, files=files or None)
    assert response.status_code == 422, response.text
    assert reason in response.text
    assert count(runtime, WorkOrder) == 0 and count(runtime, Attachment) == 0
    folder = runtime.settings.data_dir / "attachments"
    assert not folder.exists() or not any(folder.iterdir())


def test_an_oversized_body_is_refused_before_it_is_read(setup):
    _, client, _ = setup
    owner = login(client, "owner_b1_0101", "owner-password")
    huge = client.post("/requests", headers=owner, data={"category": "unit_repair", "description": "x"},
                       files=[("photos", ("h.jpg", b"0" * (17 * 1024 * 1024), "image/jpeg"))])
    assert huge.status_code == 413


def test_the_front_desk_records_a_call_once_however_often_the_client_retries(setup):
    runtime, client, _ = setup
    call = {"site": "site1", "building": "b2", "unit": "0101", "category": "noise_neighbour",
            "description": "loud music after midnight", "reporter": "Ms Liu", "reporter_phone": "+86 138 0000 0000",
            "channel": "phone"}
    first = client.post("/work-orders", headers={**STAFF, "Idempotency-Key": "call-2026-11-25-001"}, json=call)
    again = client.post("/work-orders", headers={**STAFF, "Idempotency-Key": "call-2026-11-25-001"}, json=call)
    assert (first.status_code, again.status_code) == (201, 200) and first.json()["id"] == again.json()["id"]
    other = client.post("/work-orders", headers={**STAFF, "Idempotency-Key": "call-2026-11-25-002"}, json=call)
    assert other.status_code == 201 and other.json()["id"] != first.json()["id"]
    assert count(runtime, WorkOrder) == 2
    body = first.json()
    assert (body["source"], body["channel"], body["reporter_phone"], body["skill"]) == (
        "front_desk", "phone", "+86 138 0000 0000", "customer_service")
    owner_b2 = login(client, "owner_b2", "owner-password")  # b2 / 0101: the call was about their unit
    assert {r["id"] for r in client.get("/requests", headers=owner_b2).json()} == {first.json()["id"],
                                                                                  other.json()["id"]}
    assert client.post("/work-orders", headers=owner_b2, json=call).status_code == 403
    tech = login(client, "wang", "tech-password")
    assert client.post("/work-orders", headers=tech, json=call).status_code == 403
    for bad, field in (({**call, "category": "x y"}, "category"), ({**call, "description": ""}, "description"),
                       ({**call, "channel": "pigeon"}, "channel"), ({**call, "extra": 1}, "extra")):
        assert field in client.post("/work-orders", headers=STAFF, json=bad).text
    assert count(runtime, WorkOrder) == 2


def test_the_owner_rates_a_resolved_request_or_says_it_is_not_fixed(setup):
    runtime, client, clock = setup
    owner = login(client, "owner_b1_0101", "owner-password")
    neighbour = login(client, "owner_b1", "owner-password")

    def report() -> int:
        made = client.post("/requests", headers=owner, data={"category": "unit_repair", "description": "tap drips"})
        return made.json()["id"]

    first, second = report(), report()
    assert client.post(f"/requests/{first}/rating", headers=owner, json={"rating": 5}).status_code == 409  # open
    for order_id in (first, second):
        runtime.orders.transition(order_id, "resolve", "chen", "washer replaced")
    assert client.post(f"/requests/{first}/rating", headers=neighbour, json={"rating": 1}).status_code == 403
    rated = client.post(f"/requests/{first}/rating", headers=owner, json={"rating": 4, "comment": "quick"})
    assert rated.status_code == 200 and (rated.json()["status"], rated.json()["rating"]) == ("closed", 4)

    reopened = client.post(f"/requests/{second}/not-fixed", headers=owner, json={"comment": "still dripping"})
    assert reopened.status_code == 200, reopened.text
    body = reopened.json()
    assert (body["status"], body["reopened"], body["resolved_at"], body["assignee"]) == ("open", 1, None, "chen.tech")
    with runtime.sessions() as session:
        actions = [e.action for e in session.scalars(select(WorkOrderEvent).where(
            WorkOrderEvent.work_order_id == second).order_by(WorkOrderEvent.id))]
    assert actions[-1] == "reopen"
    runtime.orders.transition(second, "resolve", "chen", "tap replaced")
    clock.advance(hours=169)  # past the week an owner has to say "not fixed"
    owner = login(client, "owner_b1_0101", "owner-password")  # (tokens last 12 h)
    late = client.post(f"/requests/{second}/not-fixed", headers=owner, json={"comment": "again"})
    assert late.status_code == 409 and "report a new problem" in late.json()["detail"]
    assert client.post("/requests/999999/rating", headers=owner, json={"rating": 3}).status_code == 404


def test_every_order_has_a_matrix_cell_that_sets_its_deadlines_and_staff_can_reclassify_it(setup):
    from datetime import datetime, timedelta

    runtime, client, _ = setup
    owner = login(client, "owner_b1_0101", "owner-password")
    lift = client.post("/requests", headers=owner, data={"category": "elevator", "where": "common",
                                                         "description": "the lift smells of burning"}).json()
    tap = client.post("/requests", headers=owner, data={"category": "unit_repair", "description": "tap"}).json()
    assert (lift["matrix_cell"], tap["matrix_cell"]) == ("urgent-basic-collective", "routine-basic-individual")

    def minutes(order: dict, due: str) -> float:
        return (datetime.fromisoformat(order[due]) - datetime.fromisoformat(order["created_at"])) / timedelta(minutes=1)

    assert (minutes(lift, "ack_due_at"), minutes(lift, "arrive_due_at")) == (10, 30)  # the response circle
    assert (minutes(tap, "ack_due_at"), minutes(tap, "resolve_due_at")) == (60, 24 * 60)
    moved = client.post(f"/work-orders/{tap['id']}/classify", headers=STAFF,
                        json={"cell": "urgent-basic-individual", "note": "water is reaching the flat below"})
    assert moved.status_code == 200 and moved.json()["matrix_cell"] == "urgent-basic-individual"
    assert (minutes(moved.json(), "ack_due_at"), minutes(moved.json(), "arrive_due_at")) == (10, 30)
    assert client.post(f"/work-orders/{tap['id']}/classify", headers=STAFF, json={"cell": "urgent"}).status_code == 422
    tech = login(client, "wang", "tech-password")
    assert client.post(f"/work-orders/{tap['id']}/classify", headers=tech,
                       json={"cell": "routine-basic-individual"}).status_code == 403
    detail = client.get(f"/work-orders/{tap['id']}", headers=STAFF).json()
    assert "reclassified" in [e["action"] for e in detail["events"]]
    urgent = client.get("/work-orders", headers=STAFF, params={"matrix_cell": "urgent-basic-individual"}).json()
    assert [o["id"] for o in urgent] == [tap["id"]]
