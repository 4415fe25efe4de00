"""Timers over work orders, run by the alert engine's tick: escalation on every missed timer (acknowledge, arrive,
resolve) along the rota's levels, and closing resolved orders nobody could be reached for."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from core.i18n import N_
from core.partition import Owns, owned_rows
from devices.kinds import Skill
from workorders import service
from workorders.flows import WorkOrderDesk
from workorders.models import Priority, Status, WorkOrder
from workorders.service import SYSTEM


def escalate_due(desk: WorkOrderDesk, owns: Owns | None = None) -> int:
    """Orders nobody acknowledged in time go to the next on-call level (and the office is told). ``owns``: an alert
    engine partition's sites only."""
    now = desk.clock()
    count = 0
    with desk.unit_of_work() as work:
        session = work.session
        due = owned_rows(session, select(WorkOrder).where(
            WorkOrder.status == Status.OPEN.value, WorkOrder.ack_due_at <= now).order_by(WorkOrder.id), owns)
        for order in due:
            sla = desk.sla[Priority(order.priority)]
            nxt = desk.router.on_duty(order.site, Skill(order.skill), order.escalation_level + 1, now)
            previous = desk.router.person(order.assignee)
            order.ack_due_at = now + timedelta(seconds=sla.acknowledge_s)
            if nxt is None:
                service.audit(session, order, now, SYSTEM, "escalation_exhausted",
                              note="no further on-call level; still unacknowledged")
                desk.notify(session, order, N_("still unacknowledged"), [previous] if previous else [], now,
                            escalation=True)
                continue
            order.escalation_level += 1
            order.assignee = nxt.id
            service.audit(session, order, now, SYSTEM, "escalated",
                          note=f"level {order.escalation_level}: {previous.id if previous else '-'} -> {nxt.id}")
            desk.notify(session, order, N_("escalated to level %(level)s"), [p for p in (nxt, previous) if p], now,
                        escalation=True, level=order.escalation_level + 1)
            work.points.append(service.metric(order, "escalated", now))
            count += 1
        count += _escalate_missed(desk, work, now, owns)
    return count


MISSED = {  # timer -> (the order's due column, when it was escalated, statuses it applies to, what people are told)
    "arrive": ("arrive_due_at", "arrive_escalated_at", (Status.OPEN, Status.ACKNOWLEDGED),
               N_("nobody on site in time (escalated)")),
    "resolve": ("resolve_due_at", "resolve_escalated_at", (Status.OPEN, Status.ACKNOWLEDGED, Status.IN_PROGRESS),
                N_("not resolved in time (escalated)")),
}


def _escalate_missed(desk: WorkOrderDesk, work, now, owns: Owns | None) -> int:  # noqa: ANN001 - UnitOfWork, datetime
    """The arrive and resolve timers, once each: the next rota level and the assignee are told (the assignee stays:
    someone is working it); the SLA times themselves are kept for the metrics."""
    count = 0
    for timer, (due, escalated, statuses, what) in MISSED.items():
        due_column, escalated_column = getattr(WorkOrder, due), getattr(WorkOrder, escalated)
        missed = owned_rows(work.session, select(WorkOrder).where(
            WorkOrder.status.in_([s.value for s in statuses]), due_column <= now, escalated_column.is_(None))
            .order_by(WorkOrder.id), owns)
        for order in missed:
            setattr(order, escalated, now)
            nxt = desk.router.on_duty(order.site, Skill(order.skill), order.escalation_level + 1, now)
            current = desk.router.person(order.assignee)
            if nxt is not None:
                order.escalation_level += 1
            service.audit(work.session, order, now, SYSTEM, f"escalated_{timer}",
                          note=f"{what}; level {order.escalation_level}: told {nxt.id if nxt else 'the office'}")
            desk.notify(work.session, order, what, [p for p in (nxt, current) if p], now, escalation=True)
            work.points.append(service.metric(order, f"escalated_{timer}", now))
            count += 1
    return count


def close_unanswered(desk: WorkOrderDesk, after_h: float, owns: Owns | None = None) -> int:
    """Resolved orders whose follow-up nobody could make within ``after_h`` close as "no answer"."""
    now = desk.clock()
    with desk.unit_of_work() as work:
        due = owned_rows(work.session, select(WorkOrder).where(
            WorkOrder.status == Status.RESOLVED.value,
            WorkOrder.resolved_at <= now - timedelta(hours=after_h)).order_by(WorkOrder.id), owns)
        for order in due:
            desk.record_follow_up(work, order, SYSTEM, None, f"no follow-up within {after_h:.0f} h", now)
    return len(due)
