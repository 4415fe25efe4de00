"""Sites (小区): id, name, time zone, manager."""

from __future__ import annotations

from typing import Literal

from pydantic import field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.i18n import normalize
from core.zones import zone
from register.importers._cells import Id, Phone, RowModel, text
from register.imports import Column, Context, Counts, Importer, upsert
from register.models import Site

FIELDS = ("name", "timezone", "language", "manager", "manager_phone", "address")


class SiteRow(RowModel):
    site_id: Id
    name: text(120)
    timezone: text(64) | None = None
    language: Literal["zh_CN", "en"] | None = None
    manager: text(64) | None = None
    manager_phone: Phone | None = None
    address: text(200) | None = None

    @field_validator("language", mode="before")
    @classmethod
    def _language(cls, value: object) -> object:
        return normalize(value) or value if isinstance(value, str) and value else None

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value:
            try:
                zone(value)
            except ValueError as err:
                raise ValueError(str(err)) from None
        return value


class SiteImporter(Importer):
    what = "sites"
    columns = (
        Column("site_id", "site_id", "小区编号", required=True, aliases=("site",)),
        Column("name", "name", "小区名称", required=True),
        Column("timezone", "timezone", "时区"),
        Column("language", "language", "语言"),
        Column("manager", "manager", "负责人"),
        Column("manager_phone", "manager_phone", "负责人电话"),
        Column("address", "address", "地址"),
    )
    row_model = SiteRow

    def key(self, row: SiteRow) -> tuple:
        return (row.site_id,)

    def apply(self, session: Session, rows: list[SiteRow], context: Context) -> Counts:
        ids = [r.site_id for r in rows]
        existing = {s.site_id: s for s in session.scalars(select(Site).where(Site.site_id.in_(ids)))}
        return upsert(session, rows, lambda r: existing.get(r.site_id), lambda r: Site(site_id=r.site_id), FIELDS)

    def export(self, session: Session) -> list[dict]:
        return [{"site_id": s.site_id, **{f: getattr(s, f) for f in FIELDS}}
                for s in session.scalars(select(Site).order_by(Site.site_id))]


IMPORTER = SiteImporter()
