import pytest

from devtools.localservices import port_open

pytestmark = pytest.mark.integration


def test_up_is_idempotent_and_leaves_running_servers_alone(stack):
    pids = [s.pid() for s in stack.services]
    stack.up()
    assert [s.pid() for s in stack.services] == pids
    assert port_open(stack.ports.mqtt) and stack.influxdb.ready()
    assert all(state.startswith("running") for state in stack.status().values())


def test_servers_keep_their_data_in_the_project_directory(stack):
    assert (stack.mosquitto.dir / "mosquitto.conf").read_text().count(str(stack.root)) >= 1
    assert (stack.influxdb.dir / "data").is_dir()


def test_services_up_records_where_it_runs_and_every_command_after_it_uses_those_servers():
    """On chosen ports (two people on one host do not collide): `services up` writes var/local.env, and a command
    run afterwards from the same directory stores into that PostgreSQL, not into a SQLite file of its own."""
    import json
    import os
    import shutil
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    import psycopg

    from devtools.localservices import free_port

    tmp_path = Path(tempfile.mkdtemp(prefix="community-services-"))  # not pytest's: PostgreSQL's user must reach it
    tmp_path.chmod(0o755)
    ports = {"--mqtt-port": free_port(), "--influx-port": free_port(), "--influx-rpc-port": free_port(),
             "--postgres-port": free_port()}
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMMUNITY_")}
    cli = [sys.executable, "-m", "community.cli"]
    templates = Path(__file__).resolve().parents[1] / "docs" / "templates"

    def community(*args: str) -> str:
        done = subprocess.run([*cli, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    try:
        up = community("services", "up", *[str(x) for pair in ports.items() for x in pair])
        assert "var/local.env" in up
        local = (tmp_path / "var/local.env").read_text()
        assert f"COMMUNITY_MQTT_PORT={ports['--mqtt-port']}" in local
        assert f"127.0.0.1:{ports['--postgres-port']}/community" in local
        assert json.loads((tmp_path / "var/services/ports.json").read_text())["influx_rpc"] == \
            ports["--influx-rpc-port"]
        community("import", "sites", str(templates / "sites.csv"))
        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{ports['--postgres-port']}/community") as db:
            assert db.execute("SELECT count(*) FROM sites").fetchone()[0] == 2
        assert not (tmp_path / "var/community.db").exists()
        status = community("services", "status")  # no ports given: the recorded ones
        assert f"mqtt://127.0.0.1:{ports['--mqtt-port']}" in status and "running" in status
    finally:
        down = subprocess.run([*cli, "services", "down"], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=120)
        shutil.rmtree(tmp_path, ignore_errors=True)
    assert "stopped" in down.stdout and not port_open(ports["--mqtt-port"])
