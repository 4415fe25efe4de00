"""Health that tells the truth: /livez, /readyz (503 with the problems while a dependency is away), /metrics."""

import time

import pytest
from fastapi.testclient import TestClient

from community.cli import app_for
from devtools.localservices import free_port
from simulator.fleet import Fleet
from tests.conftest import wait_for

pytestmark = pytest.mark.integration


def test_ready_when_everything_is_reachable_and_metrics_are_exposed(service, publisher, unique):
    runtime = service()
    client = TestClient(app_for(runtime, "s3cret-token"))
    assert client.get("/livez").json() == {"status": "alive"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["problems"] == []
    assert ready.json()["database_reachable"] and ready.json()["influx_reachable"]
    publisher.publish([Fleet(prefix=unique).next_telemetry(int(time.time() * 1000))])
    assert wait_for(lambda: runtime.counters.written >= 1)
    text = client.get("/metrics").text
    assert "community_messages_received_total 1.0" in text
    assert "community_points_written_total" in text and "community_alert_backlog" in text
    assert "community_spool_points 0.0" in text


def test_not_ready_while_influxdb_is_unreachable(service):
    runtime = service(influx_url=f"http://127.0.0.1:{free_port()}")  # nothing listens there
    client = TestClient(app_for(runtime, "s3cret-token"))
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["problems"] == ["InfluxDB not reachable: readings are being spooled"]
    assert client.get("/healthz").status_code == 503  # the old probe says the same
    assert client.get("/livez").status_code == 200


def test_not_ready_past_the_alert_backlog_limit(service):
    runtime = service(http_ready_max_alert_backlog=0)
    client = TestClient(app_for(runtime, "s3cret-token"))
    runtime.alert_engine.stop()  # nothing drains the queue any more
    runtime.alert_engine.submit(object())
    ready = client.get("/readyz")
    backlog = ready.json()["alert_backlog"]
    assert ready.status_code == 503 and backlog >= 1
    assert ready.json()["problems"] == [f"alert engine backlog {backlog} messages (limit 0)"]


def test_not_ready_while_the_broker_is_away(stack, unique, tmp_path):
    from community.runtime import build
    from devtools.localservices import Mosquitto
    from tests.conftest import settings_for

    broker = Mosquitto(tmp_path / "broker", free_port())
    broker.start()
    runtime = build(settings_for(stack, unique, tmp_path / "data", mqtt_port=broker.port))
    runtime.start()
    try:
        assert runtime.wait_connected(10)
        client = TestClient(app_for(runtime, "s3cret-token"))
        assert client.get("/readyz").status_code == 200
        broker.stop()
        assert wait_for(lambda: client.get("/readyz").status_code == 503, 20)
        assert client.get("/readyz").json()["problems"] == ["MQTT broker not connected"]
        broker.start()
        assert wait_for(lambda: client.get("/readyz").status_code == 200, 40)
    finally:
        runtime.stop()
        broker.stop()
