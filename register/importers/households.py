"""Households (住户): one row per flat, with its building (created when new) and its holder. Needs its site."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from register.importers._cells import Floor, Id, Phone, RowModel, text
from register.imports import Column, Context, Counts, Importer, Parsed, RowError, upsert
from register.models import Building, Household, Site

FIELDS = ("floor", "area_m2", "holder", "phone")


class HouseholdRow(RowModel):
    site_id: Id
    building_id: Id
    building_name: text(120) | None = None
    unit: text(32)
    floor: Floor | None = None
    area_m2: float | None = None
    holder: text(64) | None = None
    phone: Phone | None = None


def check_sites(session: Session, sites: list[tuple[int, str]], header: str) -> list[RowError]:
    """Every row's site (line, site id) must be in the register: sites are imported first."""
    known = set(session.scalars(select(Site.site_id)))
    return [RowError(line, header, f"site {site!r} is not in the register; import it first "
                                   f"(community import sites)") for line, site in sites if site not in known]


def ensure_buildings(session: Session, wanted: dict[tuple[str, str], str | None]) -> None:
    """These (site, building)s exist afterwards; a name given (not None) is kept."""
    have = {(b.site_id, b.building_id): b for b in session.scalars(select(Building).where(
        tuple_(Building.site_id, Building.building_id).in_(list(wanted))))}
    for (site, building), name in wanted.items():
        if (site, building) not in have:
            session.add(Building(site_id=site, building_id=building, name=name))
        elif name and have[(site, building)].name != name:
            have[(site, building)].name = name


class HouseholdImporter(Importer):
    what = "households"
    columns = (
        Column("site_id", "site_id", "小区编号", required=True, aliases=("site",)),
        Column("building_id", "building_id", "楼栋编号", required=True, aliases=("building",)),
        Column("building_name", "building_name", "楼栋名称"),
        Column("unit", "unit", "房号", required=True, aliases=("room",)),
        Column("floor", "floor", "楼层"),
        Column("area_m2", "area_m2", "面积", aliases=("area",)),
        Column("holder", "holder", "户主"),
        Column("phone", "phone", "联系电话", aliases=("电话",)),
    )
    row_model = HouseholdRow

    def key(self, row: HouseholdRow) -> tuple:
        return row.site_id, row.building_id, row.unit

    def check(self, session: Session, rows: list[Parsed], header: Callable[[str], str]) -> list[RowError]:
        return check_sites(session, [(p.line, p.row.site_id) for p in rows], header("site_id"))

    def apply(self, session: Session, rows: list[HouseholdRow], context: Context) -> Counts:
        ensure_buildings(session, {(r.site_id, r.building_id): r.building_name for r in rows})
        keys = [self.key(r) for r in rows]
        existing = {(h.site_id, h.building_id, h.unit): h for h in session.scalars(select(Household).where(
            tuple_(Household.site_id, Household.building_id, Household.unit).in_(keys)))}
        return upsert(session, rows, lambda r: existing.get(self.key(r)),
                      lambda r: Household(site_id=r.site_id, building_id=r.building_id, unit=r.unit), FIELDS)

    def export(self, session: Session) -> list[dict]:
        names = {(b.site_id, b.building_id): b.name for b in session.scalars(select(Building))}
        return [{"site_id": h.site_id, "building_id": h.building_id,
                 "building_name": names.get((h.site_id, h.building_id)), "unit": h.unit,
                 **{f: getattr(h, f) for f in FIELDS}}
                for h in session.scalars(select(Household).order_by(Household.site_id, Household.building_id,
                                                                    Household.unit))]


IMPORTER = HouseholdImporter()
