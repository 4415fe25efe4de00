"""docker-compose.yml cannot run here (no Docker engine); it is parsed and checked instead, and the broker's
production ACL is exercised on a real Mosquitto."""

import os
import re
import subprocess
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
import yaml

from devtools.localservices import Mosquitto, free_port

ROOT = Path(__file__).resolve().parents[1]
PER_DEPLOYMENT = {"./deploy/mosquitto/passwd", "./deploy/rules.yaml", "./deploy/mosquitto/certs",
                  "./deploy/mosquitto/certs/ca.crt"}  # made per deployment (.env.example)


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_stack_services_health_checks_restart_policies_and_simulator_profile():
    services = compose()["services"]
    assert set(services) == {"mosquitto", "influxdb", "postgres", "grafana", "service", "ingest", "simulator",
                             "proxy"}
    assert services["simulator"]["profiles"] == ["simulator"]
    for name, service in services.items():
        if name != "simulator":
            assert "healthcheck" in service, name
            assert service["restart"] == "unless-stopped", name
    assert services["service"]["depends_on"]["postgres"] == {"condition": "service_healthy"}
    assert services["influxdb"]["image"].startswith("influxdb:2")


def test_only_tls_endpoints_and_grafana_are_published_on_the_host():
    services = compose()["services"]
    published = {name: service.get("ports", []) for name, service in services.items() if service.get("ports")}
    assert published == {"mosquitto": ["8883:8883"], "proxy": ["443:443", "80:80"], "grafana": ["3000:3000"]}
    env = compose()["x-service-env"]
    assert env["COMMUNITY_MQTT_PORT"] == "8883" and env["COMMUNITY_MQTT_TLS_CA_FILE"] == "/certs/ca.crt"
    assert "COMMUNITY_MQTT_ALLOW_PLAINTEXT" not in env
    broker = (ROOT / "deploy/mosquitto/mosquitto.conf").read_text()
    assert "listener 8883\n" in broker and "listener 1883 127.0.0.1\n" in broker


def test_images_are_pinned_to_exact_versions_and_the_service_environment_names_real_settings():
    import re

    from core.settings import unknown_environment

    services = compose()["services"]
    exact = r"[\w./-]+:\d+\.\d+\.\d+|postgres:\d+\.\d+"  # PostgreSQL's own releases are major.minor
    for name, service in services.items():
        if "image" in service:
            assert re.fullmatch(exact, service["image"]), (name, service["image"])
    for name in ("service", "ingest"):
        environment = services[name]["environment"]
        assert not unknown_environment({key: "" for key in environment}), name


def test_service_runs_as_an_ingest_and_an_alerts_process_with_the_same_settings_and_own_spools():
    services = compose()["services"]
    ingest, alerts = services["ingest"], services["service"]
    assert ingest["command"][-2:] == ["--role", "ingest"] and alerts["command"][-2:] == ["--role", "alerts"]
    assert ingest["environment"] == alerts["environment"]
    assert ingest["environment"]["COMMUNITY_MODE"] == "production"
    assert ingest["depends_on"] == alerts["depends_on"]
    assert "ingest-data:/data" in ingest["volumes"] and "service-data:/data" in alerts["volumes"]
    assert "ports" not in ingest  # the API is served by the alerts process


def test_no_default_secrets_anywhere():
    text = (ROOT / "docker-compose.yml").read_text()
    for match in re.finditer(r"\$\{([A-Z_]*(PASSWORD|TOKEN|_USER)[A-Z_]*)(:[?-][^}]*)?\}", text):
        name, _, modifier = match.groups()
        assert modifier is None or modifier.startswith(":?"), f"{name} has a default: {match.group(0)}"
    assert "GF_AUTH_ANONYMOUS_ENABLED: \"false\"" in text
    example = (ROOT / ".env.example").read_text()
    for line in example.splitlines():
        if re.match(r"^[A-Z_]*(PASSWORD|TOKEN)=", line):
            assert line.endswith("="), f".env.example must not ship a secret: {line}"


def test_mounted_files_exist_and_grafana_gets_the_provisioning():
    data = compose()
    for service in data["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./") and source not in PER_DEPLOYMENT:
                assert (ROOT / source).exists(), source
    grafana = data["services"]["grafana"]["volumes"]
    assert "./dashboards/provisioning:/etc/grafana/provisioning:ro" in grafana
    assert "./dashboards/generated:/var/lib/grafana/dashboards:ro" in grafana
    assert "service-data:/data" in data["services"]["service"]["volumes"]


@pytest.mark.integration
def test_production_broker_config_refuses_anonymous_and_devices_publish_only_their_own_topics(tmp_path):
    """deploy/mosquitto/acl on a real Mosquitto: no anonymous access, a device writes only its own topics."""
    passwd = tmp_path / "passwd"
    for user, password in (("community-service", "service-secret"), ("s1b1-el1", "device-secret")):
        subprocess.run(["mosquitto_passwd", "-b", *(["-c"] if not passwd.exists() else []), str(passwd), user,
                        password], check=True, capture_output=True)
    broker = Mosquitto(tmp_path / "broker", free_port())
    broker.write_config = lambda: broker.config.write_text(  # the production settings, on a test port
        f"listener {broker.port} 127.0.0.1\nallow_anonymous false\npassword_file {passwd}\n"
        f"acl_file {ROOT / 'deploy/mosquitto/acl'}\nlog_dest file {broker.logfile}\n"
        + ("user root\n" if os.geteuid() == 0 else ""))
    broker.start()
    try:
        received: list[str] = []
        service = connect(broker.port, "community-service", "service-secret")
        service.on_message = lambda c, u, m: received.append(m.topic)
        service.subscribe([("community/#", 1), ("community-notices/#", 1), ("community-notify/#", 1)])
        time.sleep(0.3)
        device = connect(broker.port, "s1b1-el1", "device-secret")
        own = "community/site1/b1/elevator/s1b1-el1/telemetry"
        other = "community/site1/b1/elevator/s1b1-el2/telemetry"
        for topic in (own, other, "community/site1/b1/meter/s1b1-m1/telemetry"):
            device.publish(topic, b"{}", qos=1).wait_for_publish(5)
        deadline = time.time() + 3
        while time.time() < deadline and own not in received:
            time.sleep(0.05)
        time.sleep(0.3)
        assert received == [own]  # the other device's topic never reached the service
        # the service publishes owner notices and order feeds (a device may not)
        feeds = ["community-notices/site1/b1", "community-notify/orders/site1"]
        for topic in feeds:
            device.publish(topic, b"{}", qos=1).wait_for_publish(5)
            service.publish(topic, b"{}", qos=1).wait_for_publish(5)
        deadline = time.time() + 3
        while time.time() < deadline and len(received) < 3:
            time.sleep(0.05)
        time.sleep(0.3)
        assert received == [own, *feeds]
        with pytest.raises(ConnectionError):
            connect(broker.port, None, None)
        with pytest.raises(ConnectionError):
            connect(broker.port, "s1b1-el1", "wrong")
        for client in (service, device):
            client.disconnect()
            client.loop_stop()
    finally:
        broker.stop()


def connect(port: int, user: str | None, password: str | None) -> mqtt.Client:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    result: list = []
    client.on_connect = lambda c, u, f, rc, p: result.append(rc)
    if user:
        client.username_pw_set(user, password)
    client.connect("127.0.0.1", port)
    client.loop_start()
    deadline = time.time() + 5
    while not result and time.time() < deadline:
        time.sleep(0.02)
    if not result or result[0].is_failure:
        client.loop_stop()
        raise ConnectionError(f"refused: {result[0] if result else 'timeout'}")
    return client
