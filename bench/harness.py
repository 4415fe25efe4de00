"""What the benchmarks share: a private server stack, and the service run the way it runs in production, as
``community run`` processes (one with ``--role all``, or an ``ingest`` and an ``alerts`` process side by side).

Running the service in its own processes keeps the benchmark's own polling and publishing off the service's
interpreter, so the figures are the service's, not the harness's.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from devtools.localservices import LocalStack, Ports, free_port, port_open
from ingest.influx import InfluxConfig, InfluxV1Client

LAYOUTS = {"all": ["all"], "split": ["ingest", "alerts"], "ingest": ["ingest"],  # ingest: the ingest process alone
           "ingest2": ["ingest*2"],  # two ingest processes in one shared subscription (community run --processes 2)
           "partitioned": ["ingest", "alerts%0/2", "alerts%1/2"]}  # alert engines owning hash slot 0 and 1 of 2
TOKEN = "bench-operator-token"


def private_stack(tmp: Path) -> LocalStack:
    """Mosquitto, InfluxDB and PostgreSQL on free ports under ``tmp`` (which PostgreSQL's user must reach)."""
    tmp.chmod(0o755)
    stack = LocalStack(tmp / "servers", Ports(free_port(), free_port(), free_port(), free_port()))
    stack.up()
    return stack


def bench_service(stack: LocalStack, tmp: Path, layout: str, name: str, *, prefix: str,
                  rules_file: Path | None = None) -> tuple[Service, InfluxV1Client, str]:
    """The service in ``layout`` with everything of its own, named after ``name``: topics under ``prefix``, MQTT
    client id, InfluxDB database and PostgreSQL database ``bench_<name>``, data and run directories under ``tmp``.
    Returns the service (not started), a client of its InfluxDB database and its database URL."""
    database = f"bench_{name}"
    database_url = stack.postgres.create_database(database)
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMMUNITY_")}
    env.update(COMMUNITY_MQTT_PORT=str(stack.ports.mqtt), COMMUNITY_MQTT_TOPIC_PREFIX=prefix,
               COMMUNITY_MQTT_CLIENT_ID=f"bench-{name}", COMMUNITY_INFLUX_URL=stack.influxdb.url,
               COMMUNITY_INFLUX_DB=database, COMMUNITY_DATA_DIR=str(tmp / f"data-{name}"),
               COMMUNITY_DATABASE_URL=database_url, COMMUNITY_OPERATOR_TOKEN=TOKEN)
    # The morning report stays on, as in production: made up at start for every site, in the engines' offload
    # child (core/offload.py). BENCH_REPORT=false turns it off, to tell its cost from the rest.
    if os.environ.get("BENCH_REPORT") == "false":
        env["COMMUNITY_REPORT_ENABLED"] = "false"
    if rules_file:
        env["COMMUNITY_RULES_FILE"] = str(rules_file)
    influx = InfluxV1Client(InfluxConfig(url=stack.influxdb.url, database=database, timeout_s=120))
    return Service(layout, env, tmp / f"run-{name}"), influx, database_url


class ServiceProcess:
    """One ``community run --role <role>`` child with its own HTTP port and log file."""

    def __init__(self, role: str, env: dict[str, str], workdir: Path) -> None:
        spec = role
        role, _, partition = role.partition("%")  # alerts%k/N: an alert engine owning hash slot k of N
        self.role, _, count = role.partition("*")
        self.processes = int(count or 1)  # several: `--processes N`, HTTP ports port .. port + N - 1
        self.port = _free_ports(self.processes)
        self.env = env | {"COMMUNITY_HTTP_PORT": str(self.port)}
        if partition:
            self.env |= {"COMMUNITY_ALERT_PARTITION": partition,
                         "COMMUNITY_MQTT_CLIENT_ID": f"{env['COMMUNITY_MQTT_CLIENT_ID']}-p{partition.split('/')[0]}"}
        self.name = spec.replace("%", "-").replace("/", "of").replace("*", "x")
        self.workdir = workdir
        self.log = workdir / f"service-{self.name}.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            raise RuntimeError(f"the {self.role} process is already running (pid {self.proc.pid})")
        self.workdir.mkdir(parents=True, exist_ok=True)
        command = [str(Path(sys.executable).with_name("community")), "run", "--role", self.role]
        if self.processes > 1:
            command += ["--processes", str(self.processes)]
        with self.log.open("ab") as log:  # cwd = workdir: no stray .env is read
            self.proc = subprocess.Popen(command, env=self.env, cwd=self.workdir, stdout=log, stderr=log)

    def stats(self) -> dict:
        """The process's counters; of a group, summed (``mqtt_connected_at``: the first connection's)."""
        each = [self._stats(self.port + n) for n in range(self.processes)]
        if len(each) == 1:
            return each[0]
        total = {k: sum(s[k] for s in each) for k, v in each[0].items() if type(v) in (int, float)}
        total["subscribed"] = all(s["subscribed"] for s in each)
        total["mqtt_connected_at"] = min(s["mqtt_connected_at"] for s in each)
        total["last_write_lag_ms"] = max(s["last_write_lag_ms"] for s in each)
        return total

    @staticmethod
    def _stats(port: int) -> dict:
        response = httpx.get(f"http://127.0.0.1:{port}/stats", timeout=5, headers={"Authorization": f"Bearer {TOKEN}"})
        response.raise_for_status()
        return response.json()

    def wait_ready(self, timeout: float = 60) -> None:
        """Until the HTTP API answers and MQTT is connected (the subscription is in place)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"{self.role} process exited; see {self.log}:\n{self.log.read_text()[-2000:]}")
            try:
                if self.stats().get("subscribed"):
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"{self.role} process not ready after {timeout} s; see {self.log}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class Service:
    """The service in one layout: ``all`` (one process) or ``split`` (ingest + alerts processes)."""

    def __init__(self, layout: str, env: dict[str, str], workdir: Path) -> None:
        self.layout = layout
        self.processes = [ServiceProcess(role, env, workdir) for role in LAYOUTS[layout]]

    @property
    def judge(self) -> ServiceProcess:
        """The (last) process that runs an alert engine."""
        return self.processes[-1]

    @property
    def judges(self) -> list[ServiceProcess]:
        """Every process that runs an alert engine (several: partitions)."""
        return [p for p in self.processes if p.role in ("all", "alerts")]

    def start(self, *, wait: bool = True) -> None:
        for process in self.processes:
            process.start()
        if wait:
            for process in self.processes:
                process.wait_ready()

    def stop(self) -> None:
        for process in self.processes:
            process.stop()

    def pids(self) -> list[int]:
        return [p.proc.pid for p in self.processes if p.proc is not None]


def _free_ports(count: int) -> int:
    """The first of ``count`` consecutive free ports."""
    while True:
        first = free_port()
        if all(not port_open(first + n) for n in range(1, count)):
            return first


def watch_growth(count: Callable[[], int], target: int, *, timeout: float = 600, poll_s: float = 0.1,
                 stall_s: float = 15) -> tuple[float, int]:
    """Sustained rate of ``count`` growing to ``target``: timed from the first sample above zero (so process
    start-up is not counted, for any contender) to the sample that reached ``target``, or until it stalled.
    Returns (items/s, final count)."""
    deadline = time.monotonic() + timeout
    first: tuple[float, int] | None = None
    last_value, last_change = 0, time.monotonic()
    while time.monotonic() < deadline:
        value, now = count(), time.monotonic()
        if value and first is None:
            first = (now, value)
        if value != last_value:
            last_value, last_change = value, now
        if value >= target or (first and now - last_change > stall_s):
            break
        time.sleep(poll_s)
    if first is None:
        raise TimeoutError("nothing arrived")
    elapsed = last_change - first[0]
    return ((last_value - first[1]) / elapsed if elapsed > 0 else float("nan")), last_value


def register_sites(database_url: str, sites: set[str]) -> None:
    """The fleet's sites in the register (what hash partitions subscribe to), before the service starts."""
    from sqlalchemy.dialects.postgresql import insert

    from community.schema import migrate
    from core.db import make_engine
    from register.models import Site

    engine = make_engine(database_url)
    migrate(engine)
    with engine.begin() as connection:
        connection.execute(insert(Site).values([{"site_id": s, "name": s} for s in sorted(sites)])
                           .on_conflict_do_nothing())
    engine.dispose()


def slowest(published: dict[str, float], seen: dict[str, tuple[int, float]], start: float, n: int = 10) -> str:
    """When in the run the slowest faults were published: tails that bunch at one moment point to a periodic job."""
    lags = sorted(((seen[d][1] - t, t - start) for d, t in published.items() if d in seen), reverse=True)[:n]
    return ", ".join(f"{at:.0f}s: {lag * 1000:.0f}" for lag, at in sorted(lags, key=lambda x: x[1]))
