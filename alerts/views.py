"""Alert state and the loaded rule set (read only)."""

from typing import Annotated

from fastapi import APIRouter, Query, Request
from sqlalchemy import select

from alerts.models import Alert, AlertOut, FailedSignal, FailedSignalOut
from core.deps import SessionsDep
from people.models import Role
from people.views import Me, require

router = APIRouter()


@router.get("/alerts", response_model=list[AlertOut], tags=["alerts"])
def list_alerts(me: Me, sessions: SessionsDep, firing: bool | None = None,
                limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> list[Alert]:
    require(me, Role.STAFF, Role.TECHNICIAN)
    query = select(Alert).order_by(Alert.id.desc()).limit(limit)
    if firing is not None:
        query = query.where(Alert.firing.is_(firing))
    with sessions() as session:
        return list(session.scalars(me.only_my_sites(query, Alert.site)))


@router.get("/alerts/failures", response_model=list[FailedSignalOut], tags=["alerts"])
def list_failures(me: Me, sessions: SessionsDep, limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list:
    """Signals the engine gave up on (not transient database errors, which it retries), newest first, with why."""
    require(me, Role.STAFF)
    with sessions() as session:
        return list(session.scalars(select(FailedSignal).order_by(FailedSignal.id.desc()).limit(limit)))


@router.get("/rules", tags=["rules"])
def list_rules(me: Me, request: Request) -> dict:
    """The loaded rule set, SLA table and on-call plan (read only)."""
    require(me, Role.STAFF, Role.TECHNICIAN)
    return request.app.state.alert_config.model_dump(mode="json")
