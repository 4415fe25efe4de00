"""docker-compose.yml cannot run here (no Docker engine); it is parsed and checked instead (the generated broker
credentials are exercised on a real Mosquitto in tests/register/test_broker_credentials.py)."""

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
PER_DEPLOYMENT = {"./deploy/mosquitto/credentials", "./deploy/rules.yaml", "./deploy/mosquitto/certs",
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
    assert env["COMMUNITY_MQTT_PORT"] == "8884" and env["COMMUNITY_MQTT_TLS_CA_FILE"] == "/certs/ca.crt"
    assert "COMMUNITY_MQTT_ALLOW_PLAINTEXT" not in env
    broker = (ROOT / "deploy/mosquitto/mosquitto.conf").read_text()
    assert "listener 8883\n" in broker and "listener 8884\n" in broker and "listener 1883 127.0.0.1\n" in broker


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
    own = {"COMMUNITY_MQTT_USERNAME", "COMMUNITY_MQTT_PASSWORD"}  # each process its own broker user
    assert {k: v for k, v in ingest["environment"].items() if k not in own} == {
        k: v for k, v in alerts["environment"].items() if k not in own}
    assert ingest["environment"]["COMMUNITY_MQTT_USERNAME"] != alerts["environment"]["COMMUNITY_MQTT_USERNAME"]
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


def listeners(conf: str) -> dict[str, dict[str, str]]:
    """mosquitto.conf's settings per listener (``per_listener_settings true``): listener -> option -> value."""
    found: dict[str, dict[str, str]] = {}
    current = None
    for line in conf.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        key, _, value = line.partition(" ")
        if key == "listener":
            current = found.setdefault(value, {})
        elif current is not None:
            current[key] = value
    return found


def test_production_broker_binds_client_ids_to_users_and_reads_the_generated_credentials():
    """deploy/mosquitto/mosquitto.conf sets per listener what tests/register/test_broker_credentials.py proves on a
    real Mosquitto (devtools.localservices.SecuredMosquitto): devices' client ids are their usernames, the service
    has a listener and password file of its own, nobody is anonymous."""
    conf = (ROOT / "deploy/mosquitto/mosquitto.conf").read_text()
    assert "per_listener_settings true\n" in conf
    found = listeners(conf)
    assert set(found) == {"8883", "8884", "1883 127.0.0.1"}
    credentials = "/mosquitto/config/credentials"
    devices, service = found["8883"], found["8884"]
    assert devices["use_username_as_clientid"] == "true"
    assert devices["password_file"] == f"{credentials}/passwd-devices"
    assert "use_username_as_clientid" not in service and service["password_file"] == f"{credentials}/passwd-service"
    assert found["1883 127.0.0.1"]["password_file"] == f"{credentials}/passwd-service"
    for name, options in found.items():
        assert options["allow_anonymous"] == "false", name
        assert options["acl_file"] == f"{credentials}/acl", name
    for name in ("8883", "8884"):
        assert found[name]["certfile"] == "/mosquitto/certs/server.crt", name
    mounts = compose()["services"]["mosquitto"]["volumes"]
    assert f"./deploy/mosquitto/credentials:{credentials}:ro" in mounts


