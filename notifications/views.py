"""The outbox for operators: what was sent, what is still being tried, and what reached nobody."""

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import select

from core.deps import SessionsDep
from notifications.models import Notification, NotificationOut
from people.views import Staff

router = APIRouter(tags=["notifications"])


@router.get("/notifications", response_model=list[NotificationOut])
def list_notifications(me: Staff, sessions: SessionsDep, status: str | None = None, undeliverable: bool = False,
                       work_order_id: int | None = None,
                       limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[Notification]:
    """Newest first. ``undeliverable=true``: messages that failed on every channel of their chain (someone must
    phone that person); ``fell_back_to`` links a failed channel to the one tried next."""
    query = select(Notification).order_by(Notification.id.desc()).limit(limit)
    if undeliverable:
        query = query.where(Notification.status == "failed", Notification.fell_back_to.is_(None))
    elif status:
        query = query.where(Notification.status == status)
    if work_order_id is not None:
        query = query.where(Notification.work_order_id == work_order_id)
    with sessions() as session:
        return list(session.scalars(query))
