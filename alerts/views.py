"""Alert state and the loaded rule set (read only)."""

from typing import Annotated

from fastapi import APIRouter, Query, Request
from sqlalchemy import select

from alerts.models import Alert, AlertOut
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


@router.get("/rules", tags=["rules"])
def list_rules(me: Me, request: Request) -> dict:
    """The loaded rule set, SLA table and on-call plan (read only)."""
    require(me, Role.STAFF, Role.TECHNICIAN)
    return request.app.state.alert_config.model_dump(mode="json")
