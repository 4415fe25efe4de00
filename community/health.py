"""What a load balancer, an orchestrator and Prometheus ask the service: is the process alive (``/livez``), can it
do its work (``/readyz``: 503 with the list of problems), and its numbers (``/metrics``, Prometheus exposition).

The checks read the running parts through plain callables, so the API factory needs no ``Runtime``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.orm import sessionmaker


class Health(BaseModel):
    status: str  # "ok" or "unavailable"
    mqtt_connected: bool
    influx_reachable: bool
    database_reachable: bool
    spool_points: int
    alert_backlog: int
    dead_letters_waiting: int  # in the fallback file while the database was away
    problems: list[str]


@dataclass
class Probes:
    stats: Callable[[], dict[str, object]]
    influx_ping: Callable[[], bool]
    sessions: sessionmaker
    max_spool_points: int = 1_000_000
    max_alert_backlog: int = 100_000

    def database_ping(self) -> bool:
        try:
            with self.sessions() as session:
                session.execute(text("SELECT 1"))
            return True
        except Exception:  # noqa: BLE001 - any failure means: not reachable
            return False

    def health(self) -> Health:
        data = self.stats()
        influx, database = self.influx_ping(), self.database_ping()
        spool, backlog = int(data.get("spool_points", 0)), int(data.get("alert_backlog", 0))
        problems = []
        if not data.get("mqtt_connected"):
            problems.append("MQTT broker not connected")
        if not influx:
            problems.append("InfluxDB not reachable: readings are being spooled")
        if not database:
            problems.append("work-order database not reachable")
        if spool > self.max_spool_points:
            problems.append(f"spool holds {spool} points (limit {self.max_spool_points})")
        if backlog > self.max_alert_backlog:
            problems.append(f"alert engine backlog {backlog} messages (limit {self.max_alert_backlog})")
        return Health(status="unavailable" if problems else "ok", mqtt_connected=bool(data.get("mqtt_connected")),
                      influx_reachable=influx, database_reachable=database, spool_points=spool,
                      alert_backlog=backlog, dead_letters_waiting=int(data.get("dead_letters_waiting", 0)),
                      problems=problems)


COUNTERS = {  # stats key -> (metric name, help)
    "received": ("community_messages_received", "MQTT messages received"),
    "decoded": ("community_messages_decoded", "messages that passed the contract"),
    "dead_lettered": ("community_dead_letters", "messages refused by the contract or by InfluxDB"),
    "written": ("community_points_written", "points written to InfluxDB: readings and the service's own points"),
    "service_points": ("community_service_points", "the service's own points (ticket metrics, KPIs) to write"),
    "spooled": ("community_points_spooled", "points put in the durable spool"),
    "replayed": ("community_points_replayed", "spooled points written later"),
    "write_failures": ("community_influx_write_failures", "failed InfluxDB write attempts"),
    "alert_processed": ("community_alert_messages_judged", "messages the alert engine judged"),
    "alert_signals": ("community_alert_signals", "fire and clear signals"),
    "alert_failures": ("community_alert_failures", "signals and timer jobs given up on (deterministic errors)"),
    "alert_foreign_skipped": ("community_alert_foreign_skipped", "messages of sites another alert engine owns, "
                                                                 "skipped (queued before the site moved)"),
    "notifications_sent": ("community_notifications_sent", "notifications delivered"),
    "notification_failures": ("community_notification_failures", "failed notification attempts"),
    "notifications_fell_back": ("community_notifications_fell_back", "channels that failed for good and handed "
                                                                      "over to the next of the person's chain"),
    "notifications_undeliverable": ("community_notifications_undeliverable",
                                    "notifications that failed on every channel of their chain"),
    "mqtt_connects": ("community_mqtt_connects", "MQTT connections made"),
}
GAUGES = {
    "writer_queue": ("community_writer_queue", "items waiting for the InfluxDB writer"),
    "spool_points": ("community_spool_points", "points in the durable spool"),
    "alert_backlog": ("community_alert_backlog", "messages waiting for the alert engine"),
    "last_write_lag_ms": ("community_write_lag_milliseconds", "receive -> InfluxDB, oldest message of the last batch"),
    "dead_letters_waiting": ("community_dead_letters_waiting", "dead letters in the fallback file"),
    "mqtt_connected": ("community_mqtt_connected", "1 while every MQTT lane is connected"),
    "uptime_s": ("community_uptime_seconds", "seconds since start"),
}


class StatsCollector(Collector):
    """The service's counters, read at scrape time (no second bookkeeping on the hot path)."""

    def __init__(self, stats: Callable[[], dict[str, object]]) -> None:
        self.stats = stats

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        data = self.stats()
        for key, (name, doc) in COUNTERS.items():
            if key in data:
                yield CounterMetricFamily(name, doc, value=float(data[key]))
        for key, (name, doc) in GAUGES.items():
            if key in data:
                yield GaugeMetricFamily(name, doc, value=float(data[key]))
        latency = data.get("signal_latency_ms")
        if isinstance(latency, dict):
            family = GaugeMetricFamily("community_signal_apply_milliseconds",
                                       "message received -> its work order committed, recent signals",
                                       labels=["quantile"])
            for quantile, value in latency.items():
                family.add_metric([quantile], float(value))
            yield family
