"""Owners (业主): one account per phone number (their login), tied to a household that must be in the register.
A new owner gets a one-time invite code to set a first password; the codes come back in the report, once."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from people.models import Role, User
from people.service import create_invites
from register.importers._cells import Id, Phone, RowModel, text
from register.imports import Column, Context, Counts, Importer, Parsed, RowError, upsert
from register.models import Household

FIELDS = ("name", "site", "building", "unit", "phone")


class OwnerRow(RowModel):
    phone: Phone
    name: text(64) | None = None
    site: Id
    building: Id
    unit: text(32)


class OwnerImporter(Importer):
    what = "owners"
    columns = (
        Column("phone", "phone", "手机号", required=True, aliases=("mobile", "手机", "电话")),
        Column("name", "name", "姓名"),
        Column("site", "site_id", "小区编号", required=True),
        Column("building", "building_id", "楼栋编号", required=True),
        Column("unit", "unit", "房号", required=True, aliases=("room",)),
    )
    row_model = OwnerRow

    def key(self, row: OwnerRow) -> tuple:
        return (row.phone,)

    def check(self, session: Session, rows: list[Parsed], header: Callable[[str], str]) -> list[RowError]:
        keys = {(p.row.site, p.row.building, p.row.unit) for p in rows}
        known = {tuple(r) for r in session.execute(select(Household.site_id, Household.building_id, Household.unit)
                                                   .where(tuple_(Household.site_id, Household.building_id,
                                                                 Household.unit).in_(keys)))} if keys else set()
        users = {u.username: u.role for u in session.scalars(
            select(User).where(User.username.in_([p.row.phone for p in rows])))} if rows else {}
        errors = []
        for p in rows:
            r = p.row
            if (r.site, r.building, r.unit) not in known:
                errors.append(RowError(p.line, header("unit"), f"household {r.site}/{r.building}/{r.unit} is "
                                                                    "not in the register; import households first"))
            if users.get(r.phone, Role.OWNER.value) != Role.OWNER.value:
                errors.append(RowError(p.line, header("phone"), f"{r.phone} is the login of a "
                                                                     f"{users[r.phone]} account, not an owner's"))
        return errors

    def apply(self, session: Session, rows: list[OwnerRow], context: Context) -> Counts:
        existing = {u.username: u for u in session.scalars(select(User).where(
            User.username.in_([r.phone for r in rows])))}
        new = [r for r in rows if r.phone not in existing]
        counts = upsert(session, rows, lambda r: existing.get(r.phone), _new_owner, FIELDS)
        session.flush()
        codes = create_invites(session, [r.phone for r in new], context.now) if new else {}
        for row in new:
            code, expires = codes[row.phone]
            context.invites.append({"username": row.phone, "name": row.name, "code": code,
                                    "expires_at": expires.isoformat()})
        return counts

    def export(self, session: Session) -> list[dict]:
        return [{"phone": u.username, "name": u.name, "site": u.site, "building": u.building, "unit": u.unit}
                for u in session.scalars(select(User).where(User.role == Role.OWNER.value).order_by(User.username))]


def _new_owner(row: OwnerRow) -> User:
    """No password until the owner redeems their invite code."""
    return User(username=row.phone, role=Role.OWNER.value, password_hash="", sites=[], disabled=False)


IMPORTER = OwnerImporter()
