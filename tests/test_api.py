import time

import pytest
from fastapi.testclient import TestClient

from community.cli import app_for
from simulator.fleet import Fleet
from tests.conftest import wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def api(service):
    runtime = service()
    return runtime, TestClient(app_for(runtime, "s3cret-token"))


def test_health_is_open_and_reports_ok_when_connected(api):
    _, client = api
    body = client.get("/healthz").json()
    assert body == {"status": "ok", "mqtt_connected": True, "influx_reachable": True, "database_reachable": True,
                    "spool_points": 0, "alert_backlog": 0, "dead_letters_waiting": 0, "problems": []}


def test_stats_count_received_written_and_dead_lettered(api, publisher, unique):
    runtime, client = api
    publisher.publish([Fleet(prefix=unique).next_telemetry(int(time.time() * 1000))])
    publisher.publish_raw(f"{unique}/site1/b1/meter/m1/telemetry", b"not json")
    assert wait_for(lambda: runtime.counters.received == 2 and runtime.counters.dead_lettered >= 1)
    assert client.get("/stats").status_code == 401
    stats = client.get("/stats", headers={"Authorization": "Bearer s3cret-token"}).json()
    assert stats["received"] == 2
    assert stats["dead_lettered"] >= 1
    assert {"written", "spooled", "replayed", "last_write_lag_ms", "writer_queue", "spool_points"} <= stats.keys()


def test_dead_letters_need_the_operator_token_and_show_topic_reason_payload(api, publisher, unique):
    runtime, client = api
    publisher.publish_raw(f"{unique}/site1/b1/meter/m1/telemetry", b"\xffbad")
    assert wait_for(lambda: runtime.counters.dead_lettered == 1)
    assert client.get("/dead-letters").status_code == 401
    assert client.get("/dead-letters", headers={"Authorization": "Bearer wrong"}).status_code == 401
    rows = client.get("/dead-letters", headers={"Authorization": "Bearer s3cret-token"}).json()
    assert len(rows) == 1
    assert rows[0]["topic"] == f"{unique}/site1/b1/meter/m1/telemetry"
    assert "not valid UTF-8" in rows[0]["reason"]
    assert rows[0]["payload_base64"] == "/2JhZA=="
    assert client.get("/dead-letters?limit=0", headers={"Authorization": "Bearer s3cret-token"}).status_code == 422
