"""Notices for owners (and staff)."""

from typing import Annotated

from fastapi import APIRouter, Query

from core.deps import SessionsDep
from notices import service
from notices.models import Notice, NoticeOut
from people.models import Role
from people.views import Me, require

router = APIRouter(tags=["notices"])


@router.get("/notices", response_model=list[NoticeOut])
def list_notices(me: Me, sessions: SessionsDep, limit: Annotated[int, Query(ge=1, le=500)] = 50) -> list[Notice]:
    """Owners see their building's notices and their own unit's; staff see all."""
    require(me, Role.STAFF, Role.OWNER)
    with sessions() as session:
        return service.latest(session, me, limit)
