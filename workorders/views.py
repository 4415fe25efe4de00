"""HTTP routes for work orders (thin: the rules live in ``workorders.service`` and ``workorders.flows``)."""

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status

from core.deps import LimitsDep, SessionsDep
from people.models import Role
from people.service import Principal
from people.views import Me, require, throttle_writes
from workorders import service
from workorders.flows import WorkOrderDesk
from workorders.models import ActionIn, AssignIn, ClassifyIn, FollowUpIn, WorkOrder, WorkOrderDetail, WorkOrderOut
from workorders.service import NotYours, TransitionError

router = APIRouter(tags=["work orders"])


def _desk(request: Request) -> WorkOrderDesk:
    return request.app.state.desk


DeskDep = Annotated[WorkOrderDesk, Depends(_desk)]


def check_workable(sessions: SessionsDep, me: Principal, order_id: int) -> None:
    """404 if there is no such order, 403 if it is not on the caller's sites."""
    with sessions() as session:
        try:
            service.workable(session, me, order_id)
        except LookupError as err:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(err)) from None
        except NotYours as err:
            raise HTTPException(status.HTTP_403_FORBIDDEN, str(err)) from None


@router.get("/work-orders", response_model=list[WorkOrderOut])
def list_orders(me: Me, sessions: SessionsDep, status_: Annotated[str | None, Query(alias="status")] = None,
                priority: str | None = None, site: str | None = None, building: str | None = None,
                assignee: str | None = None, matrix_cell: str | None = None, open_only: bool = False,
                limit: Annotated[int, Query(ge=1, le=500)] = 100,
                offset: Annotated[int, Query(ge=0)] = 0) -> list[WorkOrder]:
    require(me, Role.STAFF, Role.TECHNICIAN)
    with sessions() as session:
        return service.list_orders(session, me, status=status_, priority=priority, site=site, building=building,
                                   assignee=assignee, matrix_cell=matrix_cell, open_only=open_only, limit=limit,
                                   offset=offset)


@router.get("/work-orders/{order_id}", response_model=WorkOrderDetail)
def get_order(order_id: int, me: Me, sessions: SessionsDep) -> WorkOrderDetail:
    require(me, Role.STAFF, Role.TECHNICIAN)
    check_workable(sessions, me, order_id)
    with sessions() as session:
        return WorkOrderDetail.model_validate(service.get(session, order_id))


def _change(me: Principal, sessions, limits, order_id: int, roles: tuple[Role, ...],  # noqa: ANN001
            action: Callable[[], WorkOrder]) -> WorkOrder:
    """Every change of an order: the caller's role, the order on their sites, the write throttle, then the action;
    a step not allowed from the order's state answers 409, a bad value 422."""
    require(me, *roles)
    check_workable(sessions, me, order_id)
    throttle_writes(limits, me)
    try:
        return action()
    except TransitionError as err:
        raise HTTPException(status.HTTP_409_CONFLICT, str(err)) from None
    except ValueError as err:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(err)) from None


def _act(action: str, roles: tuple[Role, ...]):  # noqa: ANN202 - a route function
    def endpoint(order_id: int, me: Me, sessions: SessionsDep, limits: LimitsDep, desk: DeskDep,
                 body: ActionIn | None = None) -> WorkOrder:
        note = body.note if body else None
        return _change(me, sessions, limits, order_id, roles,
                       lambda: desk.transition(order_id, action, me.username, note, person=me.person_id))

    endpoint.__name__ = f"{action}_order"
    return endpoint


for _action, _roles in (("acknowledge", (Role.STAFF, Role.TECHNICIAN)), ("start", (Role.STAFF, Role.TECHNICIAN)),
                        ("resolve", (Role.STAFF, Role.TECHNICIAN)), ("close", (Role.STAFF,))):
    router.add_api_route(f"/work-orders/{{order_id}}/{_action}", _act(_action, _roles), methods=["POST"],
                         response_model=WorkOrderOut, summary=f"{_action.capitalize()} a work order")


@router.post("/work-orders/{order_id}/follow-up", response_model=WorkOrderOut)
def follow_up(order_id: int, body: FollowUpIn, me: Me, sessions: SessionsDep, limits: LimitsDep,
              desk: DeskDep) -> WorkOrder:
    """Record the follow-up call or visit: the owner's rating, or ``"outcome": "no_answer"``; closes a resolved
    order (an order closes only after one, or after ``intake.followup_timeout_h`` as "no answer")."""
    return _change(me, sessions, limits, order_id, (Role.STAFF,),
                   lambda: desk.follow_up(order_id, me.username, body.rating, body.comment))


@router.post("/work-orders/{order_id}/classify", response_model=WorkOrderOut)
def classify(order_id: int, body: ClassifyIn, me: Me, sessions: SessionsDep, limits: LimitsDep,
             desk: DeskDep) -> WorkOrder:
    """Move an order to another cell of the demand-response matrix; its deadlines are set again from its creation
    (audited). Staff only."""
    return _change(me, sessions, limits, order_id, (Role.STAFF,),
                   lambda: desk.classify(order_id, body.cell, me.username, body.note))


@router.post("/work-orders/{order_id}/assign", response_model=WorkOrderOut)
def assign(order_id: int, body: AssignIn, me: Me, sessions: SessionsDep, limits: LimitsDep,
           desk: DeskDep) -> WorkOrder:
    """Hand the order to another on-call person (a transfer; audited, and they are told). Staff only."""
    return _change(me, sessions, limits, order_id, (Role.STAFF,),
                   lambda: desk.assign(order_id, body.person, me.username, body.note))
