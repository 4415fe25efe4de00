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
