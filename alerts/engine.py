"""The alert engine flow: messages in (from the gateway, never blocking it), signals out to the alert service;
timers (silence, escalation, flapping holds, analytics) on the same worker so rule memory has one owner.

Threads: ``alert-engine`` (evaluate, apply signals, timers) and ``alert-analytics`` (schedules the analytics rules;
their InfluxDB query and pandas run in the offload child, core/offload.py, and the results are handed back to the
engine). Notifications are sent by ``notifications.dispatcher.Dispatcher`` on its own thread.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker

from alerts import analytics
from alerts.config import AlertConfig, AnalyticsRule
from alerts.evaluator import LOSS, DeviceRef, Evaluator, Signal
from alerts.models import Alert, FailedSignal
from alerts.service import AlertService
from alerts.storms import Apply, Attach, Detach, Open, Resolve, StormGate
from core.offload import Offload
from core.partition import Owns, owned
from devices import service as registry
from devices.kinds import KINDS, Kind
from devices.kinds.base import StatusPayload
from devices.models import RETIRED, Device
from gateway.contract import DeviceMessage
from gateway.envelope import Envelope
from gateway.topics import Channel
from ingest.influx import InfluxV1Client
from workorders.scheduled import close_unanswered, escalate_due

log = logging.getLogger(__name__)
POLL_S = 0.01
STORM_CHUNK = 50  # devices per storm transaction: an urgent event waits for at most one chunk
FINDINGS_CHUNK = 500  # analytics verdicts applied in one go between two looks at the urgent lane
TRANSIENT = (OperationalError, InterfaceError, DisconnectionError, PoolTimeout)
"""Errors of a database that is away or overloaded: worth retrying."""


@dataclass(slots=True)
class _Seen:
    """What the registry will record for one device at the next flush."""

    first: DeviceMessage
    received_ms: int = 0
    online: bool | None = None
    telemetry: DeviceMessage | None = None

    def row(self) -> dict:
        t = self.first.topic
        row: dict = {"device_id": t.device_id, "site": t.site, "building": t.building, "kind": t.kind.value,
                     "last_seen": datetime.fromtimestamp(self.received_ms / 1000, UTC)}
        if self.online is not None:
            row["online"] = self.online
        if self.telemetry is not None:
            p = self.telemetry.payload
            row["last_state"] = p.model_dump(exclude={"ts", "seq"}) | {"ts": self.telemetry.ts_ms}
            if KINDS[t.kind].names_unit:
                row["medium"], row["unit"] = p.medium, p.unit
        return row


@dataclass(frozen=True, slots=True)
class _Findings:
    rule: AnalyticsRule
    findings: list[analytics.Finding]
    at_ms: int


class AlertEngine:
    def __init__(self, sessions: sessionmaker, config: AlertConfig, service: AlertService, *,
                 clock: Callable[[], datetime], influx: InfluxV1Client | None = None,
                 on_change: Callable[[], None] | None = None, tick_s: float = 1.0,
                 device_flush_s: float = 2.0, analytics_delay_s: float = 60.0,
                 register_read_s: float = 10.0, on_register: Callable[[Session], None] | None = None,
                 owns: Owns | None = None, offload: Offload | None = None) -> None:
        self.sessions = sessions
        self.config = config
        self.service = service
        self.clock = clock
        self.influx = influx
        self.on_change = on_change or (lambda: None)
        self.tick_s = tick_s
        self.device_flush_s = device_flush_s
        self.analytics_delay_s = analytics_delay_s
        self.register_read_s = register_read_s  # how soon a device retired in the register stops its rules
        self.on_register = on_register or (lambda session: None)
        self._next_register_read = 0.0
        self.owns = owns  # an engine partition's sites (core/partition.py); None: every site
        self.offload = offload  # where analytics run (core/offload.py); None: on this process's analytics thread
        self.evaluator = Evaluator(config.rules)
        self.analytics_rules = [r for r in config.rules if isinstance(r, AnalyticsRule)]
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._urgent: queue.SimpleQueue = queue.SimpleQueue()
        self._stop = threading.Event()
        self._wake = threading.Event()  # set by the urgent lane: an event is judged at once, not at the next poll
        self._threads: list[threading.Thread] = []
        self._dirty: dict[str, _Seen] = {}
        self.processed = 0
        self.signals = 0
        self.ticks = 0  # timer rounds completed: tests wait on it instead of sleeping
        self.failures = 0  # signals and timer jobs given up on (deterministic errors)
        self.foreign = 0  # messages of sites another engine owns, skipped (acknowledged)
        self.latencies_ms: deque[float] = deque(maxlen=1000)
        self.storms = StormGate(config.storms)
        self._storm_work: deque = deque()

    # --- lifecycle ---
    def start(self) -> None:
        self.restore()
        self._threads = [threading.Thread(target=self._run, name="alert-engine", daemon=True)]
        if self.influx is not None and self.analytics_rules:
            self._threads.append(threading.Thread(target=self._run_analytics, name="alert-analytics", daemon=True))
        for thread in self._threads:
            thread.start()

    def halt(self) -> None:
        """Ask the threads to stop without waiting for them (``stop`` waits, and flushes the registry)."""
        self._stop.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._queue.put(None)
        for thread in self._threads:
            thread.join(15)
        self._flush_devices()

    def submit(self, msg: DeviceMessage) -> None:
        """The gateway's sink: O(1), never blocks, never raises."""
        self._queue.put(msg)

    def submit_urgent(self, msg: DeviceMessage) -> None:
        """The sink of the urgent lane (events, status): judged before any queued telemetry."""
        self._urgent.put(msg)
        self._wake.set()

    def submit_envelope(self, envelope: Envelope, *, urgent: bool = False) -> None:
        """The gateway's target in the ``alerts`` role: the MQTT acknowledgement goes out only once the message
        was judged and any work order it opened is committed, so a crash makes the broker redeliver it."""
        if isinstance(envelope.item, DeviceMessage):
            (self._urgent if urgent else self._queue).put(envelope)
            if urgent:
                self._wake.set()
        elif envelope.ack is not None:  # a dead letter: the ingest role records it, nothing to judge here
            envelope.ack()

    @property
    def backlog(self) -> int:
        return self._queue.qsize() + self._urgent.qsize()

    def restore(self) -> None:
        """Rebuild rule memory from the database, so a restart neither forgets open faults nor opens them twice."""
        with self.sessions() as session:
            devices = [d for d in session.scalars(select(Device)).all() if owned(self.owns, d.site)]
            firing = [(r, d) for r, d, site in session.execute(select(Alert.rule_id, Alert.device_id, Alert.site)
                                                              .where(Alert.firing.is_(True))) if owned(self.owns, site)]
        refs = [DeviceRef(d.device_id, d.site, d.building, Kind(d.kind), d.unit, d.medium) for d in devices
                if d.status not in RETIRED]
        last_seen = {d.device_id: int(d.last_seen.timestamp() * 1000) for d in devices if d.last_seen}
        self.evaluator.restore(refs, {(r, d) for r, d in firing}, last_seen)
        self.evaluator.retire(frozenset(d.device_id for d in devices if d.status in RETIRED))
        incidents, members = self.service.open_incidents(self.owns)
        self.storms.restore(incidents, members, self._now_ms())

    # --- worker ---
    def _run(self) -> None:
        next_tick = time.monotonic()
        next_flush = time.monotonic() + self.device_flush_s
        while not self._stop.is_set():
            # Poll every POLL_S and take everything queued in one go, instead of blocking on the queue: a blocked
            # consumer is woken for every single message, and each wake-up costs a GIL hand-over with the MQTT
            # thread (measured: the drain rate fell by half). The urgent lane (events, status: few messages) does
            # wake the worker, so a fault waits for no poll. Urgent lane first and in full, then a slice of
            # telemetry, then look again.
            if not (self._take(self._urgent, 100_000) + self._storm_step() + self._take(self._queue, 500)):
                self._wake.wait(POLL_S)
                self._wake.clear()
            now = time.monotonic()
            if now >= next_tick:
                self.tick()
                next_tick = now + self.tick_s
            if now >= next_flush:
                self._flush_devices()
                next_flush = now + self.device_flush_s

    def _take(self, source: queue.SimpleQueue, limit: int) -> int:
        """Handle up to ``limit`` queued items without blocking; returns how many there were."""
        for taken in range(limit):
            try:
                item = source.get_nowait()
            except queue.Empty:
                return taken
            if isinstance(item, DeviceMessage):
                self._observe(item)
            elif isinstance(item, Envelope):
                self._observe(item.item)
                if item.ack is not None:
                    item.ack()
            elif isinstance(item, _Findings):
                self._apply_findings(item)
        return limit

    def _observe(self, msg: DeviceMessage) -> None:
        if not owned(self.owns, msg.topic.site):
            # Another engine's site: queued in this session before the site moved away (the broker delivers what
            # it queued whatever the subscriptions are now). Judging it here would arm timers nobody feeds.
            self.foreign += 1
            return
        self.processed += 1
        self._track_device(msg)
        for signal in self.evaluator.observe(msg):
            self._apply(signal)
            self.latencies_ms.append(time.time() * 1000 - msg.received_ms)

    def latency_quantiles(self) -> dict[str, float]:
        """Message received -> its signal applied (order committed), over the last 1,000 signals, in ms."""
        if not self.latencies_ms:
            return {}
        ordered = sorted(self.latencies_ms)
        return {q: round(ordered[min(len(ordered) - 1, int(float(q) * len(ordered)))], 1)
                for q in ("0.5", "0.9", "0.99")}

    def tick(self) -> None:
        """Timers: silence and count windows, unacknowledged orders, flapping holds."""
        now = self.clock()
        now_ms = int(now.timestamp() * 1000)
        for signal in self.evaluator.tick(now_ms):
            self._apply(signal)
        self._storm_work.extend(self.storms.due(now_ms))
        self._retrying(lambda: escalate_due(self.service.desk, self.owns))
        self._retrying(lambda: close_unanswered(self.service.desk, self.config.intake.followup_timeout_h, self.owns))
        self._retrying(lambda: self.service.resolve_flapping_due(self.owns))
        if time.monotonic() >= self._next_register_read:
            self._retrying(self._read_register)
        self.on_change()
        self.ticks += 1

    def _read_register(self) -> None:
        """What staff changed in the register from any process: rejected or decommissioned devices stop their
        rules; ``on_register`` reads the rest (sites' time zones)."""
        with self.sessions() as session:
            retired = session.scalars(select(Device.device_id).where(Device.status.in_(RETIRED))).all()
            self.on_register(session)
        self.evaluator.retire(frozenset(retired))
        self._next_register_read = time.monotonic() + self.register_read_s

    def _apply(self, signal: Signal) -> None:
        """A loss (offline / silent) goes through the storm gate first: it may be part of a power cut."""
        if signal.rule.type in LOSS:
            self._storm_work.extend(self.storms.offer(signal, self._now_ms()))
            return
        self._apply_now(signal)

    def _apply_now(self, signal: Signal) -> None:
        self.signals += 1
        outcome = self._retrying(lambda: self.service.handle(signal), signal)
        log.info("%s %s on %s -> %s #%s", "fire" if signal.fire else "clear", signal.rule.id,
                 signal.device.device_id, outcome.action if outcome else "failed",
                 outcome.work_order_id if outcome else "-")
        self.on_change()

    def _retrying(self, action: Callable, signal: Signal | None = None, *, persist: bool = False):  # noqa: ANN202
        """Retry what the database being away made fail, with backoff, so no signal is dropped; anything else is a
        deterministic failure (a bug, bad data) that a retry would repeat forever on the thread that judges
        life-safety events: it is recorded with its reason (``failed_signals``, a counter) and the engine moves on.
        Timer jobs (no ``signal``, not ``persist``) are simply tried again at the next tick."""
        delay = 0.2
        while True:
            try:
                return action()
            except TRANSIENT:
                if self._stop.is_set() or (signal is None and not persist):
                    log.warning("database unavailable for %s", "a timer job" if signal is None else "a signal")
                    return None
                log.exception("database action failed; retrying in %.1f s", delay)
                time.sleep(delay)
                delay = min(delay * 2, 10.0)
            except Exception as err:  # noqa: BLE001 - deterministic: record and go on
                self.failures += 1
                log.exception("giving up on %s", "a timer job" if signal is None else signal.rule.id)
                if signal is not None:
                    self._record_failure(signal, err)
                return None

    # --- storms (alerts.storms): database work in chunks, between urgent messages ---
    def _now_ms(self) -> int:
        return int(self.clock().timestamp() * 1000)

    def _storm_step(self) -> bool:
        """Carry out one storm action, a large one in chunks of ``STORM_CHUNK`` devices; True if there was one."""
        if not self._storm_work:
            return False
        action = self._storm_work.popleft()
        if isinstance(action, Apply):
            self._apply_now(action.signal)
        elif isinstance(action, Open | Attach):
            head, rest = action.signals[:STORM_CHUNK], action.signals[STORM_CHUNK:]
            if rest:
                self._storm_work.appendleft(Attach(action.key, rest))
            if isinstance(action, Open):
                self._retrying(lambda: self.service.open_incident(action.key, action.site, action.building, head),
                               head[0])
                log.warning("storm: %s opened with %d lost devices", action.key, len(action.signals))
            else:
                outcome = self._retrying(lambda: self.service.attach(action.key, head), head[0])
                if outcome is not None and outcome.action == "ignored":  # staff resolved the incident meanwhile
                    self.storms.resolved_elsewhere(action.key)  # (the rest, queued above, comes back here too)
                    self._storm_work.extendleft(Apply(s) for s in reversed(head))
                    return True
            self.signals += len(head)
        elif isinstance(action, Detach):
            self._retrying(lambda: self.service.detach(action.key, action.signal), action.signal)
        elif isinstance(action, Resolve):
            outcome = self._retrying(lambda: self.service.resolve_incident(action.key), persist=True)
            log.info("storm: %s -> %s", action.key, outcome.action if outcome else "failed")
        self.on_change()
        return True

    def _record_failure(self, signal: Signal, err: Exception) -> None:
        try:
            with self.sessions.begin() as session:
                session.add(FailedSignal(at=self.clock(), rule_id=signal.rule.id, device_id=signal.device.device_id,
                                         fire=signal.fire, source_ms=signal.at_ms,
                                         reason=f"{type(err).__name__}: {err}"[:1000]))
        except Exception:  # noqa: BLE001 - the log above still has it
            log.exception("could not record the failed signal")

    # --- device registry (latest state, written in batches) ---
    def _track_device(self, msg: DeviceMessage) -> None:
        """Remember the newest message per device; the row is built only when flushed (hot path stays cheap)."""
        seen = self._dirty.get(msg.topic.device_id)
        if seen is None:
            seen = self._dirty[msg.topic.device_id] = _Seen(msg)
        seen.received_ms = msg.received_ms
        if isinstance(msg.payload, StatusPayload):
            seen.online = msg.payload.online
        elif msg.channel is Channel.TELEMETRY:
            seen.online, seen.telemetry = True, msg

    def _flush_devices(self) -> None:
        """One multi-row upsert for every device heard from since the last flush."""
        if not self._dirty:
            return
        dirty, self._dirty = self._dirty, {}
        try:
            with self.sessions.begin() as session:
                registry.upsert(session, (seen.row() for seen in dirty.values()))
        except Exception:  # noqa: BLE001 - keep the entries for the next flush
            log.exception("device registry flush failed")
            for device_id, seen in dirty.items():
                self._dirty.setdefault(device_id, seen)

    # --- analytics ---
    def _run_analytics(self) -> None:
        # The first run waits a little: right after a start the service is usually draining what the broker
        # queued meanwhile, and scheduled judgements over hours of history can wait that long.
        first = time.monotonic() + self.analytics_delay_s
        next_run = {r.id: first for r in self.analytics_rules}
        while not self._stop.wait(1.0):
            for rule in self.analytics_rules:
                if time.monotonic() >= next_run[rule.id]:
                    next_run[rule.id] = time.monotonic() + rule.every_s
                    self.run_analytics(rule)

    def run_analytics(self, rule: AnalyticsRule) -> None:
        """Query and judge now (in the offload child if there is one); the findings are applied on the engine
        thread, ``FINDINGS_CHUNK`` at a time so that urgent messages are judged in between."""
        now, zones = self.clock(), self.service.desk.zones
        try:
            if self.offload is not None:
                findings = self.offload.call(analytics.run_remote, self.influx.config, rule, now, zones, self.owns)
            else:
                findings = analytics.run(self.influx, rule, now, zones)
        except Exception:  # noqa: BLE001 - InfluxDB down: try at the next period
            if not self._stop.is_set():  # (stopping ends the offload child under a running call)
                log.exception("analytics rule %s failed", rule.id)
            return
        at_ms = int(now.timestamp() * 1000)
        for start in range(0, len(findings), FINDINGS_CHUNK):
            self._queue.put(_Findings(rule, findings[start:start + FINDINGS_CHUNK], at_ms))

    def _apply_findings(self, item: _Findings) -> None:
        for f in item.findings:
            if not owned(self.owns, f.site):  # analytics query the whole fleet; each engine judges its own sites
                continue
            ref = self.evaluator.device(f.device_id) or DeviceRef(f.device_id, f.site, f.building,
                                                                  Kind(item.rule.kind), f.unit, f.medium)
            for signal in self.evaluator.external(item.rule, ref, f.fault, item.at_ms, f.detail):
                self._apply(signal)

