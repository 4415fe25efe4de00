"""Composition root: builds the clients and workers from one ``Settings`` and starts / stops them in order.

Start order follows the data path backwards (database, InfluxDB writer, then the MQTT listener) so nothing
arrives before there is somewhere durable to put it; stop order is the reverse.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine
from sqlalchemy.orm import sessionmaker

from alerts.config import DEFAULT_RULES, AlertConfig, load_config
from alerts.engine import AlertEngine
from alerts.notify import Channel, Dispatcher, EmailChannel, MqttChannel, WebhookChannel
from alerts.service import AlertService, utcnow
from community.db import make_engine, migrate, session_factory
from community.metrics import Counters
from community.settings import Settings
from gateway.contract import Limits
from gateway.deadletter import DeadLetterStore
from gateway.listener import MqttConfig, MqttListener, Sink
from ingest.influx import InfluxConfig, InfluxUnavailable, InfluxV1Client
from ingest.spool import DurableSpool
from ingest.writer import IngestWriter

log = logging.getLogger(__name__)


def mqtt_config(settings: Settings) -> MqttConfig:
    return MqttConfig(
        host=settings.mqtt_host, port=settings.mqtt_port, client_id=settings.mqtt_client_id,
        username=settings.mqtt_username, password=settings.mqtt_password, topic_prefix=settings.mqtt_topic_prefix,
        shared_group=settings.mqtt_shared_group, session_expiry_s=settings.mqtt_session_expiry_s,
        receive_maximum=settings.mqtt_receive_maximum, keepalive_s=settings.mqtt_keepalive_s,
    )


def influx_config(settings: Settings) -> InfluxConfig:
    return InfluxConfig(
        url=settings.influx_url, database=settings.influx_db, retention_policy=settings.influx_retention_policy,
        username=settings.influx_username, password=settings.influx_password, token=settings.influx_token,
        timeout_s=settings.influx_timeout_s,
    )


def limits(settings: Settings) -> Limits:
    return Limits(max_payload_bytes=settings.max_payload_bytes,
                  max_future_ms=settings.max_clock_skew_future_s * 1000,
                  max_past_ms=settings.max_age_past_s * 1000)


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
    alerts: AlertService
    alert_engine: AlertEngine
    dispatcher: Dispatcher
    clock: Callable[[], datetime]
    closers: list[Callable[[], None]] = field(default_factory=list)

    def start(self) -> None:
        try:
            self.influx.ensure_database()
        except InfluxUnavailable as err:  # not fatal: readings spool until it is back
            log.warning("InfluxDB not reachable at start (%s); readings will be spooled", err)
        self.writer.start()
        self.dispatcher.start()
        self.alert_engine.start()
        self.listener.start()

    def stop(self) -> None:
        self.listener.stop()
        self.alert_engine.stop()
        self.dispatcher.stop()
        self.writer.stop()
        for close in self.closers:
            close()
        self.influx.close()
        self.engine.dispose()

    def stats(self) -> dict[str, object]:
        data = self.counters.snapshot()
        data["writer_queue"] = self.writer.queued
        data["spool_points"] = self.spool.pending_points
        data["spool_batches"] = len(self.spool)
        data["alert_backlog"] = self.alert_engine.backlog
        data["alert_signals"] = self.alert_engine.signals
        data["notifications_sent"] = self.dispatcher.stats.sent
        data["notification_failures"] = self.dispatcher.stats.failed_attempts
        return data


def channels(settings: Settings) -> list[Channel]:
    out: list[Channel] = [WebhookChannel(settings.webhook_timeout_s),
                          MqttChannel(settings.mqtt_host, settings.mqtt_port,
                                      client_id=f"{settings.mqtt_client_id}-notify",
                                      username=settings.mqtt_username, password=settings.mqtt_password)]
    if settings.smtp_host:
        out.append(EmailChannel(settings.smtp_host, settings.smtp_port, settings.smtp_sender,
                                username=settings.smtp_username, password=settings.smtp_password,
                                starttls=settings.smtp_starttls))
    return out


def build(settings: Settings, *, clock: Callable[[], datetime] = utcnow,
          extra_channels: list[Channel] | None = None) -> Runtime:
    """Wire everything from settings. ``clock`` and ``extra_channels`` exist for tests and benchmarks."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    alert_config = load_config(settings.rules_file or DEFAULT_RULES)  # bad rules fail here, at start
    counters = Counters()
    engine = make_engine(settings.resolved_database_url)
    migrate(engine)
    sessions = session_factory(engine)
    influx = InfluxV1Client(influx_config(settings))
    spool = DurableSpool(settings.spool_dir)
    dead_letters = DeadLetterStore(sessions)
    writer = IngestWriter(
        influx, spool, dead_letters, counters, max_points=settings.batch_max_points,
        max_delay_s=settings.batch_max_delay_s, retries=settings.write_retries, fallback_dir=settings.data_dir,
    )
    outbound = channels(settings) + list(extra_channels or [])
    alerts = AlertService(sessions, alert_config, clock=clock, metrics=writer.submit_line,
                          notice_prefix=settings.notice_topic_prefix, notify_prefix=settings.notify_topic_prefix,
                          channels=frozenset(c.name for c in outbound))
    dispatcher = Dispatcher(sessions, outbound, clock=clock, max_attempts=settings.notify_max_attempts,
                            base_backoff_s=settings.notify_backoff_s)
    alert_engine = AlertEngine(sessions, alert_config, alerts, clock=clock, influx=influx,
                               on_change=dispatcher.wake, tick_s=settings.alert_tick_s)
    sinks: list[Sink] = [alert_engine.submit]
    listener = MqttListener(mqtt_config(settings), writer.submit, counters, limits=limits(settings), sinks=sinks)
    closers = [c.close for c in outbound if hasattr(c, "close")]
    return Runtime(settings, counters, engine, sessions, influx, spool, dead_letters, writer, listener,
                   alert_config, alerts, alert_engine, dispatcher, clock, closers)
