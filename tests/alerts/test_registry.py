"""The device registry's batched upsert, on PostgreSQL (COPY + INSERT ... ON CONFLICT) and SQLite."""

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from community.schema import migrate
from core.db import make_engine, session_factory
from devices import service as registry
from devices.models import Device

pytestmark = pytest.mark.integration
T1, T2 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC), datetime(2026, 11, 23, 8, 5, tzinfo=UTC)


def base(device_id: str, seen: datetime) -> dict:
    return {"device_id": device_id, "site": "site1", "building": "b1", "kind": "meter", "last_seen": seen}


@pytest.fixture(params=["postgresql", "sqlite"])
def sessions(request, pg_url, tmp_path):
    engine = make_engine(pg_url if request.param == "postgresql" else f"sqlite:///{tmp_path / 'r.db'}")
    migrate(engine)
    yield session_factory(engine)
    engine.dispose()


def test_rows_with_different_columns_are_inserted_then_updated_in_place(sessions):
    with sessions.begin() as session:  # one flush: telemetry rows (with state) and a status row (without)
        registry.upsert(session, [
            base("m1", T1) | {"online": True, "medium": "water", "unit": "0101",
                              "last_state": {"reading": 12.5, "valve": "open", "ts": 1}},
            base("m2", T1) | {"online": False},
        ])
    with sessions.begin() as session:  # the next flush: m1 goes offline (state kept), m2 reports telemetry
        registry.upsert(session, [
            base("m1", T2) | {"online": False},
            base("m2", T2) | {"online": True, "medium": "gas", "unit": "0102", "last_state": {"reading": 3.0}},
        ])
    with sessions() as session:
        rows = {d.device_id: d for d in session.scalars(select(Device))}
    assert set(rows) == {"m1", "m2"}
    m1, m2 = rows["m1"], rows["m2"]
    assert (m1.online, m1.last_seen, m1.medium, m1.unit) == (False, T2, "water", "0101")
    assert m1.last_state == {"reading": 12.5, "valve": "open", "ts": 1}
    assert (m2.online, m2.last_seen, m2.medium, m2.last_state) == (True, T2, "gas", {"reading": 3.0})


def test_a_device_heard_before_it_is_registered_is_pending_and_the_register_survives_its_messages(sessions):
    with sessions.begin() as session:
        session.add(Device(device_id="el1", site="site1", building="b1", kind="elevator", status="active",
                           name="1号楼1号电梯", registration_code="3110"))
    with sessions.begin() as session:
        registry.upsert(session, [base("m9", T1) | {"online": True},
                                  base("el1", T1) | {"kind": "elevator", "online": True}])
    with sessions() as session:
        rows = {d.device_id: d for d in session.scalars(select(Device))}
    assert rows["m9"].status == "pending"
    assert (rows["el1"].status, rows["el1"].name, rows["el1"].registration_code) == ("active", "1号楼1号电梯", "3110")
    assert rows["el1"].last_seen == T1
