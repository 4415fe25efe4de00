"""Composition root: builds the clients and workers from one ``Settings`` and starts / stops them in order.

Start order follows the data path backwards (database, InfluxDB writer, then the MQTT listener) so nothing
arrives before there is somewhere durable to put it; stop order is the reverse.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import sessionmaker

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
    sinks: list[Sink] = field(default_factory=list)

    def start(self) -> None:
        try:
            self.influx.ensure_database()
        except InfluxUnavailable as err:  # not fatal: readings spool until it is back
            log.warning("InfluxDB not reachable at start (%s); readings will be spooled", err)
        self.writer.start()
        self.listener.start()

    def stop(self) -> None:
        self.listener.stop()
        self.writer.stop()
        self.influx.close()
        self.engine.dispose()

    def stats(self) -> dict[str, object]:
        data = self.counters.snapshot()
        data["writer_queue"] = self.writer.queued
        data["spool_points"] = self.spool.pending_points
        data["spool_batches"] = len(self.spool)
        return data


def build(settings: Settings, sinks: list[Sink] | None = None) -> Runtime:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
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
    sinks = list(sinks or [])
    listener = MqttListener(mqtt_config(settings), writer.submit, counters, limits=limits(settings), sinks=sinks)
    return Runtime(settings, counters, engine, sessions, influx, spool, dead_letters, writer, listener, sinks)
