"""KPIs over HTTP: the colours of each site's KPIs as last judged, and the warnings their changes sent."""

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import select

from core.deps import NowDep, SessionsDep
from kpis import service
from kpis.models import KpiState, KpiStateOut, KpiWarning, KpiWarningOut
from people.models import Role
from people.views import Me, require

router = APIRouter(tags=["kpis"])


@router.get("/kpis", response_model=list[KpiStateOut])
def states(me: Me, sessions: SessionsDep, site: str | None = None) -> list[KpiState]:
    """Each site's KPIs with their colour, as the KPI watch last judged them."""
    require(me, Role.STAFF)
    query = select(KpiState).order_by(KpiState.site, KpiState.kpi)
    if site:
        query = query.where(KpiState.site == site)
    with sessions() as session:
        return list(session.scalars(query))


@router.get("/kpis/warnings", response_model=list[KpiWarningOut])
def warnings(me: Me, sessions: SessionsDep, limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[KpiWarning]:
    require(me, Role.STAFF)
    with sessions() as session:
        return list(session.scalars(select(KpiWarning).order_by(KpiWarning.id.desc()).limit(limit)))


@router.get("/kpis/compute")
def compute_now(me: Me, sessions: SessionsDep, now: NowDep, start: datetime, end: datetime | None = None,
                site: str | None = None) -> list[dict]:
    """The KPIs over any period (ISO times), computed now with the same definitions as the report."""
    require(me, Role.STAFF)
    table = service.compute(sessions, start, end or now + timedelta(microseconds=1), site)  # up to now, included
    return [{k: (None if v != v else v) for k, v in row.items()} for row in table.to_dict("records")]  # NaN -> null
