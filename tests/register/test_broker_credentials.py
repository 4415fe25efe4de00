"""MQTT credentials generated from the register, on a real Mosquitto set up as production (a device listener where
the client id is the username, a service listener): a meter's credential publishes only under its own topic, cannot
pass for an elevator or another site or building, cannot take over the service's client id, and the service keeps
its session while new devices are added and the broker reloads."""

import threading
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from core.db import make_engine, session_factory
from devtools.localservices import SecuredMosquitto, free_port
from register import credentials
from register.imports import run_import
from tests.conftest import wait_for

pytestmark = pytest.mark.integration
TEMPLATES = Path(__file__).resolve().parents[2] / "docs" / "templates"
NOW = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
SERVICE = "svc-alerts"
BRIDGE = "vendor-cloud"


class Client:
    """One MQTT v5 connection that records what it receives, acknowledgements and disconnects."""

    def __init__(self, port: int, username: str, password: str, client_id: str, *, session: bool = False) -> None:
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        self.client.username_pw_set(username, password)
        self.connected = threading.Event()
        self.refused: int | None = None
        self.disconnects = 0
        self.acks: dict[int, int] = {}
        self.received: list[str] = []
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = lambda *a: setattr(self, "disconnects", self.disconnects + 1)
        self.client.on_publish = lambda c, u, mid, rc, props: self.acks.__setitem__(mid, rc.value)
        self.client.on_message = lambda c, u, m: self.received.append(m.topic)
        props = None
        if session:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = 3600
        self.client.connect("127.0.0.1", port, clean_start=not session, properties=props)
        self.client.loop_start()

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:  # noqa: ANN001
        if reason_code.is_failure:
            self.refused = reason_code.value
        else:
            self.connected.set()

    def wait(self) -> bool:
        return wait_for(lambda: self.connected.is_set() or self.refused is not None, 10) and self.connected.is_set()

    def publish(self, topic: str) -> int:
        """The broker's PUBACK reason code (0 = accepted, 135 = not authorised)."""
        mid = self.client.publish(topic, b'{"ts": 1, "seq": 1}', qos=1).mid
        assert wait_for(lambda: mid in self.acks, 10), f"no PUBACK for {topic}"
        return self.acks[mid]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def register(pg_url):
    engine = make_engine(pg_url)
    sessions = session_factory(engine)
    for what in ("sites", "devices"):
        report = run_import(sessions, what, (TEMPLATES / f"{what}.csv").read_bytes(), f"{what}.csv", now=NOW)
        assert report.applied
    yield sessions
    engine.dispose()


def issue_and_write(sessions, directory: Path) -> dict[str, str]:
    with sessions.begin() as session:
        issued, refused = credentials.issue(session, NOW, service_users=(SERVICE,), bridge_users=(BRIDGE,))
        credentials.write_files(credentials.render(session), directory)
    assert refused == []
    return {i.username: i.password for i in issued}


@pytest.fixture
def broker(register, tmp_path):
    passwords = issue_and_write(register, tmp_path / "credentials")
    server = SecuredMosquitto(tmp_path, free_port(), free_port(), tmp_path / "credentials")
    server.start()
    yield server, passwords
    server.stop()


def test_a_device_publishes_only_under_its_own_topic_and_cannot_take_the_service_client_id(broker, register):
    server, passwords = broker
    assert set(passwords) == {SERVICE, BRIDGE, "s1b1-el1", "s1b1-el2", "s1b1-ac1", "s1b1-mt1", "s1b1-mt2",
                              "s1b2-fp1"}
    service = Client(server.service_port, SERVICE, passwords[SERVICE], "community-gateway", session=True)
    assert service.wait()
    service.client.subscribe("community/#", qos=1)
    meter = Client(server.port, "s1b1-mt1", passwords["s1b1-mt1"], "community-gateway")  # the service's client id
    try:
        assert meter.wait()
        assert meter.publish("community/site1/b1/meter/s1b1-mt1/telemetry") == 0
        assert wait_for(lambda: "community/site1/b1/meter/s1b1-mt1/telemetry" in service.received)
        for topic in ("community/site1/b1/elevator/s1b1-el1/event",  # another device, another kind
                      "community/site1/b1/elevator/s1b1-mt1/event",  # its own id, posing as an elevator
                      "community/site2/b1/meter/s1b1-mt1/telemetry",  # another site
                      "community/site1/b2/meter/s1b1-mt1/telemetry",  # another building
                      "community-notices/site1/b1"):  # the owners' notice feed
            assert meter.publish(topic) == 135, topic
        # the meter's connection did not knock the service off: its client id became the meter's username
        assert meter.publish("community/site1/b1/meter/s1b1-mt1/status") == 0
        assert wait_for(lambda: "community/site1/b1/meter/s1b1-mt1/status" in service.received)
        assert service.disconnects == 0
        assert service.received.count("community/site1/b1/elevator/s1b1-el1/event") == 0
    finally:
        meter.close()
        service.close()


def test_a_bridge_publishes_for_any_device_but_not_the_service_feeds(broker):
    server, passwords = broker
    bridge = Client(server.service_port, BRIDGE, passwords[BRIDGE], "vendor-cloud-1")
    try:
        assert bridge.wait()
        assert bridge.publish("community/site2/b1/elevator/any-elevator/event") in (0, 16)  # 16: nobody listens
        assert bridge.publish("community-notices/site1/b1") == 135
    finally:
        bridge.close()


def test_wrong_passwords_and_the_wrong_listener_are_refused(broker):
    server, passwords = broker
    wrong = Client(server.port, "s1b1-mt1", "not-the-password", "x")
    on_service_port = Client(server.service_port, "s1b1-mt1", passwords["s1b1-mt1"], "s1b1-mt1")
    service_on_device_port = Client(server.port, SERVICE, passwords[SERVICE], SERVICE)
    try:
        for client in (wrong, on_service_port, service_on_device_port):
            assert not client.wait() and client.refused in (134, 135)  # bad user name or password / not authorised
    finally:
        for client in (wrong, on_service_port, service_on_device_port):
            client.close()


def test_added_devices_connect_after_a_reload_and_the_service_keeps_its_session(broker, register, tmp_path):
    server, passwords = broker
    service = Client(server.service_port, SERVICE, passwords[SERVICE], "community-gateway", session=True)
    assert service.wait()
    service.client.subscribe("community/#", qos=1)
    new_row = "device_id,site_id,building_id,kind\ns1b1-el3,site1,b1,电梯\n"
    assert run_import(register, "devices", new_row.encode(), "more.csv", now=NOW).applied
    added = issue_and_write(register, tmp_path / "credentials")
    assert set(added) == {"s1b1-el3"}  # the others keep theirs
    server.reload()

    def new_device_in() -> bool:
        client = Client(server.port, "s1b1-el3", added["s1b1-el3"], "s1b1-el3")
        ok = client.wait()
        if ok:
            assert client.publish("community/site1/b1/elevator/s1b1-el3/event") == 0
        client.close()
        return ok

    try:
        assert wait_for(new_device_in, 15, interval=0.2)
        assert wait_for(lambda: "community/site1/b1/elevator/s1b1-el3/event" in service.received)
        assert service.disconnects == 0
        old = Client(server.port, "s1b1-mt1", passwords["s1b1-mt1"], "s1b1-mt1")
        assert old.wait()  # an existing device's credential still works
        old.close()
    finally:
        service.close()


def test_a_decommissioned_device_loses_its_credential(register, tmp_path):
    issue_and_write(register, tmp_path)
    with register.begin() as session:
        from devices.models import Device, DeviceStatus

        session.get(Device, "s1b1-mt1").status = DeviceStatus.DECOMMISSIONED.value
    issue_and_write(register, tmp_path)
    assert "s1b1-mt1:" not in (tmp_path / "passwd-devices").read_text()
    assert "user s1b1-mt1\n" not in (tmp_path / "acl").read_text()
    assert "s1b1-mt2:" in (tmp_path / "passwd-devices").read_text()


def test_the_password_file_is_in_mosquittos_own_format():
    hashed = credentials.mosquitto_hash("secret123", salt=b"\x00" * 12)
    assert hashed.startswith("$7$101$AAAAAAAAAAAAAAAA$") and len(hashed.rsplit("$", 1)[1]) == 88
