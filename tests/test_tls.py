"""Encrypted and closed by default, on a real Mosquitto with a throw-away CA made here (openssl):

- the service connects over TLS, verifying the broker's certificate, and stores what a device sends over TLS;
- a client without a client certificate, or one that does not trust the broker's CA, is refused;
- production mode refuses a plain-text broker unless explicitly allowed;
- ``community run`` starts exactly as docker-compose.yml runs it (production mode, compose's environment, TLS),
  pointed at the local servers instead of the containers.
"""

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import pytest
import yaml
from pydantic import ValidationError

from community.runtime import build
from core.settings import Settings
from core.tls import MqttTls
from devtools.localservices import Mosquitto, free_port
from simulator.fleet import Fleet
from simulator.publisher import Publisher
from tests.conftest import settings_for, wait_for

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path

    @property
    def client(self) -> MqttTls:
        return MqttTls(self.ca, self.client_cert, self.client_key)


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_pki(directory: Path, name: str = "test") -> Pki:
    """A CA, a server certificate for 127.0.0.1 / localhost and a client certificate, valid for two days."""
    directory.mkdir(parents=True, exist_ok=True)
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
            "-subj", f"/CN={name} throw-away CA", cwd=directory)
    (directory / "server.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for who, subject, extra in (("server", "/CN=127.0.0.1", ["-extfile", "server.ext"]), ("client", "/CN=gw", [])):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{who}.key", "-out", f"{who}.csr", "-subj",
                subject, cwd=directory)
        openssl("x509", "-req", "-in", f"{who}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                "-out", f"{who}.crt", "-days", "2", *extra, cwd=directory)
    for path in directory.iterdir():
        path.chmod(0o644)  # mosquitto may drop to its own user
    return Pki(directory / "ca.crt", directory / "server.crt", directory / "server.key", directory / "client.crt",
               directory / "client.key")


@pytest.fixture(scope="module")
def tls_broker(tmp_path_factory) -> tuple[Mosquitto, Pki]:
    """Mosquitto with one TLS listener that also asks every client for a certificate signed by the CA."""
    root = tmp_path_factory.mktemp("tls")
    root.chmod(0o755)
    pki = make_pki(root / "pki")
    broker = Mosquitto(root / "broker", free_port())
    broker.write_config = lambda: broker.config.write_text(
        f"listener {broker.port} 127.0.0.1\ncafile {pki.ca}\ncertfile {pki.server_cert}\nkeyfile {pki.server_key}\n"
        "require_certificate true\nallow_anonymous true\n"
        f"log_dest file {broker.logfile}\n" + ("user root\n" if os.geteuid() == 0 else ""))
    broker.start()
    yield broker, pki
    broker.stop()


def try_connect(port: int, tls: MqttTls | None, *, insecure_ca: Path | None = None) -> bool:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    if tls is not None:
        tls.apply(client)
    elif insecure_ca is not None:
        MqttTls(insecure_ca).apply(client)
    try:
        client.connect("127.0.0.1", port, keepalive=5)
        client.loop_start()
        return wait_for(client.is_connected, 3)
    except (OSError, mqtt.WebsocketConnectionError):
        return False
    finally:
        client.loop_stop()
        client.disconnect()


@pytest.mark.integration
def test_the_service_connects_over_tls_and_stores_what_a_device_sends_over_tls(tls_broker, stack, unique,
                                                                                tmp_path, influx):
    broker, pki = tls_broker
    runtime = build(settings_for(stack, unique, tmp_path / "data", mqtt_port=broker.port,
                                 mqtt_tls_ca_file=pki.ca, mqtt_tls_cert_file=pki.client_cert,
                                 mqtt_tls_key_file=pki.client_key))
    runtime.start()
    try:
        assert runtime.wait_connected(10), broker.logfile.read_text()[-2000:]
        device = Publisher("127.0.0.1", broker.port, client_id=f"dev-{unique}", tls=pki.client)
        device.connect()
        device.publish([Fleet(prefix=unique).next_telemetry(int(time.time() * 1000))])
        assert device.flush(10)
        device.close()
        assert wait_for(lambda: runtime.counters.written == 1)
    finally:
        runtime.stop()


@pytest.mark.integration
def test_clients_without_a_certificate_or_without_trust_in_the_broker_are_refused(tls_broker, tmp_path):
    broker, pki = tls_broker
    assert try_connect(broker.port, pki.client)  # the control: a proper client gets in
    assert not try_connect(broker.port, MqttTls(pki.ca))  # trusts the broker, but has no client certificate
    stranger = make_pki(tmp_path / "other", "other")
    assert not try_connect(broker.port, MqttTls(stranger.ca, stranger.client_cert, stranger.client_key))
    assert not try_connect(broker.port, None)  # plain MQTT on the TLS port


def test_production_refuses_a_plain_text_broker_unless_allowed(tmp_path):
    ca = tmp_path / "ca.crt"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    good = dict(mode="production", operator_token="x" * 32, mqtt_username="svc", mqtt_password="p" * 16,
                influx_token="t" * 32, database_url="postgresql+psycopg://u@h/db")
    with pytest.raises(ValidationError, match="COMMUNITY_MQTT_TLS_CA_FILE is required"):
        Settings(_env_file=None, **good)
    with pytest.raises(ValidationError, match="is not a readable file"):
        Settings(_env_file=None, **good, mqtt_tls_ca_file=tmp_path / "missing.crt")
    assert Settings(_env_file=None, **good, mqtt_tls_ca_file=ca).mqtt.tls.enabled
    assert not Settings(_env_file=None, **good, mqtt_allow_plaintext=True).mqtt.tls.enabled
    assert Settings(_env_file=None, **good, mqtt_allow_plaintext=True).secure_cookies  # HTTPS-only page cookies


def compose_environment(values: dict[str, str]) -> dict[str, str]:
    """The service's environment from docker-compose.yml, with ``${VAR...}`` filled in as compose would."""
    env = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["service"]["environment"]

    def value(match: re.Match) -> str:
        name, modifier = match.group(1), match.group(2) or ""
        if name in values:
            return values[name]
        if modifier.startswith(":-"):  # ${NAME:-default}
            return modifier[2:]
        raise KeyError(f"{name} must be set in .env")

    def fill(text: str) -> str:
        return re.sub(r"\$\{([A-Z_]+)(:[?-][^}]*)?\}", value, str(text))

    return {key: fill(value) for key, value in env.items()}


@pytest.mark.integration
def test_community_run_starts_as_compose_runs_it(tls_broker, stack, unique, tmp_path, pg_url):
    """Compose's environment, unchanged but for where the servers are: the container names (mosquitto,
    influxdb, postgres) and mounted paths (/certs, /data, /config) point at the local servers and files."""
    broker, pki = tls_broker
    rules = tmp_path / "rules.yaml"
    rules.write_text("# this deployment changes nothing of the shipped configuration\n")
    env = compose_environment({"POSTGRES_USER": "postgres", "POSTGRES_PASSWORD": "a-long-db-password",
                               "SMTP_HOST": "", "DOMAIN": "wy.example.com", "MQTT_ALERTS_USER": "community-alerts",
                               "MQTT_ALERTS_PASSWORD": "a-long-mqtt-password", "INFLUX_TOKEN": "t" * 40,
                               "OPERATOR_TOKEN": "o" * 40})
    assert env["COMMUNITY_MODE"] == "production" and env["COMMUNITY_MQTT_PORT"] == "8884"
    local = dict(env)
    local.update(COMMUNITY_MQTT_HOST="127.0.0.1", COMMUNITY_MQTT_PORT=str(broker.port),
                 COMMUNITY_MQTT_TLS_CA_FILE=str(pki.ca), COMMUNITY_MQTT_TLS_CERT_FILE=str(pki.client_cert),
                 COMMUNITY_MQTT_TLS_KEY_FILE=str(pki.client_key), COMMUNITY_MQTT_TOPIC_PREFIX=unique,
                 COMMUNITY_MQTT_CLIENT_ID=f"compose-{unique}", COMMUNITY_INFLUX_URL=stack.influxdb.url,
                 COMMUNITY_INFLUX_DB=unique, COMMUNITY_DATA_DIR=str(tmp_path / "data"),
                 COMMUNITY_RULES_FILE=str(rules), COMMUNITY_HTTP_HOST="127.0.0.1",
                 COMMUNITY_HTTP_PORT=str(port := free_port()),
                 COMMUNITY_DATABASE_URL=re.sub(r"@postgres:5432/community$", "@" + pg_url.split("@", 1)[1],
                                               env["COMMUNITY_DATABASE_URL"]))
    assert set(local) == set(env) | {"COMMUNITY_MQTT_TLS_CERT_FILE", "COMMUNITY_MQTT_TLS_KEY_FILE",
                                     "COMMUNITY_MQTT_TOPIC_PREFIX", "COMMUNITY_MQTT_CLIENT_ID",
                                     "COMMUNITY_INFLUX_DB", "COMMUNITY_HTTP_PORT"}
    clean = {k: v for k, v in os.environ.items() if not k.startswith("COMMUNITY_")}
    log = (tmp_path / "service.log").open("w")
    process = subprocess.Popen([sys.executable, "-m", "community.cli", "run", "--role", "alerts"],
                               env=clean | local, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)
    try:
        def ready() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        assert wait_for(ready, 60), (tmp_path / "service.log").read_text()[-3000:]
        device = Publisher("127.0.0.1", broker.port, client_id=f"dev-{unique}", tls=pki.client)
        device.connect()
        device.publish(Fleet(prefix=unique).inject("passengers_trapped", "s1b1-el1",
                                                   now_ms=int(time.time() * 1000)))
        device.close()
        staff = {"Authorization": f"Bearer {'o' * 40}"}

        def orders() -> list:
            return httpx.get(f"http://127.0.0.1:{port}/work-orders", headers=staff, timeout=2).json()

        assert wait_for(lambda: [o["rule_id"] for o in orders()] == ["elevator_trapped"], 30)
    finally:
        process.terminate()
        process.wait(20)
        log.close()
