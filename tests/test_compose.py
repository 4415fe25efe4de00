"""docker-compose.yml cannot run here (no Docker engine); it is parsed and checked instead."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_stack_has_broker_influxdb_service_and_simulator_behind_a_profile():
    services = compose()["services"]
    assert {"mosquitto", "influxdb", "service", "simulator"} <= services.keys()
    assert services["simulator"]["profiles"] == ["simulator"]
    for name in ("mosquitto", "influxdb", "service"):
        assert "healthcheck" in services[name], name
        assert services[name]["restart"] == "unless-stopped"


def test_no_default_secrets_and_no_anonymous_mqtt():
    text = (ROOT / "docker-compose.yml").read_text()
    for variable in ("MQTT_SERVICE_PASSWORD", "INFLUX_ADMIN_PASSWORD", "INFLUX_TOKEN", "OPERATOR_TOKEN"):
        assert f"${{{variable}:?" in text, f"{variable} must be required from .env, not defaulted"
    broker_conf = (ROOT / "deploy/mosquitto/mosquitto.conf").read_text()
    assert "allow_anonymous false" in broker_conf and "acl_file" in broker_conf


def test_service_spool_is_on_a_volume_and_every_mounted_file_exists():
    data = compose()
    assert "service-data:/data" in data["services"]["service"]["volumes"]
    for service in data["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./") and not source.endswith("passwd"):  # passwd is made per deployment
                assert (ROOT / source).exists(), source
