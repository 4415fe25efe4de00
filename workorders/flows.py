"""Work-order workflows: the steps that touch other domains. Opening an order assigns the on-call person and
queues their notifications and the owners' notice; resolving one posts the "fixed" notice; every step emits a
ticket metric once its transaction has committed.

``WorkOrderDesk`` holds what these steps need (the SLA table, on-call routing, notice texts, the metric sink, the
configured channels); the alert service and the API both go through it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from core import i18n
from core.clock import Clock, utcnow
from core.i18n import N_
from core.zones import Zones
from devices.kinds import Skill
from ingest.lineprotocol import Point
from notices import service as notices
from notices.models import NoticeTexts, Scope
from notifications.models import NotifyPolicy
from notifications.service import Reach, chain_for, enqueue, notify_person, targets
from people.oncall import OnCall, OnCallRouter, Person
from workorders import service
from workorders.models import REQUEST, Matrix, Priority, SlaTimes, Status, WorkOrder
from workorders.service import SYSTEM, TransitionError

MetricSink = Callable[[Point], None]

__all__ = ["NewOrder", "TransitionError", "UnitOfWork", "WorkOrderDesk"]


@dataclass(frozen=True, slots=True)
class NewOrder:
    """What opening an order needs to know of the fault (or request) behind it."""

    key: str | None  # rule:device, unique while the order is open; None for people's requests (no dedup)
    rule_id: str
    device_id: str
    kind: str
    site: str
    building: str
    unit: str | None
    title: str
    priority: Priority
    skill: Skill
    scope: Scope
    detail: str | None = None
    service: str | None = None  # the matrix: basic or special (None: as the priority says)
    individual: bool = False  # the matrix: one household (default collective: shared facilities)
    titles: dict[str, str] | None = None  # the title in other languages (rules data)


@dataclass
class UnitOfWork:
    session: Session
    points: list[Point]


class WorkOrderDesk:
    def __init__(self, sessions: sessionmaker, *, sla: dict[Priority, SlaTimes], matrix: Matrix, oncall: OnCall,
                 texts: NoticeTexts, clock: Clock = utcnow, metrics: MetricSink | None = None,
                 zones: Zones | None = None,
                 notice_prefix: str = "community-notices", notify_prefix: str = "community-notify",
                 channels: Reach = Reach.of(("webhook", "email", "mqtt")),
                 policy: NotifyPolicy = NotifyPolicy(), language: str = i18n.DEFAULT,
                 site_languages: dict[str, str] | None = None) -> None:
        self.sessions = sessions
        self.sla = sla
        self.matrix = matrix
        self.oncall = oncall
        self.zones = zones or Zones()
        self.router = OnCallRouter(oncall, self.zones)
        self.texts = texts
        self.clock = clock
        self.metrics = metrics or (lambda _point: None)
        self.notice_prefix = notice_prefix
        self.notify_prefix = notify_prefix
        self.channels = channels  # only these get outbox rows (no e-mail rows without an SMTP server)
        self.policy = policy
        self.language = language  # the deployment's default
        self.site_languages = site_languages if site_languages is not None else {}  # the register's, kept fresh

    def language_of(self, site: str | None, own: str | None = None) -> str:
        """A person's language: their own setting, else their site's, else the deployment's."""
        return own or self.site_languages.get(site or "") or self.language

    @contextmanager
    def unit_of_work(self) -> Iterator[UnitOfWork]:
        """One transaction; the ticket-metric points it produced are emitted only once it committed."""
        with self.sessions.begin() as session:
            work = UnitOfWork(session, [])
            yield work
        for point in work.points:
            self.metrics(point)

    # --- steps inside a caller's unit of work ---
    def open(self, work: UnitOfWork, new: NewOrder, now: datetime) -> WorkOrder:
        cell = self.matrix.cell(new.priority, service=new.service, individual=new.individual)
        ack_due, arrive_due, resolve_due = self.deadlines(new.priority, cell, now)
        person = self.router.on_duty(new.site, new.skill, 0, now)
        order = WorkOrder(
            open_key=new.key, rule_id=new.rule_id, device_id=new.device_id, site=new.site, building=new.building,
            unit=new.unit, kind=new.kind, title=new.title, priority=new.priority.value, skill=new.skill.value,
            scope=new.scope.value, life_safety=new.priority is Priority.LIFE_SAFETY, status=Status.OPEN.value,
            assignee=person.id if person else None, escalation_level=0, occurrences=1, created_at=now,
            titles=dict(new.titles or {}),
            ack_due_at=ack_due, arrive_due_at=arrive_due, resolve_due_at=resolve_due, matrix_cell=cell,
        )
        session = work.session
        session.add(order)
        session.flush()
        service.audit(session, order, now, SYSTEM, "created", to_status=Status.OPEN.value, note=new.detail)
        if person:
            service.audit(session, order, now, SYSTEM, "assigned", note=person.id)
        self.notify(session, order, N_("new work order"), [person] if person else [], now)
        self.post_notice(session, order, "fault", now)
        work.points.append(service.metric(order, "created", now))
        return order

    def step(self, work: UnitOfWork, order: WorkOrder, action: str, actor: str, note: str | None,
             now: datetime) -> None:
        """A lifecycle transition with its consequences (the "fixed" notice, the metric)."""
        target = service.apply_transition(work.session, order, action, actor, note, now)
        if target is Status.RESOLVED:
            self.post_notice(work.session, order, "fixed", now)
        elif order.kind == REQUEST and action in notices.PROGRESS:  # the person who asked hears of every step
            self.post_notice(work.session, order, action, now)
        work.points.append(service.metric(order, action, now))

    def post_notice(self, session: Session, order: WorkOrder, phase: str, now: datetime,
                    building: str | None = None) -> None:
        """Owners' notice of this phase, on the site's clock and in its language (and every other)."""
        notices.post(session, order, phase, now, self.texts, self.notice_prefix, building=building,
                     tz=self.zones.of(order.site), language=self.language_of(order.site))

    def notify(self, session: Session, order: WorkOrder, what: str, people: list[Person], now: datetime, *,
               escalation: bool = False, **values: object) -> None:
        """Each person through their chain of channels (the first that works; life safety ignores quiet hours,
        an escalation of it calls), in their language; the office webhooks and the site's order feed once each, in
        the site's. ``what`` is a message id (``N_``) filled with ``values``."""
        tz = self.zones.of(order.site)
        calls = escalation and order.priority in self.policy.escalation_chains  # its own chain wins: it calls
        names = self.policy.chain(order.priority, escalation=escalation)
        window = self.policy.window_s(order.priority)
        said: dict[str, tuple[str, dict]] = {}  # one message per language: the place is looked up once

        def message(lang: str) -> tuple[str, dict]:
            if lang not in said:
                said[lang] = self.message(session, order, what, lang, values)
            return said[lang]

        for person in people:
            subject, body = message(self.language_of(order.site, person.language))
            links = chain_for(person, order.site, names if calls else person.channels or names, self.channels)
            quiet = None if order.priority == Priority.LIFE_SAFETY else person.quiet_until(now, tz)
            notify_person(session, person, links, subject, body, now, work_order_id=order.id,
                          priority=order.priority, window_s=window, not_before=quiet)
        subject, body = message(self.language_of(order.site))
        feed = f"{self.notify_prefix}/{order.site}/work-orders"
        for channel, recipient in targets((), self.oncall.office_webhooks, feed):
            if channel in self.channels:
                enqueue(session, channel, recipient, subject, body, now, work_order_id=order.id,
                        priority=order.priority, window_s=window)

    def message(self, session: Session, order: WorkOrder, what: str, lang: str, values: dict) -> tuple[str, dict]:
        """(subject, body) of a notification in ``lang``; ``event`` stays the English text for integrations."""
        with i18n.using(lang):
            where = notices.place(session, order)
            title = i18n.pick(order.titles, order.title)
            subject = i18n._("[%(priority)s] %(what)s: %(where)s: %(title)s (#%(id)s)",
                             priority=i18n.label(order.priority), what=i18n._(what, **values), where=where.where,
                             title=title, id=order.id)
        body = {"event": what % values if values else what, "work_order": service.summary(order),
                "place": where.where, "title": title, "location": where.location, "contractor": where.contractor,
                "contractor_phone": where.contractor_phone, "language": lang}
        return subject, body

    # --- whole actions (their own unit of work) ---
    def transition(self, order_id: int, action: str, actor: str, note: str | None = None, *,
                   person: str | None = None) -> WorkOrder:
        """Technician / staff actions: acknowledge, start, resolve, close. The on-call ``person`` who acknowledges
        or starts an order becomes its assignee; closing needs a follow-up first."""
        now = self.clock()
        with self.unit_of_work() as work:
            order = service.get(work.session, order_id)
            if action == "close" and order.followed_up_at is None:
                raise TransitionError(f"work order {order_id} needs a follow-up before it closes: the owner's "
                                      "rating, or a call with no answer (POST /work-orders/{id}/follow-up)")
            self.step(work, order, action, actor, note, now)
            if person and action in ("acknowledge", "start") and order.assignee != person:
                service.audit(work.session, order, now, actor, "assigned", note=f"{order.assignee or '-'} -> {person}")
                order.assignee = person
        return order

    def deadlines(self, priority: Priority, cell: str | None, start: datetime) -> tuple[datetime, datetime, datetime]:
        """The stricter of the priority's SLA and the matrix cell's, timer by timer."""
        if cell is None:  # an order from before the matrix
            return self.sla[priority].due(start)
        return self.matrix.deadlines(self.sla[priority], cell, start)

    def classify(self, order_id: int, cell: str, actor: str, note: str | None = None) -> WorkOrder:
        """Staff move an order to another matrix cell: its deadlines are set again from its creation (audited)."""
        now = self.clock()
        with self.unit_of_work() as work:
            order = service.get(work.session, order_id)
            if order.status in (Status.RESOLVED.value, Status.CLOSED.value):
                raise TransitionError(f"work order {order_id} is {order.status}: its deadlines are history")
            service.audit(work.session, order, now, actor, "reclassified",
                          note=f"{order.matrix_cell or '-'} -> {cell}" + (f": {note}" if note else ""))
            order.matrix_cell = cell
            order.ack_due_at, order.arrive_due_at, order.resolve_due_at = self.deadlines(
                Priority(order.priority), cell, order.created_at)
        return order

    def assign(self, order_id: int, person_id: str, actor: str, note: str | None = None) -> WorkOrder:
        """Staff hand an order to someone else (a transfer); the new assignee is told."""
        person = self.router.person(person_id)
        if person is None:
            raise ValueError(f"no on-call person {person_id!r}; known: {sorted(self.router.people)}")
        now = self.clock()
        with self.unit_of_work() as work:
            order = service.get(work.session, order_id)
            if order.status in (Status.RESOLVED.value, Status.CLOSED.value):
                raise TransitionError(f"work order {order_id} is {order.status}: nothing to hand over")
            service.audit(work.session, order, now, actor, "reassigned",
                          note=f"{order.assignee or '-'} -> {person.id}" + (f": {note}" if note else ""))
            order.assignee = person.id
            self.notify(work.session, order, N_("assigned to you"), [person], now)
        return order

    def reopen(self, order_id: int, actor: str, note: str) -> WorkOrder:
        """Not fixed after all: the order is open again with fresh SLA timers, and its assignee is told."""
        now = self.clock()
        with self.unit_of_work() as work:
            order = service.get(work.session, order_id)
            self.step(work, order, "reopen", actor, note, now)
            order.ack_due_at, order.arrive_due_at, order.resolve_due_at = self.deadlines(
                Priority(order.priority), order.matrix_cell, now)
            person = self.router.person(order.assignee)
            self.notify(work.session, order, N_("reopened: not fixed"), [person] if person else [], now)
        return order

    def follow_up(self, order_id: int, actor: str, rating: int | None, comment: str | None = None) -> WorkOrder:
        """The follow-up call or visit: the owner's rating (1-5), or None when nobody answered; closes a resolved
        order (the closed loop)."""
        if rating is not None and not 1 <= rating <= 5:
            raise ValueError("rating must be 1..5")
        now = self.clock()
        with self.unit_of_work() as work:
            order = service.get(work.session, order_id)
            self.record_follow_up(work, order, actor, rating, comment, now)
        return order

    def record_follow_up(self, work: UnitOfWork, order: WorkOrder, actor: str, rating: int | None,
                         comment: str | None, now: datetime) -> None:
        if order.status not in (Status.RESOLVED.value, Status.CLOSED.value):
            raise TransitionError(f"follow-up needs a resolved or closed order; this one is {order.status}")
        order.rating, order.follow_up_comment, order.followed_up_at = rating, comment, now
        outcome = f"rating {rating}" if rating is not None else "no answer"
        service.audit(work.session, order, now, actor, "follow_up", note=f"{outcome}: {comment or ''}".strip(": "))
        work.points.append(service.metric(order, "follow_up", now))
        if order.status == Status.RESOLVED.value:
            self.step(work, order, "close", actor, "closed after follow-up", now)
