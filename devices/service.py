"""The device registry: writing it in batches (the alert engine), reading it (the API, scoped to the caller).

PostgreSQL: ``COPY`` into a temporary table, then one ``INSERT ... SELECT ... ON CONFLICT DO UPDATE``. The ORM's
multi-row insert it replaces took 23 % of the alerts process at 100,000 devices, where nearly every message is a
registry row (docs/performance.md). SQLite (the embedded default): the multi-row upsert.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from devices.models import RETIRED, Device, DeviceStatus
from people.service import Principal

STAGING = "devices_incoming"


def upsert(session: Session, rows: Iterable[dict]) -> None:
    """Insert or update one row per device; rows may set different columns (a status message has no state)."""
    postgres = session.bind.dialect.name == "postgresql"
    for columns, group in _group_by_columns(rows).items():
        if postgres:
            _copy_upsert(session, columns, group)
        else:
            session.execute(_sqlite_upsert(columns), group)


def _group_by_columns(entries: Iterable[dict]) -> dict[tuple[str, ...], list[dict]]:
    """Rows that set the same columns go in one statement."""
    groups: dict[tuple[str, ...], list[dict]] = {}
    for entry in entries:
        groups.setdefault(tuple(sorted(entry)), []).append(entry)
    return groups


def _copy_upsert(session: Session, columns: tuple[str, ...], rows: list[dict]) -> None:
    names = ", ".join(columns)
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns if c != "device_id")
    with session.connection().connection.driver_connection.cursor() as cursor:
        # lives until this transaction commits (ON COMMIT DELETE ROWS would truncate it at every commit of the
        # pooled connection, work-order transactions included); emptied first, as one flush may fill it twice
        cursor.execute(f"CREATE TEMP TABLE IF NOT EXISTS {STAGING} (LIKE devices INCLUDING DEFAULTS) ON COMMIT DROP")
        cursor.execute(f"TRUNCATE {STAGING}")
        with cursor.copy(f"COPY {STAGING} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([json.dumps(row[c]) if c == "last_state" else row[c] for c in columns])
        cursor.execute(f"INSERT INTO devices ({names}) SELECT {names} FROM {STAGING} "
                       f"ON CONFLICT (device_id) DO UPDATE SET {updates}")


def _sqlite_upsert(columns: tuple[str, ...]):  # noqa: ANN202 - an Insert statement
    from sqlalchemy.dialects.sqlite import insert

    statement = insert(Device)
    return statement.on_conflict_do_update(
        index_elements=["device_id"], set_={c: statement.excluded[c] for c in columns if c != "device_id"})


def list_devices(session: Session, me: Principal, *, site: str | None = None, kind: str | None = None,
                 status: DeviceStatus | None = None, limit: int = 1000) -> list[Device]:
    """Devices in service (pending and active) unless a status is asked for."""
    query = select(Device).order_by(Device.device_id).limit(limit)
    query = query.where(Device.status == status.value) if status else query.where(Device.status.not_in(RETIRED))
    if site:
        query = query.where(Device.site == site)
    if kind:
        query = query.where(Device.kind == kind)
    return list(session.scalars(me.only_my_sites(query, Device.site)))


def get_device(session: Session, device_id: str) -> Device | None:
    return session.get(Device, device_id)


def set_status(session: Session, device_id: str, status: DeviceStatus) -> Device:
    """Accept (active), reject or decommission a device; the alert engine stops a retired one's rules within
    ``alert.register_read_s``, and its broker credential is left out of the next generated password file."""
    device = session.get(Device, device_id)
    if device is None:
        raise LookupError(f"device {device_id} is not in the register and was not heard from")
    device.status = status.value
    return device
