"""Timers over work orders, run by the alert engine's tick: escalation of orders nobody acknowledged in time."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from devices.kinds import Skill
from workorders import service
from workorders.flows import WorkOrderDesk
from workorders.models import Priority, Status, WorkOrder
from workorders.service import SYSTEM


def escalate_due(desk: WorkOrderDesk) -> int:
    """Orders nobody acknowledged in time go to the next on-call level (and the office is told)."""
    now = desk.clock()
    count = 0
    with desk.unit_of_work() as work:
        session = work.session
        due = session.scalars(select(WorkOrder).where(
            WorkOrder.status == Status.OPEN.value, WorkOrder.ack_due_at <= now).order_by(WorkOrder.id)).all()
        for order in due:
            sla = desk.sla[Priority(order.priority)]
            nxt = desk.router.on_duty(order.site, Skill(order.skill), order.escalation_level + 1, now)
            previous = desk.router.person(order.assignee)
            order.ack_due_at = now + timedelta(seconds=sla.acknowledge_s)
            if nxt is None:
                service.audit(session, order, now, SYSTEM, "escalation_exhausted",
                              note="no further on-call level; still unacknowledged")
                desk.notify(session, order, "still unacknowledged", [previous] if previous else [], now)
                continue
            order.escalation_level += 1
            order.assignee = nxt.id
            service.audit(session, order, now, SYSTEM, "escalated",
                          note=f"level {order.escalation_level}: {previous.id if previous else '-'} -> {nxt.id}")
            desk.notify(session, order, f"escalated to level {order.escalation_level + 1}",
                        [p for p in (nxt, previous) if p], now)
            work.points.append(service.metric(order, "escalated", now))
            count += 1
    return count
