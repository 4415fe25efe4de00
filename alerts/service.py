"""Alert state and work-order business rules (plain functions over a SQLAlchemy session, Dispatch style).

- one fault = one open work order, deduplicated by ``open_key`` (rule:device, unique while open);
- repeats raise the occurrence count; flapping alerts hold their order open until they stay clear;
- a cleared fault resolves the order, except where the rule says a technician must (life safety by default);
- every transition is timestamped, attributed and written to the audit trail;
- notifications and owner notices are rows written in the same transaction (an outbox): a crash can never
  create an order without its notifications, and sending happens elsewhere (``alerts.notify``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from alerts.config import AlertConfig, Priority, Rule, Scope, Skill
from alerts.evaluator import Signal
from alerts.models import Alert, Notice, Notification, Status, WorkOrder, WorkOrderEvent
from alerts.routing import OnCallRouter
from ingest.lineprotocol import line

SYSTEM = "system"

# allowed transitions: action -> (from statuses, to status)
TRANSITIONS: dict[str, tuple[set[Status], Status]] = {
    "acknowledge": ({Status.OPEN}, Status.ACKNOWLEDGED),
    "start": ({Status.OPEN, Status.ACKNOWLEDGED}, Status.IN_PROGRESS),
    "resolve": ({Status.OPEN, Status.ACKNOWLEDGED, Status.IN_PROGRESS}, Status.RESOLVED),
    "close": ({Status.RESOLVED}, Status.CLOSED),
}


class TransitionError(ValueError):
    """The action is not allowed from the order's current status."""


@dataclass(frozen=True)
class Outcome:
    """What handling a signal did, for logs, metrics and tests."""

    action: str  # created | occurrence | resolved | fault_cleared | held_flapping | ignored
    work_order_id: int | None = None


MetricSink = Callable[[str], None]


def _now_ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def device_name(kind: str, device_id: str) -> str:
    return f"{kind.capitalize()} {device_id}"


class AlertService:
    def __init__(self, sessions: sessionmaker, config: AlertConfig, *, clock: Callable[[], datetime],
                 metrics: MetricSink | None = None, notice_prefix: str = "community-notices",
                 notify_prefix: str = "community-notify",
                 channels: frozenset[str] = frozenset({"webhook", "email", "mqtt"})) -> None:
        self.sessions = sessions
        self.config = config
        self.router = OnCallRouter(config.oncall)
        self.clock = clock
        self.metrics = metrics or (lambda _line: None)
        self.notice_prefix = notice_prefix
        self.notify_prefix = notify_prefix
        self.channels = channels  # only these get outbox rows (no e-mail rows without an SMTP server)

    @contextmanager
    def _unit_of_work(self) -> Iterator[tuple[Session, list[str]]]:
        """One transaction; the ticket-metric points it produced are emitted only once it committed."""
        lines: list[str] = []
        with self.sessions.begin() as session:
            yield session, lines
        for metric in lines:
            self.metrics(metric)

    @staticmethod
    def _order(session: Session, order_id: int) -> WorkOrder:
        order = session.get(WorkOrder, order_id)
        if order is None:
            raise LookupError(f"work order {order_id} not found")
        return order

    # ------------------------------------------------------------------ signals
    def handle(self, signal: Signal) -> Outcome:
        try:
            with self._unit_of_work() as (session, lines):
                return self._handle(session, signal, lines)
        except IntegrityError:  # another instance opened the same order first: now it is a repeat
            with self._unit_of_work() as (session, lines):
                return self._handle(session, signal, lines)

    def _handle(self, session: Session, signal: Signal, lines: list[str]) -> Outcome:
        now = self.clock()
        rule, ref = signal.rule, signal.device
        alert = session.scalar(select(Alert).where(Alert.rule_id == rule.id, Alert.device_id == ref.device_id))
        if alert is None:
            alert = Alert(rule_id=rule.id, device_id=ref.device_id, site=ref.site, building=ref.building,
                          firing=False, occurrences=0, changes=[], flapping=False, last_source_ms=0)
            session.add(alert)
        if signal.at_ms <= alert.last_source_ms:
            return Outcome("ignored")  # redelivered after a restart: already applied
        alert.last_source_ms = signal.at_ms
        alert.detail = (signal.detail or "")[:500] or None
        order = session.scalar(select(WorkOrder).where(WorkOrder.open_key == f"{rule.id}:{ref.device_id}"))
        if signal.fire:
            return self._fire(session, alert, order, signal, now, lines)
        return self._clear(session, alert, order, rule, now, lines)

    def _fire(self, session: Session, alert: Alert, order: WorkOrder | None, signal: Signal, now: datetime,
              lines: list[str]) -> Outcome:
        if not alert.firing:
            alert.firing = True
            alert.last_fired_at = now
            alert.first_fired_at = alert.first_fired_at if order else now
            alert.resolve_after = None
            self._record_change(alert, now)
        alert.occurrences += 1
        if order is not None:
            order.occurrences += 1
            self._audit(session, order, now, SYSTEM, "occurrence", note=signal.detail)
            return Outcome("occurrence", order.id)
        order = self._create(session, signal, now, lines)
        return Outcome("created", order.id)

    def _clear(self, session: Session, alert: Alert, order: WorkOrder | None, rule: Rule, now: datetime,
               lines: list[str]) -> Outcome:
        if not alert.firing:
            return Outcome("ignored")
        alert.firing = False
        alert.cleared_at = now
        self._record_change(alert, now)
        if order is None:
            return Outcome("ignored")
        order.fault_cleared_at = now
        if not rule.resolves_automatically:
            self._audit(session, order, now, SYSTEM, "fault_cleared", note="waits for a technician to resolve")
            return Outcome("fault_cleared", order.id)
        if alert.flapping:
            alert.resolve_after = now + timedelta(seconds=self.config.flapping.hold_s)
            self._audit(session, order, now, SYSTEM, "fault_cleared",
                        note=f"flapping: resolves if still clear at {alert.resolve_after:%H:%M:%S}")
            return Outcome("held_flapping", order.id)
        self._transition(session, order, "resolve", SYSTEM, "fault cleared", now, lines)
        return Outcome("resolved", order.id)

    def _record_change(self, alert: Alert, now: datetime) -> None:
        window = self.config.flapping.window_s
        stamp = now.timestamp()
        changes = [c for c in (alert.changes or []) if stamp - c <= window] + [stamp]
        alert.changes = changes
        if len(changes) > self.config.flapping.max_changes:
            alert.flapping = True

    def resolve_flapping_due(self) -> int:
        """Resolve orders of flapping alerts that stayed clear through their hold time."""
        now = self.clock()
        count = 0
        with self._unit_of_work() as (session, lines):
            due = session.scalars(select(Alert).where(Alert.resolve_after <= now, Alert.firing.is_(False))).all()
            for alert in due:
                order = session.scalar(select(WorkOrder).where(
                    WorkOrder.open_key == f"{alert.rule_id}:{alert.device_id}"))
                alert.resolve_after, alert.flapping, alert.changes = None, False, []
                if order is not None:
                    self._transition(session, order, "resolve", SYSTEM, "fault stayed clear after flapping", now,
                                     lines)
                    count += 1
        return count

    # ------------------------------------------------------------------ orders
    def _create(self, session: Session, signal: Signal, now: datetime, lines: list[str]) -> WorkOrder:
        rule, ref = signal.rule, signal.device
        ack_due, arrive_due, resolve_due = self.config.sla[rule.priority].due(now)
        person = self.router.on_duty(ref.site, rule.skill, 0, now)
        order = WorkOrder(
            open_key=f"{rule.id}:{ref.device_id}", rule_id=rule.id, device_id=ref.device_id, site=ref.site,
            building=ref.building, unit=ref.unit, kind=ref.kind.value, title=rule.title,
            priority=rule.priority.value, skill=rule.skill.value, scope=rule.scope.value,
            life_safety=rule.priority is Priority.LIFE_SAFETY, status=Status.OPEN.value,
            assignee=person.id if person else None, escalation_level=0, occurrences=1, created_at=now,
            ack_due_at=ack_due, arrive_due_at=arrive_due, resolve_due_at=resolve_due,
        )
        session.add(order)
        session.flush()
        self._audit(session, order, now, SYSTEM, "created", to_status=Status.OPEN.value, note=signal.detail)
        if person:
            self._audit(session, order, now, SYSTEM, "assigned", note=person.id)
        self._notify(session, order, "new work order", [person] if person else [], now)
        self._notice(session, order, "fault", now)
        lines.append(self._metric(order, "created", now))
        return order

    def transition(self, order_id: int, action: str, actor: str, note: str | None = None) -> WorkOrder:
        """Technician / staff actions: acknowledge, start, resolve, close."""
        now = self.clock()
        with self._unit_of_work() as (session, lines):
            order = self._order(session, order_id)
            self._transition(session, order, action, actor, note, now, lines)
        return order

    def _transition(self, session: Session, order: WorkOrder, action: str, actor: str, note: str | None,
                    now: datetime, lines: list[str]) -> None:
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
            self._notice(session, order, "fixed", now)
        if target is Status.CLOSED:
            order.closed_at = now
        self._audit(session, order, now, actor, action, from_status=current.value, to_status=target.value, note=note)
        lines.append(self._metric(order, action, now))

    def follow_up(self, order_id: int, actor: str, rating: int, comment: str | None = None) -> WorkOrder:
        """The follow-up visit: the owner's rating (1-5); closes a resolved order (the closed loop)."""
        if not 1 <= rating <= 5:
            raise ValueError("rating must be 1..5")
        now = self.clock()
        with self._unit_of_work() as (session, lines):
            order = self._order(session, order_id)
            if order.status not in (Status.RESOLVED.value, Status.CLOSED.value):
                raise TransitionError(f"follow-up needs a resolved or closed order; this one is {order.status}")
            order.rating, order.follow_up_comment, order.followed_up_at = rating, comment, now
            self._audit(session, order, now, actor, "follow_up", note=f"rating {rating}: {comment or ''}".strip())
            lines.append(self._metric(order, "follow_up", now))
            if order.status == Status.RESOLVED.value:
                self._transition(session, order, "close", actor, "closed after follow-up visit", now, lines)
        return order

    # ------------------------------------------------------------------ escalation
    def escalate_due(self) -> int:
        """Orders nobody acknowledged in time go to the next on-call level (and the office is told)."""
        now = self.clock()
        count = 0
        with self._unit_of_work() as (session, lines):
            due = session.scalars(select(WorkOrder).where(
                WorkOrder.status == Status.OPEN.value, WorkOrder.ack_due_at <= now).order_by(WorkOrder.id)).all()
            for order in due:
                sla = self.config.sla[Priority(order.priority)]
                nxt = self.router.on_duty(order.site, Skill(order.skill), order.escalation_level + 1, now)
                previous = self.router.person(order.assignee)
                order.ack_due_at = now + timedelta(seconds=sla.acknowledge_s)
                if nxt is None:
                    self._audit(session, order, now, SYSTEM, "escalation_exhausted",
                                note="no further on-call level; still unacknowledged")
                    self._notify(session, order, "still unacknowledged", [previous] if previous else [], now)
                    continue
                order.escalation_level += 1
                order.assignee = nxt.id
                self._audit(session, order, now, SYSTEM, "escalated",
                            note=f"level {order.escalation_level}: {previous.id if previous else '-'} -> {nxt.id}")
                self._notify(session, order, f"escalated to level {order.escalation_level + 1}",
                             [p for p in (nxt, previous) if p], now)
                lines.append(self._metric(order, "escalated", now))
                count += 1
        return count

    # ------------------------------------------------------------------ side effects (outbox rows)
    def _audit(self, session: Session, order: WorkOrder, now: datetime, actor: str, action: str, *,
               from_status: str | None = None, to_status: str | None = None, note: str | None = None) -> None:
        session.add(WorkOrderEvent(work_order_id=order.id, at=now, actor=actor, action=action,
                                   from_status=from_status, to_status=to_status, note=note))

    def _notify(self, session: Session, order: WorkOrder, what: str, people: list, now: datetime) -> None:
        subject = f"[{order.priority}] {what}: {device_name(order.kind, order.device_id)}, building " \
                  f"{order.building}: {order.title} (#{order.id})"
        body = {"event": what, "work_order": _order_summary(order)}
        targets: list[tuple[str, str]] = []
        for person in people:
            if person.email:
                targets.append(("email", person.email))
            if person.webhook:
                targets.append(("webhook", person.webhook))
        targets += [("webhook", url) for url in self.config.oncall.office_webhooks]
        targets.append(("mqtt", f"{self.notify_prefix}/{order.site}/work-orders"))
        for channel, recipient in targets:
            if channel not in self.channels:
                continue
            session.add(Notification(work_order_id=order.id, channel=channel, recipient=recipient, subject=subject,
                                     body=body, status="pending", attempts=0, created_at=now, next_attempt_at=now))

    def _notice(self, session: Session, order: WorkOrder, phase: str, now: datetime) -> None:
        scope = Scope(order.scope)
        if scope is Scope.NONE or (scope is Scope.UNIT and not order.unit):
            return
        texts = self.config.notices
        template = {
            (Scope.BUILDING, "fault"): texts.fault, (Scope.BUILDING, "fixed"): texts.fixed,
            (Scope.UNIT, "fault"): texts.unit_fault, (Scope.UNIT, "fixed"): texts.unit_fixed,
        }[(scope, phase)]
        local = now.astimezone()
        text = template.format(device=device_name(order.kind, order.device_id), building=order.building,
                               unit=order.unit, title=order.title, dispatched=order.created_at.astimezone(),
                               fixed=local)
        unit = order.unit if scope is Scope.UNIT else None
        notice = Notice(work_order_id=order.id, site=order.site, building=order.building, unit=unit, phase=phase,
                        text=text, created_at=now)
        session.add(notice)
        topic = f"{self.notice_prefix}/{order.site}/{order.building}" + (f"/{unit}" if unit else "")
        session.add(Notification(work_order_id=order.id, channel="mqtt", recipient=topic, subject=f"notice: {phase}",
                                 body={"notice": text, "phase": phase, "site": order.site,
                                       "building": order.building, "unit": unit, "at": now.isoformat()},
                                 status="pending", attempts=0, created_at=now, next_attempt_at=now))

    def _metric(self, order: WorkOrder, action: str, now: datetime) -> str:
        """Ticket metrics for dashboards (measurement ``work_order``, docs/influx-schema.md)."""
        created = order.created_at
        due = {"acknowledge": order.ack_due_at, "start": order.arrive_due_at, "resolve": order.resolve_due_at}
        fields: dict[str, object] = {"order_id": order.id, "seconds": float((now - created).total_seconds()),
                                     "escalation_level": order.escalation_level, "occurrences": order.occurrences}
        if action in due:
            fields["within_sla"] = now <= due[action]
        if order.rating is not None and action == "follow_up":
            fields["rating"] = order.rating
        tags = {"site": order.site, "building": order.building, "device": order.device_id, "rule": order.rule_id,
                "priority": order.priority, "skill": order.skill, "action": action}
        return line("work_order", tags, fields, _now_ms(now))


def _order_summary(order: WorkOrder) -> dict:
    return {
        "id": order.id, "title": order.title, "priority": order.priority, "status": order.status,
        "site": order.site, "building": order.building, "unit": order.unit, "device": order.device_id,
        "kind": order.kind, "assignee": order.assignee, "escalation_level": order.escalation_level,
        "created_at": order.created_at.isoformat(), "ack_due_at": order.ack_due_at.isoformat(),
    }


def utcnow() -> datetime:
    return datetime.now(UTC)
