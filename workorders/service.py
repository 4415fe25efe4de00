"""Work-order business rules as plain functions over a SQLAlchemy session (Dispatch style): the lifecycle and its
allowed transitions, the audit trail, ticket metrics, and the queries the API and pages share. Side effects on
other domains (notices, notifications) are in ``workorders.flows``."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.clock import epoch_ms
from ingest.lineprotocol import Point
from people.service import Principal
from workorders.models import OPEN_STATUSES, Status, WorkOrder, WorkOrderEvent

SYSTEM = "system"

# allowed transitions: action -> (from statuses, to status)
TRANSITIONS: dict[str, tuple[set[Status], Status]] = {
    "acknowledge": ({Status.OPEN}, Status.ACKNOWLEDGED),
    "start": ({Status.OPEN, Status.ACKNOWLEDGED}, Status.IN_PROGRESS),
    "resolve": ({Status.OPEN, Status.ACKNOWLEDGED, Status.IN_PROGRESS}, Status.RESOLVED),
    "close": ({Status.RESOLVED}, Status.CLOSED),
    "reopen": ({Status.RESOLVED, Status.CLOSED}, Status.OPEN),  # the owner says it is not fixed
}
FIELD_ACTIONS = ("acknowledge", "start", "resolve")  # what a technician does from the queue


class TransitionError(ValueError):
    """The action is not allowed from the order's current status."""


def get(session: Session, order_id: int) -> WorkOrder:
    order = session.get(WorkOrder, order_id)
    if order is None:
        raise LookupError(f"work order {order_id} not found")
    return order


def open_by_key(session: Session, key: str) -> WorkOrder | None:
    """The open order of a fault (``rule:device``), if any: one fault, one open order."""
    return session.scalar(select(WorkOrder).where(WorkOrder.open_key == key))


def audit(session: Session, order: WorkOrder, now: datetime, actor: str, action: str, *,
          from_status: str | None = None, to_status: str | None = None, note: str | None = None) -> None:
    session.add(WorkOrderEvent(work_order_id=order.id, at=now, actor=actor, action=action,
                               from_status=from_status, to_status=to_status, note=note))


def apply_transition(session: Session, order: WorkOrder, action: str, actor: str, note: str | None,
                     now: datetime) -> Status:
    """Move the order; raises ``TransitionError`` if the action is unknown or not allowed from its status."""
    if action not in TRANSITIONS:
        raise TransitionError(f"unknown action {action!r}; one of {sorted(TRANSITIONS)}")
    allowed, target = TRANSITIONS[action]
    current = Status(order.status)
    if current not in allowed:
        raise TransitionError(f"cannot {action} a work order that is {current.value} "
                              f"(allowed from: {', '.join(sorted(s.value for s in allowed))})")
    order.status = target.value
    if target is Status.ACKNOWLEDGED or (target is Status.IN_PROGRESS and order.acknowledged_at is None):
        order.acknowledged_at = now
    if target is Status.IN_PROGRESS:
        order.started_at = now
    if target is Status.RESOLVED:
        order.resolved_at = now
        order.open_key = None  # the next fault of this rule on this device opens a new order
        order.resolution_note = note
    if target is Status.CLOSED:
        order.closed_at = now
    if target is Status.OPEN:  # reopened: worked again from the start (the audit trail keeps the first round)
        order.acknowledged_at = order.started_at = order.resolved_at = order.closed_at = None
        order.fault_cleared_at, order.rating, order.followed_up_at = None, None, None
        order.reopened = (order.reopened or 0) + 1
    audit(session, order, now, actor, action, from_status=current.value, to_status=target.value, note=note)
    return target


def metric(order: WorkOrder, action: str, now: datetime) -> Point:
    """Ticket metrics for dashboards (measurement ``work_order``, docs/influx-schema.md)."""
    due = {"acknowledge": order.ack_due_at, "start": order.arrive_due_at, "resolve": order.resolve_due_at}
    fields: dict[str, object] = {"order_id": order.id, "seconds": float((now - order.created_at).total_seconds()),
                                 "escalation_level": order.escalation_level, "occurrences": order.occurrences}
    if action in due:
        fields["within_sla"] = now <= due[action]
    if order.rating is not None and action == "follow_up":
        fields["rating"] = order.rating
    tags = {"site": order.site, "building": order.building, "device": order.device_id, "rule": order.rule_id,
            "priority": order.priority, "skill": order.skill, "action": action}
    return Point("work_order", tags, fields, epoch_ms(now))


def summary(order: WorkOrder) -> dict:
    """What a notification says about an order."""
    return {
        "id": order.id, "title": order.title, "priority": order.priority, "status": order.status,
        "site": order.site, "building": order.building, "unit": order.unit, "device": order.device_id,
        "kind": order.kind, "assignee": order.assignee, "escalation_level": order.escalation_level,
        "created_at": order.created_at.isoformat(), "ack_due_at": order.ack_due_at.isoformat(),
    }


def list_orders(session: Session, me: Principal, *, status: str | None = None, priority: str | None = None,
                site: str | None = None, building: str | None = None, assignee: str | None = None,
                matrix_cell: str | None = None, open_only: bool = False, limit: int = 100,
                offset: int = 0) -> list[WorkOrder]:
    query = select(WorkOrder).order_by(WorkOrder.id.desc()).limit(limit).offset(offset)
    for column, value in ((WorkOrder.status, status), (WorkOrder.priority, priority), (WorkOrder.site, site),
                          (WorkOrder.building, building), (WorkOrder.assignee, assignee),
                          (WorkOrder.matrix_cell, matrix_cell)):
        if value is not None:
            query = query.where(column == value)
    if open_only:
        query = query.where(WorkOrder.status.in_(OPEN_STATUSES))
    return list(session.scalars(me.only_my_sites(query, WorkOrder.site)))


def open_queue(session: Session, me: Principal) -> tuple[list[WorkOrder], list[WorkOrder]]:
    """A technician's queue: (theirs, the others on their sites), most urgent acknowledgement first."""
    query = select(WorkOrder).where(WorkOrder.status.in_(OPEN_STATUSES)).order_by(WorkOrder.ack_due_at)
    orders = list(session.scalars(me.only_my_sites(query, WorkOrder.site)))
    mine = [o for o in orders if me.person_id and o.assignee == me.person_id]
    return mine, [o for o in orders if o not in mine]


class NotYours(PermissionError):
    """The caller may not work this order (not staff or technician, or not on their sites)."""


def workable(session: Session, me: Principal, order_id: int) -> WorkOrder:
    """The order, if this caller may work it: ``LookupError`` if there is none, ``NotYours`` if not theirs."""
    order = get(session, order_id)
    if not me.may_work_site(order.site):
        raise NotYours(f"work order {order_id} is not on your sites")
    return order
