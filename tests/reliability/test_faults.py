"""Fault injection against the real servers: the service killed with SIGKILL, the work-order database away,
a notification endpoint that hangs. After each: nothing acknowledged is lost, nothing is duplicated."""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from community.cli import app_for
from core.db import make_engine, session_factory
from devtools.localservices import Postgres, free_port
from ingest.influx import InfluxRejected
from notifications.models import Notification
from simulator.fleet import Fleet
from tests.alert_fixtures import OPERATOR
from tests.conftest import settings_for, wait_for
from workorders.models import WorkOrder

pytestmark = pytest.mark.integration
READINGS = ("elevator", "access", "meter")


def stored(influx) -> int:
    try:
        return sum(influx.count(k) for k in READINGS)
    except InfluxRejected:  # the service has not created the database yet
        return 0


def order_rows(url: str) -> list[tuple[str, str, int]]:
    engine = make_engine(url)
    try:
        with session_factory(engine)() as session:
            return [(o.rule_id, o.device_id, o.occurrences) for o in session.scalars(select(WorkOrder))]
    finally:
        engine.dispose()


def start_service(stack, unique, tmp_path, pg_url) -> subprocess.Popen:
    """``community run`` in its own process; returns once its /healthz says MQTT is connected."""
    port = free_port()
    env = {**os.environ, "COMMUNITY_MQTT_PORT": str(stack.ports.mqtt), "COMMUNITY_INFLUX_URL": stack.influxdb.url,
           "COMMUNITY_INFLUX_DB": unique, "COMMUNITY_MQTT_TOPIC_PREFIX": unique,
           "COMMUNITY_MQTT_CLIENT_ID": f"gw-{unique}", "COMMUNITY_DATA_DIR": str(tmp_path / "data"),
           "COMMUNITY_DATABASE_URL": pg_url, "COMMUNITY_HTTP_PORT": str(port),
           "COMMUNITY_OPERATOR_TOKEN": "t" * 32, "COMMUNITY_BATCH_MAX_DELAY_S": "0.05"}
    process = subprocess.Popen([sys.executable, "-m", "community.cli", "run"], env=env, cwd=tmp_path,
                               stdout=subprocess.DEVNULL, stderr=open(tmp_path / "service.log", "ab"))

    def connected() -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).json()["mqtt_connected"]
        except (httpx.HTTPError, ValueError, KeyError):
            return False

    assert wait_for(connected, 30), (tmp_path / "service.log").read_text()[-2000:]
    return process


def test_service_killed_with_sigkill_mid_stream_loses_and_duplicates_nothing(stack, unique, tmp_path, pg_url,
                                                                           influx, publisher):
    service = start_service(stack, unique, tmp_path, pg_url)
    try:
        fleet = Fleet(sites=1, buildings=2, elevators=2, doors=2, meters=4, seed=31, prefix=unique)
        publisher.publish(fleet.inject("door_forced_open", "s1b1-door1", now_ms=int(time.time() * 1000)))
        sent = 0
        for _ in range(15):  # 1500 readings; the kill lands in the middle
            publisher.publish([fleet.next_telemetry(int(time.time() * 1000)) for _ in range(100)])
            sent += 100
            if sent == 700:
                assert wait_for(lambda: stored(influx) > 0, 10)
                service.send_signal(signal.SIGKILL)
                service.wait(10)
        assert publisher.flush(30)
        killed_at = stored(influx)
        assert killed_at < sent  # the rest was queued by the broker for the dead service
        service = start_service(stack, unique, tmp_path, pg_url)
        assert wait_for(lambda: stored(influx) >= sent, 60), (stored(influx), sent)
        publisher.publish(fleet.inject("door_forced_open", "s1b1-door1", now_ms=int(time.time() * 1000)))
        assert wait_for(lambda: any(o[2] == 2 for o in order_rows(pg_url)), 30), order_rows(pg_url)
        time.sleep(1)
        assert stored(influx) == sent  # exactly once per (series, timestamp)
        assert order_rows(pg_url) == [("access_door_forced", "s1b1-door1", 2)]  # one order, the repeat counted
        print(f"SIGKILL: {sent} readings published, {killed_at} stored when the service was killed, "
              f"{stored(influx)} stored after restart, 1 work order")
    finally:
        service.kill()
        service.wait(10)


def test_work_order_database_away_for_a_while_delays_orders_but_not_ingest(stack, unique, tmp_path, influx,
                                                                            publisher):
    from community.runtime import build

    root = Path(tempfile.mkdtemp(prefix="community-test-pg-"))
    root.chmod(0o755)  # PostgreSQL runs as its own user (pytest's tmp dirs are private to root)
    own = Postgres(root, free_port())
    own.start()
    url = own.create_database("orders")
    runtime = build(settings_for(stack, unique, tmp_path / "data", database_url=url, alert_tick_s=0.2))
    runtime.start()
    client = TestClient(app_for(runtime, OPERATOR))
    try:
        assert runtime.wait_connected(10)
        assert client.get("/readyz").status_code == 200
        fleet = Fleet(seed=32, prefix=unique)
        own.stop()
        publisher.publish(fleet.inject("passengers_trapped", "s1b1-el1", now_ms=int(time.time() * 1000)))
        publisher.publish([fleet.next_telemetry(int(time.time() * 1000)) for _ in range(200)])
        publisher.publish_raw(f"{unique}/site1/b1/meter/m1/telemetry", b"not json while the database is away")
        assert wait_for(lambda: stored(influx) == 200, 20)  # readings keep flowing into InfluxDB
        ready = client.get("/readyz")
        assert ready.status_code == 503 and "work-order database not reachable" in ready.json()["problems"]
        assert wait_for(lambda: client.get("/readyz").json()["dead_letters_waiting"] == 1, 20)  # not hidden
        assert client.get("/livez").status_code == 200  # alive: nothing a restart would fix
        own.start()
        assert wait_for(lambda: order_rows(url) == [("elevator_trapped", "s1b1-el1", 1)], 40), order_rows(url)
        assert wait_for(lambda: runtime.dead_letters.count() == 1, 20)  # imported from the fallback file, once
        assert wait_for(lambda: client.get("/readyz").status_code == 200, 20)
        assert client.get("/readyz").json()["dead_letters_waiting"] == 0
        assert [d.reason for d in runtime.dead_letters.latest()] == ["payload: Invalid JSON: expected ident at line 1 "
                                                                      "column 2"]
        assert not (tmp_path / "data" / "dead-letters-fallback.jsonl").exists()
    finally:
        runtime.stop()
        own.stop()
        shutil.rmtree(root, ignore_errors=True)


class Hanging(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802
        time.sleep(3)  # longer than the service's webhook timeout
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args) -> None:  # noqa: ANN002
        pass


def test_hanging_webhook_is_recorded_as_failed_with_a_reason_and_other_channels_still_deliver(
        alert_service, publisher, unique, rules_file, smtp):
    import yaml

    box, _ = smtp
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Hanging)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    data = yaml.safe_load(rules_file.read_text())
    data["oncall"]["office_webhooks"] = [f"http://127.0.0.1:{server.server_port}/hangs"]
    for person in data["oncall"]["people"]:
        person.pop("webhook", None)
    rules_file.write_text(yaml.safe_dump(data))
    runtime = alert_service(notify_webhook_timeout_s=0.3, notify_max_attempts=2, notify_backoff_s=0.1)
    publisher.publish(Fleet(seed=33, prefix=unique).inject("door_forced_open", "s1b1-door1",
                                                           now_ms=int(time.time() * 1000)))

    def notes() -> list[Notification]:
        with runtime.sessions() as session:
            return list(session.scalars(select(Notification).order_by(Notification.id)))

    assert wait_for(lambda: any(n.channel == "webhook" and n.status == "failed" for n in notes()), 30)
    hook = next(n for n in notes() if n.channel == "webhook")
    assert hook.attempts == 2 and "Timeout" in hook.last_error
    assert wait_for(lambda: all(n.status == "sent" for n in notes() if n.channel != "webhook"), 20)
    assert box.messages  # e-mail went out while the webhook hung
    server.shutdown()
