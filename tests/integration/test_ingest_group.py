"""Several ingest processes started by one command share the stream (an MQTT shared subscription on the real
broker): every reading is stored exactly once, each process takes part, and they all stop together."""

import os
import signal
import subprocess
import sys
import time

import httpx
import pytest

from devtools.localservices import free_port, port_open
from simulator.fleet import Fleet
from tests.conftest import wait_for

pytestmark = pytest.mark.integration
TOKEN = "ingest-group-token-for-tests"


def test_two_ingest_processes_split_the_stream_and_store_every_reading_once(stack, publisher, influx, unique,
                                                                            tmp_path, pg_url):
    base = free_port()
    while port_open(base + 1):
        base = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMMUNITY_")}
    env.update(COMMUNITY_MQTT_PORT=str(stack.ports.mqtt), COMMUNITY_MQTT_TOPIC_PREFIX=unique,
               COMMUNITY_MQTT_CLIENT_ID=f"grp-{unique}", COMMUNITY_INFLUX_URL=stack.influxdb.url,
               COMMUNITY_INFLUX_DB=unique, COMMUNITY_DATA_DIR=str(tmp_path), COMMUNITY_HTTP_PORT=str(base),
               COMMUNITY_OPERATOR_TOKEN=TOKEN, COMMUNITY_BATCH_MAX_DELAY_S="0.05",
               COMMUNITY_DATABASE_URL=pg_url)  # shared, as in production (migrations take a lock there)
    group = subprocess.Popen([sys.executable, "-m", "community.cli", "run", "--role", "ingest", "--processes", "2"],
                             env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    ports = (base, base + 1)

    def stats(port: int) -> dict:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/stats", headers={"Authorization": f"Bearer {TOKEN}"},
                             timeout=2).json()
        except httpx.HTTPError:
            return {}

    try:
        connected = wait_for(lambda: all(stats(p).get("mqtt_connected") for p in ports) or group.poll() is not None,
                             60)
        assert connected and group.poll() is None, group.communicate(timeout=30)[0][-3000:]
        fleet = Fleet(prefix=unique, seed=21)
        now = int(time.time() * 1000)
        messages = [fleet.next_telemetry(now + i) for i in range(2000)]
        publisher.publish(messages)
        assert wait_for(lambda: sum(stats(p).get("written", 0) for p in ports) >= 2000, 60)
        received = [stats(p)["received"] for p in ports]
        assert sum(received) == 2000 and min(received) > 0  # the broker split the stream between them
        stored = sum(influx.count(kind) for kind in ("elevator", "access", "meter"))
        assert stored == len({(t, p["ts"]) for t, p, _ in messages})  # each reading once
    finally:
        group.send_signal(signal.SIGTERM)
        output = group.communicate(timeout=60)[0]
    assert group.returncode == 0, output
    assert "2 ingest processes in shared subscription group" in output
    assert output.count("stopped in role 'ingest'") == 2, output[-3000:]  # SIGTERM: each stopped cleanly
    assert not any(port_open(p) for p in ports)
