"""Composition root: builds the clients and workers from one ``Settings`` and starts / stops them in order.

Start order follows the data path backwards (database, InfluxDB writer, then the MQTT listener) so nothing
arrives before there is somewhere durable to put it; stop order is the reverse.
"""

from __future__ import annotations

import gc
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import partial

from sqlalchemy import Engine
from sqlalchemy.orm import sessionmaker

from alerts.config import AlertConfig, load_config
from alerts.engine import AlertEngine
from alerts.service import AlertService
from community.schema import migrate
from core.clock import utcnow
from core.db import make_engine, session_factory
from core.metrics import Counters
from core.offload import Offload
from core.partition import Partition
from core.settings import Settings
from gateway.contract import Limits
from gateway.deadletter import DeadLetterStore
from gateway.listener import MqttConfig, MqttListener
from ingest.influx import InfluxConfig, InfluxRejected, InfluxUnavailable, InfluxV1Client
from ingest.spool import DurableSpool
from ingest.writer import IngestWriter
from kpis.scheduled import KpiWatch
from notifications.channels import Channel, EmailChannel, MqttChannel, WebhookChannel
from notifications.dispatcher import Dispatcher
from notifications.providers.aliyun import SmsChannel, VoiceChannel
from notifications.providers.dingtalk import DingtalkChannel
from notifications.providers.feishu import FeishuChannel
from notifications.providers.wecom import WecomChannel
from notifications.service import Reach
from register.service import site_ids, site_languages, site_zones
from reports.scheduled import ReportScheduler, time_of
from workorders.flows import WorkOrderDesk

log = logging.getLogger(__name__)


def mqtt_config(settings: Settings) -> MqttConfig:
    m = settings.mqtt
    return MqttConfig(
        host=m.host, port=m.port, client_id=m.client_id, username=m.username, password=m.password,
        topic_prefix=m.topic_prefix, shared_group=m.shared_group, session_expiry_s=m.session_expiry_s,
        receive_maximum=m.receive_maximum, keepalive_s=m.keepalive_s, tls=m.tls, client=m.client,
    )


def influx_config(settings: Settings) -> InfluxConfig:
    i = settings.influx
    return InfluxConfig(url=i.url, database=i.db, retention_policy=i.retention_policy, username=i.username,
                        password=i.password, token=i.token, timeout_s=i.timeout_s)


def limits(settings: Settings) -> Limits:
    c = settings.contract
    return Limits(max_payload_bytes=c.max_payload_bytes, max_future_ms=c.max_future_s * 1000,
                  max_past_ms=c.max_past_s * 1000)


@dataclass
class Runtime:
    settings: Settings
    counters: Counters
    engine: Engine
    sessions: sessionmaker
    influx: InfluxV1Client
    spool: DurableSpool
    dead_letters: DeadLetterStore
    writer: IngestWriter
    listener: MqttListener
    alert_config: AlertConfig
    orders: WorkOrderDesk
    alerts: AlertService
    kpis: KpiWatch
    reports: ReportScheduler
    alert_engine: AlertEngine
    dispatcher: Dispatcher
    clock: Callable[[], datetime]
    offload: Offload | None = None
    closers: list[Callable[[], None]] = field(default_factory=list)
    urgent_listener: MqttListener | None = None  # events and status on their own connection, where alerts run

    @property
    def listeners(self) -> list[MqttListener]:
        return [self.listener] + ([self.urgent_listener] if self.urgent_listener else [])

    def wait_connected(self, timeout: float = 10.0) -> bool:
        """True once every MQTT connection is up and its subscription confirmed."""
        deadline = time.monotonic() + timeout
        return all(lst.wait_connected(max(0.0, deadline - time.monotonic())) for lst in self.listeners)

    @property
    def judges_alerts(self) -> bool:
        """The alert engine and the dispatcher run in this process (roles ``all`` and ``alerts``)."""
        return self.settings.role != "ingest"

    def start(self) -> None:
        try:
            if not self.influx.ensure_database():
                log.info("InfluxDB manages its databases itself (2.x / 3.x): writing to the bucket mapped to %r",
                         self.settings.influx.db)
        except InfluxUnavailable as err:  # not fatal: readings spool until it is back
            log.warning("InfluxDB not reachable at start (%s); readings will be spooled", err)
        except InfluxRejected as err:  # e.g. a token without the right to create: writes will tell if it matters
            log.warning("InfluxDB refused CREATE DATABASE (%s); writing anyway", err)
        self.writer.start()
        if self.judges_alerts:
            self.dispatcher.start()
            self.alert_engine.start()
            self.kpis.start()
            if self.settings.report.enabled:
                self.reports.start()
        if self.urgent_listener is not None:
            # Urgent lane first: the bulk lane leaves events and status to it, so on a broker that has never seen
            # the urgent session, the bulk lane must not start before that session's subscription is in place.
            self.urgent_listener.start()
            if not self.urgent_listener.wait_connected(10):
                log.warning("urgent lane not subscribed after 10 s; starting the bulk lane anyway")
        self.listener.start()
        log.info("started in role %r", self.settings.role)

    def stop(self) -> None:
        for listener in reversed(self.listeners):
            listener.stop()
        if self.judges_alerts:
            for job in (self.kpis, self.reports, self.alert_engine):
                job.halt()  # none waits for a call in the offload child: it ends with the child
            if self.offload is not None:
                self.offload.close()
            self.kpis.stop()
            self.reports.stop()
            self.alert_engine.stop()
            self.dispatcher.stop()
        self.writer.stop()
        for close in self.closers:
            close()
        self.influx.close()
        self.engine.dispose()
        log.info("stopped in role %r", self.settings.role)

    def stats(self) -> dict[str, object]:
        data = self.counters.snapshot()
        data["writer_queue"] = self.writer.queued
        data["spool_points"] = self.spool.pending_points
        data["spool_batches"] = len(self.spool)
        data["role"] = self.settings.role
        data["subscribed"] = all(lst.wait_connected(0) for lst in self.listeners)
        if self.urgent_listener is not None:  # it counts its own; the bulk lane received every message once
            urgent = self.urgent_listener.counters
            data["decoded"] = int(data["decoded"]) + urgent.decoded
            data["mqtt_connected"] = bool(data["mqtt_connected"]) and urgent.mqtt_connected
        data["alert_backlog"] = self.alert_engine.backlog
        data["alert_processed"] = self.alert_engine.processed
        data["alert_signals"] = self.alert_engine.signals
        data["alert_failures"] = self.alert_engine.failures
        data["alert_foreign_skipped"] = self.alert_engine.foreign
        data["signal_latency_ms"] = self.alert_engine.latency_quantiles()
        data["dead_letters_waiting"] = self.writer.fallback_waiting
        data["notifications_sent"] = self.dispatcher.stats.sent
        data["notification_failures"] = self.dispatcher.stats.failed_attempts
        data["notifications_fell_back"] = self.dispatcher.stats.fell_back
        data["notifications_undeliverable"] = self.dispatcher.stats.undeliverable
        return data


def tune_gc() -> None:
    """Collect cycles less often: every message allocates a few short-lived objects (freed by reference counting,
    not by the cycle collector), and at the default threshold of 700 allocations the collector ran hundreds of
    times a second, scanning the thousands of messages waiting in the batches each time (measured: the gateway's
    per-message cost fell from 25 to 11 us). Objects alive at start-up (modules, rules) are frozen out of the scans.
    The memory soak in bench/scale_memory.py checks that memory stays flat with this setting."""
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)


def tune_switching(settings: Settings) -> None:
    """Where alerts are judged, hand the interpreter between threads every ``alert_switch_interval_ms`` (1 ms)
    instead of Python's 5 ms. Opening an order takes about 14 database round trips; at each, the engine thread lets
    go of the interpreter and, while the MQTT and writer threads keep it busy, waited up to a whole interval to get
    it back. Measured at 5,000 msg/s in one process (docs/performance.md): fault -> order p99 129 ms at 5 ms, 88 ms
    at 1 ms, with no measurable change in the drain rate (23,600 and 24,900 msg/s, medians of 3)."""
    if settings.role != "ingest":
        sys.setswitchinterval(settings.alert.switch_interval_ms / 1000)


def channels(settings: Settings) -> list[Channel]:
    m, smtp = settings.mqtt, settings.smtp
    out: list[Channel] = [WebhookChannel(settings.notify.webhook_timeout_s),
                          MqttChannel(m.host, m.port, client_id=f"{m.client_id}-notify", username=m.username,
                                      password=m.password, tls=m.tls)]
    if smtp.host:
        out.append(EmailChannel(smtp.host, smtp.port, smtp.sender, username=smtp.username, password=smtp.password,
                                starttls=smtp.starttls))
    if settings.wecom.robots:
        out.append(WecomChannel(settings.wecom))
    if settings.dingtalk.robots:
        out.append(DingtalkChannel(settings.dingtalk))
    if settings.feishu.robots:
        out.append(FeishuChannel(settings.feishu))
    if settings.sms.access_key_id:
        out.append(SmsChannel(settings.sms))
    if settings.voice.called_show_number and (settings.voice.access_key_id or settings.sms.access_key_id):
        out.append(VoiceChannel(settings.voice, settings.sms))
    return out


def reach(outbound: list[Channel]) -> Reach:
    """Whom each configured channel reaches (robots: the sites that have one; the others: anyone)."""
    return Reach({c.name: getattr(c, "reaches", lambda _recipient: True) for c in outbound})


def _listeners(settings: Settings, counters: Counters, writer: IngestWriter, engine: AlertEngine,
               sites: tuple[str, ...] | None = None) -> tuple[MqttListener, MqttListener | None]:
    """What the MQTT stream feeds, by role:

    - ``all``: the ingest writer (which acknowledges once stored) and, as a side sink, the alert engine; events
      and status on the urgent lane (``<client id>-urgent``), the rest on the bulk lane;
    - ``ingest``: the ingest writer only, one lane, in the configured shared-subscription group if any;
    - ``alerts``: the alert engine only, on sessions of its own (``<client id>-alerts`` and
      ``<client id>-alerts-urgent``, never shared: one engine must see every message of a device, in order); it
      acknowledges once a message is judged. An engine partition (``sites``) subscribes to its sites only.
    """
    config, lim = mqtt_config(settings), limits(settings)
    if settings.role == "ingest":
        return MqttListener(config, writer.submit, counters, limits=lim), None
    if settings.role == "alerts":
        config = replace(config, client_id=f"{config.client_id}-alerts", shared_group=None, sites=sites)
    bulk, urgent = replace(config, lane="bulk"), replace(config, lane="urgent", client_id=f"{config.client_id}-urgent")
    if settings.role == "alerts":
        return (MqttListener(bulk, engine.submit_envelope, counters, limits=lim),
                MqttListener(urgent, partial(engine.submit_envelope, urgent=True), Counters(), limits=lim))
    return (MqttListener(bulk, writer.submit, counters, limits=lim, sinks=[engine.submit]),
            MqttListener(urgent, writer.submit, Counters(), limits=lim, sinks=[engine.submit_urgent]))


def build(settings: Settings, *, clock: Callable[[], datetime] = utcnow,
          extra_channels: list[Channel] | None = None) -> Runtime:
    """Wire everything from settings. ``clock`` and ``extra_channels`` exist for tests and benchmarks."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    alert_config = load_config(settings.rules_file)  # bad rules fail here, at start
    counters = Counters()
    engine = make_engine(settings.resolved_database_url)
    migrate(engine)
    sessions = session_factory(engine)
    influx = InfluxV1Client(influx_config(settings))
    spool = DurableSpool(settings.spool_dir)
    dead_letters = DeadLetterStore(sessions)
    writer = IngestWriter(
        influx, spool, dead_letters, counters, max_points=settings.batch.max_points,
        max_delay_s=settings.batch.max_delay_s, retries=settings.influx.write_retries, fallback_dir=settings.data_dir,
    )
    outbound = channels(settings) + list(extra_channels or [])
    notify = settings.notify
    zones = alert_config.zones(settings.timezone)
    site_langs: dict[str, str] = {}
    partition = Partition.parse(settings.alert.sites, settings.alert.partition)
    owns = None if partition.whole else partition.owns
    offload = Offload("alerts-offload") if settings.alert.offload and settings.role != "ingest" else None
    in_memory = settings.resolved_database_url in ("sqlite://", "sqlite:///:memory:")  # a child cannot open it
    db_offload = None if in_memory else offload  # for the jobs that read the work-order database
    subscribed: list[tuple[str, ...] | None] = []  # the sites the engine's lanes subscribe to, once known
    lanes: list[MqttListener] = []

    def read_register(session) -> None:  # noqa: ANN001 - what the register says about sites, now and later
        zones.update(site_zones(session))  # the register's sites win over the rules file's
        site_langs.update(site_languages(session))
        sites = partition.subscribed(site_ids(session) if partition.by_hash else ())  # a hash slot reads the register
        if subscribed and sites != subscribed[-1]:  # a hash slot gained or lost a site in the register
            log.info("alert partition %s now subscribes to %s", partition, sites)
            for lane in lanes:
                lane.set_sites(sites)
        subscribed[:] = [sites]

    with sessions() as session:
        read_register(session)
    if settings.role == "alerts" and not partition.whole:
        log.info("alert engine partition: %s (subscribed to %s)", partition, subscribed[-1])
    desk = WorkOrderDesk(sessions, sla=alert_config.sla, matrix=alert_config.matrix, oncall=alert_config.oncall,
                         texts=alert_config.notices, zones=zones,
                         clock=clock, metrics=writer.submit_point, notice_prefix=notify.notice_topic_prefix,
                         notify_prefix=notify.topic_prefix, channels=reach(outbound), policy=alert_config.notify,
                         language=settings.language, site_languages=site_langs)
    alerts = AlertService(alert_config, desk)
    dispatcher = Dispatcher(sessions, outbound, clock=clock, max_attempts=notify.max_attempts,
                            base_backoff_s=notify.backoff_s)
    alert_engine = AlertEngine(sessions, alert_config, alerts, clock=clock, influx=influx,
                               on_change=dispatcher.wake, tick_s=settings.alert.tick_s,
                               register_read_s=settings.alert.register_read_s,
                               on_register=read_register, owns=owns, offload=offload)
    kpis = KpiWatch(sessions, alert_config.kpis, desk.router, clock=clock, metrics=writer.submit_point,
                    language_of=desk.language_of,
                    channels=desk.channels, notify_prefix=notify.topic_prefix, zones=zones, owns=owns,
                    offload=db_offload, database_url=settings.resolved_database_url)
    reports = ReportScheduler(sessions, zones, alert_config.kpis, desk.router, clock=clock,
                              directory=settings.data_dir / "reports", at=time_of(settings.report.time),
                              check_s=settings.report.check_s, channels=desk.channels,
                              public_url=settings.report.public_url, language_of=desk.language_of,
                              on_sent=dispatcher.wake, owns=owns, offload=db_offload,
                              database_url=settings.resolved_database_url)
    listener, urgent_listener = _listeners(settings, counters, writer, alert_engine,
                                           subscribed[-1] if settings.role == "alerts" else None)
    lanes.extend(lane for lane in (listener, urgent_listener) if lane is not None)
    return Runtime(settings=settings, counters=counters, engine=engine, sessions=sessions, influx=influx,
                   spool=spool, dead_letters=dead_letters, writer=writer, listener=listener,
                   alert_config=alert_config, orders=desk, alerts=alerts, kpis=kpis, reports=reports,
                   alert_engine=alert_engine, dispatcher=dispatcher, clock=clock, offload=offload,
                   closers=[c.close for c in outbound if hasattr(c, "close")],
                   urgent_listener=urgent_listener)
