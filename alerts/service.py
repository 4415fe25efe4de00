"""Alert state: what a fire or clear signal does to the alert row of its rule and device, and so to its work order.

- one fault = one open work order, deduplicated by ``open_key`` (rule:device, unique while open);
- repeats raise the occurrence count; flapping alerts hold their order open until they stay clear;
- a cleared fault resolves the order, except where the rule says a technician must (life safety by default).

The order itself is opened, moved and told about by ``workorders.flows.WorkOrderDesk``, in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from alerts.config import AlertConfig, Rule
from alerts.evaluator import Signal
from alerts.models import Alert
from alerts.storms import WHOLE_SITE
from core.partition import Owns, owned, owned_rows
from notices.models import Notice, Scope
from workorders import service as orders
from workorders.flows import NewOrder, UnitOfWork, WorkOrderDesk
from workorders.models import INCIDENT, WorkOrder
from workorders.service import SYSTEM


@dataclass(frozen=True)
class Outcome:
    """What handling a signal did, for logs, metrics and tests."""

    action: str  # created | occurrence | resolved | fault_cleared | held_flapping | ignored
    work_order_id: int | None = None


class AlertService:
    def __init__(self, config: AlertConfig, desk: WorkOrderDesk) -> None:
        self.config = config
        self.desk = desk

    def handle(self, signal: Signal) -> Outcome:
        try:
            with self.desk.unit_of_work() as work:
                return self._handle(work, signal)
        except IntegrityError:  # another instance opened the same order first: now it is a repeat
            with self.desk.unit_of_work() as work:
                return self._handle(work, signal)

    def _handle(self, work: UnitOfWork, signal: Signal) -> Outcome:
        now = self.desk.clock()
        rule, ref = signal.rule, signal.device
        session = work.session
        # Locked while judged: two engines that both own a site for a moment (a site moving between partitions)
        # judge the same message one after the other, and the second finds it applied (``last_source_ms``).
        alert = session.scalar(select(Alert).where(Alert.rule_id == rule.id, Alert.device_id == ref.device_id)
                               .with_for_update())
        if alert is None:
            alert = Alert(rule_id=rule.id, device_id=ref.device_id, site=ref.site, building=ref.building,
                          firing=False, occurrences=0, changes=[], flapping=False, last_source_ms=0)
            session.add(alert)
        if signal.at_ms <= alert.last_source_ms:
            return Outcome("ignored")  # redelivered after a restart: already applied
        alert.last_source_ms = signal.at_ms
        alert.detail = (signal.detail or "")[:500] or None
        order = orders.open_by_key(session, _key(rule.id, ref.device_id))
        if signal.fire:
            return self._fire(work, alert, order, signal, now)
        return self._clear(work, alert, order, rule, now)

    def _fire(self, work: UnitOfWork, alert: Alert, order: WorkOrder | None, signal: Signal,
              now: datetime) -> Outcome:
        if not alert.firing:
            alert.firing, alert.incident_key = True, None
            alert.last_fired_at = now
            alert.first_fired_at = alert.first_fired_at if order else now
            alert.resolve_after = None
            self._record_change(alert, now)
        alert.occurrences += 1
        if order is not None:
            order.occurrences += 1
            orders.audit(work.session, order, now, SYSTEM, "occurrence", note=signal.detail)
            return Outcome("occurrence", order.id)
        rule, ref = signal.rule, signal.device
        order = self.desk.open(work, NewOrder(
            key=_key(rule.id, ref.device_id), rule_id=rule.id, device_id=ref.device_id, kind=ref.kind.value,
            site=ref.site, building=ref.building, unit=ref.unit, title=rule.title, priority=rule.priority,
            skill=rule.skill, scope=rule.scope, detail=signal.detail, individual=rule.scope is Scope.UNIT,
            titles=rule.titles), now)
        return Outcome("created", order.id)

    def _clear(self, work: UnitOfWork, alert: Alert, order: WorkOrder | None, rule: Rule,
               now: datetime) -> Outcome:
        if not alert.firing:
            return Outcome("ignored")
        alert.firing = False
        alert.cleared_at = now
        self._record_change(alert, now)
        if order is None:
            return Outcome("ignored")
        order.fault_cleared_at = now
        if not rule.resolves_automatically:
            orders.audit(work.session, order, now, SYSTEM, "fault_cleared", note="waits for a technician to resolve")
            return Outcome("fault_cleared", order.id)
        if alert.flapping:
            alert.resolve_after = now + timedelta(seconds=self.config.flapping.hold_s)
            orders.audit(work.session, order, now, SYSTEM, "fault_cleared",
                         note=f"flapping: resolves if still clear at {alert.resolve_after:%H:%M:%S}")
            return Outcome("held_flapping", order.id)
        self.desk.step(work, order, "resolve", SYSTEM, "fault cleared", now)
        return Outcome("resolved", order.id)

    def _record_change(self, alert: Alert, now: datetime) -> None:
        window = self.config.flapping.window_s
        stamp = now.timestamp()
        changes = [c for c in (alert.changes or []) if stamp - c <= window] + [stamp]
        alert.changes = changes
        if len(changes) > self.config.flapping.max_changes:
            alert.flapping = True

    def resolve_flapping_due(self, owns: Owns | None = None) -> int:
        """Resolve orders of flapping alerts that stayed clear through their hold time."""
        now = self.desk.clock()
        count = 0
        with self.desk.unit_of_work() as work:
            due = owned_rows(work.session, select(Alert).where(Alert.resolve_after <= now,
                                                               Alert.firing.is_(False)), owns)
            for alert in due:
                order = orders.open_by_key(work.session, _key(alert.rule_id, alert.device_id))
                alert.resolve_after, alert.flapping, alert.changes = None, False, []
                if order is not None:
                    self.desk.step(work, order, "resolve", SYSTEM, "fault stayed clear after flapping", now)
                    count += 1
        return count


    # ------------------------------------------------------------------ storm incidents (alerts.storms)
    def open_incident(self, key: str, site: str, building: str, signals: tuple[Signal, ...]) -> Outcome:
        """One order for many lost devices: one page to on-call, one notice per building concerned."""
        policy = self.config.storms
        now = self.desk.clock()
        whole_site = building == WHOLE_SITE
        with self.desk.unit_of_work() as work:
            order = orders.open_by_key(work.session, key)
            if order is None:
                where = f"site {site}" if whole_site else f"building {building}"
                order = self.desk.open(work, NewOrder(
                    key=key, rule_id="storm_site" if whole_site else "storm_building", device_id=building,
                    kind=INCIDENT, site=site, building=building, unit=None, title=policy.title,
                    priority=policy.priority, skill=policy.skill, scope=Scope.NONE if whole_site else Scope.BUILDING,
                    detail=f"{len(signals)} devices of {where} lost within {policy.window_s:.0f} s",
                    titles=policy.titles), now)
                order.occurrences = 0  # counts the devices attached below
            self._attach(work, order, signals, now)
            return Outcome("created", order.id)

    def attach(self, key: str, signals: tuple[Signal, ...]) -> Outcome:
        now = self.desk.clock()
        with self.desk.unit_of_work() as work:
            order = orders.open_by_key(work.session, key)
            if order is None:  # resolved by staff meanwhile: the devices are faults of their own again
                return Outcome("ignored")
            self._attach(work, order, signals, now)
            return Outcome("occurrence", order.id)

    def _attach(self, work: UnitOfWork, order: WorkOrder, signals: tuple[Signal, ...], now: datetime) -> None:
        session = work.session
        existing = {(a.rule_id, a.device_id): a for a in session.scalars(select(Alert).where(
            Alert.device_id.in_([s.device.device_id for s in signals])))}
        for signal in signals:
            ref = signal.device
            alert = existing.get((signal.rule.id, ref.device_id))
            if alert is None:
                alert = Alert(rule_id=signal.rule.id, device_id=ref.device_id, site=ref.site, building=ref.building,
                              occurrences=0, changes=[], flapping=False, last_source_ms=0)
                session.add(alert)
            alert.firing, alert.incident_key, alert.last_fired_at = True, order.open_key, now
            alert.first_fired_at = alert.first_fired_at or now
            alert.occurrences = (alert.occurrences or 0) + 1
            alert.last_source_ms = max(alert.last_source_ms or 0, signal.at_ms)
            alert.detail = (signal.detail or "")[:500] or None
        order.occurrences += len(signals)
        if order.building == WHOLE_SITE:  # a site incident tells each building it reaches, once
            told = set(session.scalars(select(Notice.building).where(Notice.work_order_id == order.id)))
            for building in sorted({s.device.building for s in signals} - told):
                self.desk.post_notice(session, order, "fault", now, building=building)
        names = ", ".join(s.device.device_id for s in signals[:20]) + (" ..." if len(signals) > 20 else "")
        orders.audit(session, order, now, SYSTEM, "devices_lost", note=f"{len(signals)}: {names}"[:2000])

    def detach(self, key: str, signal: Signal) -> Outcome:
        """A device of an incident is back: its alert clears (the incident resolves once all stayed back)."""
        now = self.desk.clock()
        with self.desk.unit_of_work() as work:
            alert = work.session.scalar(select(Alert).where(Alert.device_id == signal.device.device_id,
                                                            Alert.incident_key == key))
            if alert is not None and alert.firing:
                alert.firing, alert.cleared_at = False, now
                alert.last_source_ms = max(alert.last_source_ms or 0, signal.at_ms)
            return Outcome("fault_cleared")

    def resolve_incident(self, key: str) -> Outcome:
        now = self.desk.clock()
        with self.desk.unit_of_work() as work:
            order = orders.open_by_key(work.session, key)
            if order is None:
                return Outcome("ignored")
            still = work.session.scalar(select(func.count()).select_from(Alert).where(
                Alert.incident_key == key, Alert.firing.is_(True)))
            if still:
                return Outcome("ignored")
            order.fault_cleared_at = now
            self.desk.step(work, order, "resolve", SYSTEM,
                           f"every device back for {self.config.storms.hold_s:.0f} s", now)
            if order.building == WHOLE_SITE:  # a site incident tells each building it concerned
                buildings = work.session.scalars(select(Alert.building).where(Alert.incident_key == key).distinct())
                for building in sorted(buildings):
                    self.desk.post_notice(work.session, order, "fixed", now, building=building)
            return Outcome("resolved", order.id)

    def open_incidents(self, owns: Owns | None = None) -> tuple[dict[tuple[str, str], str], dict[str, str]]:
        """For a restart: open incidents by (site, building or *), and the devices still lost in them."""
        with self.desk.sessions() as session:
            open_orders = session.scalars(select(WorkOrder).where(
                WorkOrder.rule_id.in_(["storm_building", "storm_site"]), WorkOrder.open_key.is_not(None))).all()
            incidents = {(o.site, o.building): o.open_key for o in open_orders if owned(owns, o.site)}
            lost = session.execute(select(Alert.device_id, Alert.incident_key).where(
                Alert.incident_key.in_(list(incidents.values())), Alert.firing.is_(True))).all()
        return incidents, {device: key for device, key in lost}


def _key(rule_id: str, device_id: str) -> str:
    return f"{rule_id}:{device_id}"
