"""Alert-engine fixtures: PostgreSQL database, a local webhook receiver, a local SMTP server (aiosmtpd), owners
and technicians, and a rules file whose on-call people have webhook and e-mail addresses."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
import yaml
from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient

from alerts.config import DEFAULT_RULES
from community.cli import app_for
from devtools.localservices import free_port
from people.models import Role
from people.service import create_user

OPERATOR = "operator-token-for-tests"


class Receiver:
    """Local webhook endpoint: records every JSON body; can be told to fail."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        self.fail_next = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if receiver.fail_next > 0:
                    receiver.fail_next -= 1
                    self.send_response(503)
                else:
                    receiver.bodies.append({"path": self.path, **body})
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args) -> None:  # noqa: ANN002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


class Mailbox:
    def __init__(self) -> None:
        self.messages: list = []

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, N802 - aiosmtpd hook
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


class FakeClock:
    """A clock tests move by hand (SLA timers, escalation)."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def webhook() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.server.shutdown()


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    yield box, port
    controller.stop()


@pytest.fixture
def rules_file(tmp_path: Path, webhook: Receiver) -> Path:
    data = yaml.safe_load(DEFAULT_RULES.read_text())
    for person in data["oncall"]["people"]:
        person["webhook"] = f"{webhook.url}/people/{person['id']}"
        person["email"] = f"{person['id']}@community.test"
    data["oncall"]["office_webhooks"] = [f"{webhook.url}/office"]
    data["storms"] |= {"window_s": 1, "hold_s": 1}  # a lone device's loss becomes its own order after 1 s
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture
def alert_service(smtp, rules_file, pg_url, service):  # noqa: ANN001, ANN201
    """Factory: the whole service on PostgreSQL with the test rules, SMTP and webhooks.

    The order of the arguments is the order of set-up, and teardown runs in reverse: the service stops first,
    while the SMTP and webhook servers its dispatcher talks to are still there."""
    _box, port = smtp

    def make(clock=None, **overrides):  # noqa: ANN001, ANN202
        values = dict(database_url=pg_url, rules_file=rules_file, smtp_host="127.0.0.1", smtp_port=port,
                      alert_tick_s=0.2, notify_backoff_s=0.2)
        values.update(overrides)
        return service(clock=clock, **values)

    return make


def add_people(runtime) -> None:  # noqa: ANN001
    with runtime.sessions.begin() as session:
        create_user(session, "staff1", "staff-password", Role.STAFF)
        create_user(session, "wang", "tech-password", Role.TECHNICIAN, person_id="wang.tech", sites=["site1"])
        create_user(session, "far.tech", "tech-password", Role.TECHNICIAN, person_id="li.tech", sites=["site9"])
        create_user(session, "owner_b1", "owner-password", Role.OWNER, site="site1", building="b1", unit="0201")
        create_user(session, "owner_b1_0101", "owner-password", Role.OWNER, site="site1", building="b1", unit="0101")
        create_user(session, "owner_b2", "owner-password", Role.OWNER, site="site1", building="b2", unit="0101")


def api(runtime) -> TestClient:  # noqa: ANN001
    return TestClient(app_for(runtime, OPERATOR))


def login(client: TestClient, username: str, password: str) -> dict:
    response = client.post("/auth/token", data={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


class TopicWatcher:
    """Subscribes on the real broker and records what arrives (owner notices, order feeds)."""

    def __init__(self, port: int, topic: str) -> None:
        self.messages: list[tuple[str, dict]] = []
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        ready = threading.Event()
        self.client.on_subscribe = lambda *a: ready.set()
        self.client.on_message = lambda c, u, m: self.messages.append((m.topic, json.loads(m.payload)))
        self.client.on_connect = lambda c, *a: c.subscribe(topic, qos=1)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert ready.wait(10)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
