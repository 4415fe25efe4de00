"""HTTP routes for work orders, alerts, notices, devices and rules (thin: rules of the trade live in
``alerts.service``; who may see what is decided here, from the caller's role)."""


import secrets
from collections.abc import Callable
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer, OAuth2PasswordRequestForm
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import sessionmaker

from alerts.auth import Principal, issue_token, principal, user_for_token, verify_password
from alerts.config import AlertConfig
from alerts.models import Alert, Device, Notice, Role, User, WorkOrder
from alerts.service import AlertService, TransitionError
from community.limits import ApiLimits

Caller = Callable[..., Principal]


class Orm(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    role: Role
    expires_at: datetime


class WorkOrderEventOut(Orm):
    at: datetime
    actor: str
    action: str
    from_status: str | None
    to_status: str | None
    note: str | None


class WorkOrderOut(Orm):
    id: int
    rule_id: str
    device_id: str
    site: str
    building: str
    unit: str | None
    kind: str
    title: str
    priority: str
    skill: str
    status: str
    life_safety: bool
    assignee: str | None
    escalation_level: int
    occurrences: int
    created_at: datetime
    acknowledged_at: datetime | None
    started_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    fault_cleared_at: datetime | None
    ack_due_at: datetime
    arrive_due_at: datetime
    resolve_due_at: datetime
    resolution_note: str | None
    rating: int | None
    follow_up_comment: str | None


class WorkOrderDetail(WorkOrderOut):
    events: list[WorkOrderEventOut]


class ActionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str | None = Field(default=None, max_length=2000)


class FollowUpIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rating: int = Field(ge=1, le=5, description="the owner's rating, 1 (poor) to 5 (excellent)")
    comment: str | None = Field(default=None, max_length=2000)


class AlertOut(Orm):
    rule_id: str
    device_id: str
    site: str
    building: str
    firing: bool
    flapping: bool
    occurrences: int
    first_fired_at: datetime | None
    last_fired_at: datetime | None
    cleared_at: datetime | None
    detail: str | None


class NoticeOut(Orm):
    id: int
    work_order_id: int
    site: str
    building: str
    unit: str | None
    phase: str
    text: str
    created_at: datetime


class DeviceOut(Orm):
    device_id: str
    site: str
    building: str
    kind: str
    medium: str | None
    unit: str | None
    online: bool | None
    last_seen: datetime
    last_state: dict | None


def too_many(retry_after: int, what: str) -> HTTPException:
    return HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, f"too many {what}; retry in {retry_after} s",
                         headers={"Retry-After": str(retry_after)})


def check_login(limits: ApiLimits, address: str, username: str) -> None:
    """Raise 429 when this address tries too often or this username failed too often."""
    if not limits.login_attempts.allow(address):
        raise too_many(limits.login_attempts.retry_after(address), "login attempts from this address")
    if limits.login_failures.blocked(username):
        raise too_many(limits.login_failures.retry_after(username), "failed logins for this user")


def build_router(sessions: sessionmaker, service: AlertService, config: AlertConfig, caller: Caller,
                 clock: Callable[[], datetime], limits: ApiLimits) -> APIRouter:
    router = APIRouter()

    def throttle_writes(me: Principal) -> None:
        if not limits.writes.allow(me.username):
            raise too_many(limits.writes.retry_after(me.username), "changes")
    Me = Annotated[Principal, Depends(caller)]  # noqa: N806 - a type alias (no `from __future__ import annotations` here: FastAPI must see it)

    def require(me: Principal, *roles: Role) -> None:
        if me.role not in roles:
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"role {me.role.value} may not do this")

    def order_for(me: Principal, order_id: int) -> WorkOrder:
        require(me, Role.STAFF, Role.TECHNICIAN)
        with sessions() as session:
            order = session.get(WorkOrder, order_id)
            if order is None:
                raise HTTPException(status.HTTP_404_NOT_FOUND, f"work order {order_id} not found")
            if not me.may_work_site(order.site):
                raise HTTPException(status.HTTP_403_FORBIDDEN, f"work order {order_id} is not on your sites")
            return order

    @router.post("/auth/token", response_model=TokenOut, tags=["auth"])
    def login(request: Request, form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> TokenOut:
        """Exchange username and password for a bearer token (12 h). Rate limited per address and username."""
        check_login(limits, request.client.host if request.client else "-", form.username)
        with sessions.begin() as session:
            user = session.get(User, form.username)
            if user is None or not verify_password(form.password, user.password_hash):
                limits.login_failures.allow(form.username)
                raise HTTPException(status.HTTP_401_UNAUTHORIZED, "wrong username or password")
            token, expires = issue_token(session, user.username, clock())
            return TokenOut(access_token=token, role=Role(user.role), expires_at=expires)

    @router.get("/me", tags=["auth"])
    def me(me: Me) -> dict:
        return {"username": me.username, "role": me.role.value, "person_id": me.person_id, "sites": list(me.sites),
                "site": me.site, "building": me.building, "unit": me.unit}

    @router.get("/work-orders", response_model=list[WorkOrderOut], tags=["work orders"])
    def list_orders(me: Me, status_: Annotated[str | None, Query(alias="status")] = None,
                    priority: str | None = None, site: str | None = None, building: str | None = None,
                    assignee: str | None = None, open_only: bool = False,
                    limit: Annotated[int, Query(ge=1, le=500)] = 100,
                    offset: Annotated[int, Query(ge=0)] = 0) -> list[WorkOrder]:
        require(me, Role.STAFF, Role.TECHNICIAN)
        query = select(WorkOrder).order_by(WorkOrder.id.desc()).limit(limit).offset(offset)
        for column, value in ((WorkOrder.status, status_), (WorkOrder.priority, priority),
                              (WorkOrder.site, site), (WorkOrder.building, building),
                              (WorkOrder.assignee, assignee)):
            if value is not None:
                query = query.where(column == value)
        if open_only:
            query = query.where(WorkOrder.status.in_(["open", "acknowledged", "in_progress"]))
        query = me.only_my_sites(query, WorkOrder.site)
        with sessions() as session:
            return list(session.scalars(query))

    @router.get("/work-orders/{order_id}", response_model=WorkOrderDetail, tags=["work orders"])
    def get_order(order_id: int, me: Me) -> WorkOrderDetail:
        order_for(me, order_id)
        with sessions() as session:
            order = session.get(WorkOrder, order_id)
            return WorkOrderDetail.model_validate(order)

    def act(action: str, roles: tuple[Role, ...]):  # noqa: ANN202
        def endpoint(order_id: int, me: Me, body: ActionIn | None = None) -> WorkOrder:
            require(me, *roles)
            order_for(me, order_id)
            throttle_writes(me)
            try:
                return service.transition(order_id, action, me.username, body.note if body else None)
            except TransitionError as err:
                raise HTTPException(status.HTTP_409_CONFLICT, str(err)) from None

        endpoint.__name__ = f"{action}_order"
        return endpoint

    for action, roles in (("acknowledge", (Role.STAFF, Role.TECHNICIAN)), ("start", (Role.STAFF, Role.TECHNICIAN)),
                          ("resolve", (Role.STAFF, Role.TECHNICIAN)), ("close", (Role.STAFF,))):
        router.add_api_route(f"/work-orders/{{order_id}}/{action}", act(action, roles), methods=["POST"],
                             response_model=WorkOrderOut, tags=["work orders"],
                             summary=f"{action.capitalize()} a work order")

    @router.post("/work-orders/{order_id}/follow-up", response_model=WorkOrderOut, tags=["work orders"])
    def follow_up(order_id: int, body: FollowUpIn, me: Me) -> WorkOrder:
        """Record the follow-up visit and the owner's rating; closes a resolved order."""
        require(me, Role.STAFF)
        order_for(me, order_id)
        throttle_writes(me)
        try:
            return service.follow_up(order_id, me.username, body.rating, body.comment)
        except TransitionError as err:
            raise HTTPException(status.HTTP_409_CONFLICT, str(err)) from None

    @router.get("/alerts", response_model=list[AlertOut], tags=["alerts"])
    def list_alerts(me: Me, firing: bool | None = None, limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> list:
        require(me, Role.STAFF, Role.TECHNICIAN)
        query = select(Alert).order_by(Alert.id.desc()).limit(limit)
        if firing is not None:
            query = query.where(Alert.firing.is_(firing))
        query = me.only_my_sites(query, Alert.site)
        with sessions() as session:
            return list(session.scalars(query))

    @router.get("/notices", response_model=list[NoticeOut], tags=["notices"])
    def list_notices(me: Me, limit: Annotated[int, Query(ge=1, le=500)] = 50) -> list:
        """Owners see their building's notices and their own unit's; staff see all."""
        require(me, Role.STAFF, Role.OWNER)
        query = select(Notice).order_by(Notice.id.desc()).limit(limit)
        if me.role is Role.OWNER:
            mine = and_(Notice.site == me.site, Notice.building == me.building)
            unit = Notice.unit.is_(None) if me.unit is None else or_(Notice.unit.is_(None), Notice.unit == me.unit)
            query = query.where(mine, unit)
        with sessions() as session:
            return list(session.scalars(query))

    @router.get("/devices", response_model=list[DeviceOut], tags=["devices"])
    def list_devices(me: Me, site: str | None = None, kind: str | None = None,
                     limit: Annotated[int, Query(ge=1, le=5000)] = 1000) -> list:
        require(me, Role.STAFF, Role.TECHNICIAN)
        query = select(Device).order_by(Device.device_id).limit(limit)
        if site:
            query = query.where(Device.site == site)
        if kind:
            query = query.where(Device.kind == kind)
        with sessions() as session:
            return list(session.scalars(query))

    @router.get("/devices/{device_id}", response_model=DeviceOut, tags=["devices"])
    def get_device(device_id: str, me: Me) -> Device:
        require(me, Role.STAFF, Role.TECHNICIAN)
        with sessions() as session:
            device = session.get(Device, device_id)
        if device is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"device {device_id} not seen yet")
        return device

    @router.get("/rules", tags=["rules"])
    def list_rules(me: Me) -> dict:
        """The loaded rule set, SLA table and on-call plan (read only)."""
        require(me, Role.STAFF, Role.TECHNICIAN)
        return config.model_dump(mode="json")

    return router


def resolve_principal(sessions: sessionmaker, token: str | None, operator_token: str,
                      clock: Callable[[], datetime]) -> Principal | None:
    """The caller behind a bearer token or page cookie, or None."""
    if not token:
        return None
    if secrets.compare_digest(token, operator_token):
        return Principal("operator", Role.STAFF)
    with sessions() as session:
        user = user_for_token(session, token, clock())
        return principal(user) if user else None


def caller_dependency(sessions: sessionmaker, operator_token: str, clock: Callable[[], datetime]) -> Caller:
    """Resolve the bearer token to a principal; 401 without a valid one."""
    bearer = HTTPBearer(auto_error=False)

    def caller(creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> Principal:
        if creds is None:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "bearer token required",
                                headers={"WWW-Authenticate": "Bearer"})
        me = resolve_principal(sessions, creds.credentials, operator_token, clock)
        if me is None:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "invalid or expired token",
                                headers={"WWW-Authenticate": "Bearer"})
        return me

    return caller
