"""The register over HTTP (staff): import and export files, list sites, buildings and households."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, File, Query, Response, UploadFile, status
from pydantic import BaseModel
from sqlalchemy import select

from core.deps import NowDep, SessionsDep
from people.views import Staff, throttle_writes
from register import imports
from register.models import Building, BuildingOut, Household, HouseholdOut, Site, SiteOut
from register.tables import table_bytes

router = APIRouter(tags=["register"])
What = Literal["sites", "households", "owners", "devices"]
MEDIA_TYPES = {"csv": "text/csv; charset=utf-8",
               "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


class RowErrorOut(BaseModel):
    row: int
    column: str | None
    reason: str


class ImportOut(BaseModel):
    what: str
    rows: int
    created: int
    updated: int
    unchanged: int
    applied: bool
    dry_run: bool
    errors: list[RowErrorOut]
    invites: list[dict]


@router.post("/register/import/{what}", response_model=ImportOut, dependencies=[Depends(throttle_writes)],
             responses={422: {"model": ImportOut, "description": "bad rows; nothing applied"}})
def import_file(what: What, me: Staff, sessions: SessionsDep, now: NowDep,
                file: Annotated[UploadFile, File(description=".csv (UTF-8 or GBK) or .xlsx")],
                dry_run: bool = False, apply_good: bool = False) -> Response:
    """Import a register file (templates in docs/templates/). With a bad row nothing is applied (422 with every
    row's reason) unless ``apply_good``; ``dry_run`` reports what would change. New owners' invite codes are in
    the answer, once."""
    report = imports.run_import(sessions, what, file.file.read(), file.filename or "upload.csv", now=now,
                                dry_run=dry_run, apply_good=apply_good)
    body = ImportOut(what=report.what, rows=report.rows, created=report.created, updated=report.updated,
                     unchanged=report.unchanged, applied=report.applied, dry_run=report.dry_run,
                     errors=[RowErrorOut(row=e.row, column=e.column, reason=e.reason) for e in report.errors],
                     invites=report.invites)
    code = 422 if report.errors and not report.applied else status.HTTP_200_OK
    return Response(body.model_dump_json(), status_code=code, media_type="application/json")


@router.get("/register/export/{what}")
def export_file(what: What, me: Staff, sessions: SessionsDep,
                format: Literal["csv", "xlsx"] = "csv", lang: Literal["en", "zh"] = "en") -> Response:  # noqa: A002
    """The register in the import's own format (import it back unchanged)."""
    with sessions() as session:
        frame = imports.export_frame(what, session, lang=lang)
    return Response(table_bytes(frame, format), media_type=MEDIA_TYPES[format],
                    headers={"Content-Disposition": f'attachment; filename="{what}.{format}"'})


@router.get("/register/sites", response_model=list[SiteOut])
def list_sites(me: Staff, sessions: SessionsDep) -> list[Site]:
    with sessions() as session:
        return list(session.scalars(select(Site).order_by(Site.site_id)))


@router.get("/register/buildings", response_model=list[BuildingOut])
def list_buildings(me: Staff, sessions: SessionsDep, site: str | None = None) -> list[Building]:
    query = select(Building).order_by(Building.site_id, Building.building_id)
    with sessions() as session:
        return list(session.scalars(query.where(Building.site_id == site) if site else query))


@router.get("/register/households", response_model=list[HouseholdOut])
def list_households(me: Staff, sessions: SessionsDep, site: str, building: str | None = None,
                    limit: Annotated[int, Query(ge=1, le=10000)] = 1000) -> list[Household]:
    query = select(Household).where(Household.site_id == site)
    if building:
        query = query.where(Household.building_id == building)
    with sessions() as session:
        return list(session.scalars(query.order_by(Household.building_id, Household.unit).limit(limit)))


