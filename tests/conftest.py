"""Shared fixtures: real Mosquitto and InfluxDB started once per session on free ports in a temp dir."""

from __future__ import annotations

import itertools
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from community.runtime import Runtime, build
from community.schema import migrate
from core.db import make_engine
from core.settings import Settings
from devtools.localservices import LocalStack, Ports, free_port
from ingest.influx import InfluxConfig, InfluxV1Client
from simulator.publisher import Publisher

pytest_plugins = ["tests.alert_fixtures"]  # alert-engine fixtures (webhook, SMTP, users) for every folder

_ids = itertools.count(1)


def wait_for(predicate: Callable[[], bool], timeout: float = 20.0, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def engine_settled(runtime: Runtime, processed: int = 0, ticks: int = 2, timeout: float = 20.0) -> bool:
    """A barrier before asserting that something did *not* happen: the alert engine has judged at least
    ``processed`` messages, its queues are empty, and ``ticks`` more timer rounds (silence, escalation, flapping)
    ran after that. Waits on the engine's own counters, never a fixed sleep."""
    engine = runtime.alert_engine
    if not wait_for(lambda: engine.processed >= processed and engine.backlog == 0, timeout):
        return False
    start = engine.ticks
    return wait_for(lambda: engine.ticks >= start + ticks, timeout)


@pytest.fixture(scope="session")
def stack() -> Iterator[LocalStack]:
    # not under pytest's tmp dir: that is private to root, and PostgreSQL runs as the postgres user
    root = Path(tempfile.mkdtemp(prefix="community-test-servers-"))
    root.chmod(0o755)
    local = LocalStack(root, Ports(mqtt=free_port(), influx_http=free_port(), influx_rpc=free_port(),
                                   postgres=free_port()))
    local.up()
    yield local
    local.down()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_template(stack: LocalStack) -> str:
    """A migrated database that each test's database is copied from (fast, and tests never share rows)."""
    url = stack.postgres.create_database("community_template")
    engine = make_engine(url)
    migrate(engine)
    engine.dispose()
    return "community_template"


@pytest.fixture
def pg_url(stack: LocalStack, pg_template: str, unique: str) -> str:
    """A fresh PostgreSQL database for this test, already migrated."""
    return stack.postgres.create_database(f"db_{unique}", template=pg_template)


@pytest.fixture
def unique() -> str:
    """A name no other test uses: topic prefix, client ids and InfluxDB database are derived from it."""
    return f"t{next(_ids)}x{int(time.time() * 1000) % 10_000_000}"


def settings_for(stack: LocalStack, unique: str, data_dir: Path, **overrides: object) -> Settings:
    values: dict[str, object] = dict(
        mqtt_port=stack.ports.mqtt, mqtt_topic_prefix=unique, mqtt_client_id=f"gw-{unique}",
        influx_url=stack.influxdb.url, influx_db=unique, data_dir=data_dir, batch_max_delay_s=0.05,
        database_url=None, language="en",  # the tests read English; tests/i18n runs the default, Chinese
        report_enabled=False,  # the morning report is tested on its own clock (tests/reports)
    )
    values.update(overrides)
    return Settings(_env_file=None, **values)


@pytest.fixture
def service(stack: LocalStack, unique: str, tmp_path: Path) -> Iterator[Callable[..., Runtime]]:
    """Factory: build and start the service against the session servers; stopped after the test."""
    started: list[Runtime] = []

    def make(clock=None, **overrides: object) -> Runtime:  # noqa: ANN001
        extra = {"clock": clock} if clock else {}
        runtime = build(settings_for(stack, unique, tmp_path / "data", **overrides), **extra)
        runtime.start()
        assert runtime.wait_connected(10), "service did not connect and subscribe"
        started.append(runtime)
        return runtime

    yield make
    for runtime in started:
        runtime.stop()


@pytest.fixture
def influx(stack: LocalStack, unique: str) -> Iterator[InfluxV1Client]:
    client = InfluxV1Client(InfluxConfig(url=stack.influxdb.url, database=unique))
    yield client
    client.close()


@pytest.fixture
def publisher(stack: LocalStack, unique: str) -> Iterator[Publisher]:
    pub = Publisher("127.0.0.1", stack.ports.mqtt, client_id=f"pub-{unique}")
    pub.connect()
    yield pub
    pub.close()


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


@pytest.fixture
def browser():
    """Headless Debian Chromium through Playwright (./scripts/bootstrap installs it)."""
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian chromium is not installed: ./scripts/bootstrap installs it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield instance
        instance.close()
