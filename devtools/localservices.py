"""Local Mosquitto, InfluxDB and PostgreSQL for development, the demo and the tests: installed from Debian when missing,
started on the project's own ports with their data under a project-local directory, stopped again.

Idempotent: ``up`` leaves a running server alone; ``down`` on a stopped one does nothing. Tests use the same
class with a temporary directory and free ports.
"""

from __future__ import annotations

import glob
import os
import pwd
import random
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

APT_PACKAGES = {"mosquitto": "mosquitto", "influxd": "influxdb", "postgres": "postgresql"}


class ServiceError(RuntimeError):
    pass


@dataclass(frozen=True)
class Ports:
    mqtt: int = 18830
    influx_http: int = 18086
    influx_rpc: int = 18088
    postgres: int = 15432


def free_port() -> int:
    """A port for a server of ours, below Linux's ephemeral range (32768-60999): a port the kernel handed out for
    binding can, once released, be given to some outgoing connection as its local port, and the server that
    later binds it fails with "address already in use" (seen when the benchmarks restart the service)."""
    for _ in range(200):
        port = random.randrange(20_000, 32_768)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as sock:  # that range is crowded: let the kernel choose
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def ensure_installed(binaries: tuple[str, ...] = ("mosquitto", "influxd", "postgres")) -> None:
    """apt-get install what is missing (as root, or through sudo)."""
    missing = [b for b in binaries if not _which(b)]
    if not missing:
        return
    packages = sorted({APT_PACKAGES[b] for b in missing})
    prefix = [] if os.geteuid() == 0 else ["sudo", "-n"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    print(f"installing Debian packages {packages} ...", flush=True)
    update = subprocess.run([*prefix, "apt-get", "update", "-q"], env=env, capture_output=True, text=True)
    result = subprocess.run([*prefix, "apt-get", "install", "-y", "-q", *packages], env=env,
                            capture_output=True, text=True)
    if result.returncode != 0 or any(not _which(b) for b in missing):
        raise ServiceError(f"could not install {packages}: {update.stderr[-500:]} {result.stderr[-1000:]}")


def _which(binary: str) -> str | None:
    if binary == "postgres":  # Debian keeps server binaries per major version, off PATH
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=lambda p: int(p.split("/")[4]))
        return found[-1] if found else None
    return shutil.which(binary) or shutil.which(binary, path="/usr/sbin:/usr/bin:/sbin:/bin")


class LocalService:
    """One server process with a pid file, a config file and a log under ``root/<name>/``."""

    name = ""
    binary = ""

    def __init__(self, root: Path) -> None:
        self.dir = (root / self.name).resolve()
        self.pidfile = self.dir / "pid"
        self.logfile = self.dir / "server.log"

    def command(self) -> list[str]:
        raise NotImplementedError

    def write_config(self) -> None:
        raise NotImplementedError

    def ready(self) -> bool:
        raise NotImplementedError

    def pid(self) -> int | None:
        try:
            pid = int(self.pidfile.read_text())
            os.kill(pid, 0)
            return pid
        except (FileNotFoundError, ValueError, ProcessLookupError, PermissionError):
            return None

    def running(self) -> bool:
        return self.pid() is not None and self.ready()

    def start(self, timeout: float = 30.0, attempts: int = 3) -> None:
        """Start and wait until ready. A server that exits at once (typically its port still held by a
        predecessor that is shutting down) is tried again after a short pause."""
        if self.running():
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        self.write_config()
        for attempt in range(1, attempts + 1):
            try:
                self._spawn(timeout)
                return
            except ServiceError:
                if attempt == attempts:
                    raise
                time.sleep(0.5 * attempt)

    def popen_user(self) -> str | None:
        """Run the server as this user (PostgreSQL refuses to run as root)."""
        return None

    def _spawn(self, timeout: float) -> None:
        with open(self.logfile, "ab") as log:
            proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT, user=self.popen_user(),
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        self.pidfile.write_text(str(proc.pid))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                self.pidfile.unlink(missing_ok=True)
                raise ServiceError(f"{self.name} exited with {proc.returncode}; see {self.logfile}:\n"
                                   + self._log_tail())
            if self.ready():
                return
            time.sleep(0.1)
        proc.kill()
        raise ServiceError(f"{self.name} not ready after {timeout:.0f} s; see {self.logfile}")

    def stop(self, timeout: float = 15.0, sig: int = signal.SIGTERM) -> None:
        pid = self.pid()
        if pid is None:
            return
        os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not _alive(pid):
                break
            time.sleep(0.05)
        else:
            os.kill(pid, signal.SIGKILL)
        self.pidfile.unlink(missing_ok=True)

    def _log_tail(self) -> str:
        try:
            return self.logfile.read_text(errors="replace")[-2000:]
        except FileNotFoundError:
            return ""


def _alive(pid: int) -> bool:
    try:
        waited, _status = os.waitpid(pid, os.WNOHANG)  # reap if it is our child
        if waited == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


class Mosquitto(LocalService):
    name = "mosquitto"
    binary = "mosquitto"

    def __init__(self, root: Path, port: int) -> None:
        super().__init__(root)
        self.port = port
        self.config = self.dir / "mosquitto.conf"

    def write_config(self) -> None:
        data = self.dir / "data"
        data.mkdir(exist_ok=True)
        self.config.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            "persistence true\n"
            f"persistence_location {data}/\n"
            "autosave_interval 30\n"
            # a persistent session keeps queueing while the service restarts: do not cap it at 1000
            "max_queued_messages 1000000\n"
            "max_inflight_messages 0\n"
            "log_type error\nlog_type warning\nlog_type notice\n"
            f"log_dest file {self.logfile}\n"
            # as root mosquitto would switch to user 'mosquitto', who cannot write a project directory
            + ("user root\n" if os.geteuid() == 0 else "")
        )

    def command(self) -> list[str]:
        return [_which(self.binary) or self.binary, "-c", str(self.config)]

    def ready(self) -> bool:
        return port_open(self.port)


class SecuredMosquitto(Mosquitto):
    """Mosquitto as production runs it (deploy/mosquitto/mosquitto.conf, without TLS): a device listener where the
    client id is the username, and a service listener for the service's own users, both with the password files
    and ACL that ``community credentials`` writes into ``credentials``."""

    name = "mosquitto-secured"

    def __init__(self, root: Path, port: int, service_port: int, credentials: Path) -> None:
        super().__init__(root, port)
        self.service_port, self.credentials = service_port, credentials.resolve()

    def write_config(self) -> None:
        c = self.credentials
        self.config.write_text(
            "per_listener_settings true\n"
            f"listener {self.port} 127.0.0.1\nallow_anonymous false\nuse_username_as_clientid true\n"
            f"password_file {c / 'passwd-devices'}\nacl_file {c / 'acl'}\n"
            f"listener {self.service_port} 127.0.0.1\nallow_anonymous false\n"
            f"password_file {c / 'passwd-service'}\nacl_file {c / 'acl'}\n"
            "log_type error\nlog_type warning\nlog_type notice\n"
            f"log_dest file {self.logfile}\n" + ("user root\n" if os.geteuid() == 0 else ""))

    def reload(self) -> None:
        """SIGHUP: password files and ACL are read again; connections and sessions stay."""
        pid = self.pid()
        if pid is None:
            raise ServiceError("mosquitto-secured is not running")
        os.kill(pid, signal.SIGHUP)


class InfluxDB(LocalService):
    name = "influxdb"
    binary = "influxd"

    def __init__(self, root: Path, http_port: int, rpc_port: int, *, max_values_per_tag: int = 0) -> None:
        super().__init__(root)
        self.http_port = http_port
        self.rpc_port = rpc_port
        self.config = self.dir / "influxdb.conf"
        # 1.x refuses the 100,001st value of a tag by default (the 100,001st meter): no limit here, as
        # docs/operations.md asks of production ("InfluxDB's series limits"); tests set a small one
        self.max_values_per_tag = max_values_per_tag

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def write_config(self) -> None:
        self.config.write_text(
            'reporting-enabled = false\n'
            f'bind-address = "127.0.0.1:{self.rpc_port}"\n'
            f'[meta]\n  dir = "{self.dir}/meta"\n'
            f'[data]\n  dir = "{self.dir}/data"\n  wal-dir = "{self.dir}/wal"\n  query-log-enabled = false\n'
            f'  max-values-per-tag = {self.max_values_per_tag}\n  max-series-per-database = 0\n'
            '[monitor]\n  store-enabled = false\n'
            f'[http]\n  bind-address = "127.0.0.1:{self.http_port}"\n  log-enabled = false\n'
            '[logging]\n  level = "warn"\n'
        )

    def command(self) -> list[str]:
        return [_which(self.binary) or self.binary, "-config", str(self.config)]

    def ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/ping", timeout=0.5).status_code == 204
        except httpx.HTTPError:
            return False


class Postgres(LocalService):
    """A private PostgreSQL cluster (initdb on first start), trust auth on 127.0.0.1 only: for development and
    tests, never production. As root it runs as the ``postgres`` system user, so its directory (and every
    directory above it) must be reachable by that user."""

    name = "postgres"
    binary = "postgres"

    def __init__(self, root: Path, port: int) -> None:
        super().__init__(root)
        self.port = port
        self.data = self.dir / "data"

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def popen_user(self) -> str | None:
        return "postgres" if os.geteuid() == 0 else None

    def write_config(self) -> None:
        if (self.data / "PG_VERSION").exists():
            return
        user = self.popen_user()
        if user:
            account = pwd.getpwnam(user)
            os.chown(self.dir, account.pw_uid, account.pw_gid)
        initdb = str(Path(_which("postgres") or "postgres").with_name("initdb"))
        result = subprocess.run([initdb, "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                                 "--no-sync"], user=user, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise ServiceError(f"initdb failed: {result.stderr[-1000:]}")

    def command(self) -> list[str]:
        return [_which("postgres") or "postgres", "-D", str(self.data), "-p", str(self.port), "-k", str(self.dir),
                "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off",
                "-c", "full_page_writes=off"]

    def ready(self) -> bool:
        import psycopg

        try:
            with psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres",
                                 connect_timeout=1):
                return True
        except psycopg.Error:
            return False

    def stop(self, timeout: float = 15.0, sig: int = signal.SIGINT) -> None:  # SIGINT = fast shutdown
        super().stop(timeout, sig)

    def create_database(self, name: str, template: str | None = None, *, recreate: bool = True) -> str:
        """Create a database (dropping an old one unless ``recreate`` is false); returns its SQLAlchemy URL."""
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres",
                             autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            if exists and recreate:
                conn.execute(f'DROP DATABASE "{name}"')
            if not exists or recreate:
                conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        return self.url.rsplit("/", 1)[0] + f"/{name}"


class LocalStack:
    """The servers the service needs, side by side under one directory."""

    def __init__(self, root: Path, ports: Ports = Ports()) -> None:
        self.root = root
        self.ports = ports
        self.mosquitto = Mosquitto(root, ports.mqtt)
        self.influxdb = InfluxDB(root, ports.influx_http, ports.influx_rpc)
        self.postgres = Postgres(root, ports.postgres)

    @property
    def services(self) -> list[LocalService]:
        return [self.mosquitto, self.influxdb, self.postgres]

    def up(self) -> None:
        ensure_installed(tuple(s.binary for s in self.services))
        for service in self.services:
            service.start()

    def down(self) -> None:
        for service in reversed(self.services):
            service.stop()

    def status(self) -> dict[str, str]:
        return {
            s.name: (f"running (pid {s.pid()})" if s.running() else "stopped") for s in self.services
        }


LOCAL_ENV = Path("var/local.env")
"""Where ``community services up`` records the servers it started: every ``community`` command reads it (after
the environment and before ``.env``), so the CLI, the service and the demo use the same databases."""
PORTS_FILE = "ports.json"


def stack_for(settings, root: Path, **ports: int | None) -> LocalStack:  # noqa: ANN001 - core.settings.Settings
    """Local servers on the ports asked for, else the ones recorded the last time, else those the settings point
    the service at (MQTT, InfluxDB) and the defaults (InfluxDB's RPC port, PostgreSQL)."""
    import json
    from urllib.parse import urlsplit

    chosen = {"mqtt": settings.mqtt.port, "influx_http": urlsplit(settings.influx.url).port or 8086}
    recorded = root / PORTS_FILE
    if recorded.is_file():
        chosen |= json.loads(recorded.read_text())
    chosen |= {name: port for name, port in ports.items() if port}
    return LocalStack(root, Ports(**chosen))


def record(stack: LocalStack, database_url: str, env_file: Path = LOCAL_ENV) -> Path:
    """Write where the servers are: their ports (for the next ``services up``) and the settings every command
    reads (``var/local.env``)."""
    import json
    from dataclasses import asdict

    stack.root.mkdir(parents=True, exist_ok=True)
    (stack.root / PORTS_FILE).write_text(json.dumps(asdict(stack.ports)))
    env_file.parent.mkdir(parents=True, exist_ok=True)
    env_file.write_text(
        "# written by `community services up` (and the demo): where the local servers run. Every `community`\n"
        "# command reads this file; environment variables and .env win over it. Delete it to forget them.\n"
        f"COMMUNITY_MQTT_PORT={stack.ports.mqtt}\nCOMMUNITY_INFLUX_URL={stack.influxdb.url}\n"
        f"COMMUNITY_DATABASE_URL={database_url}\n")
    return env_file
