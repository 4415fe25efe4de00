"""``community`` command: run the service, simulate devices, manage local servers, run the demo.

The composition root's front door: commands build what they need from one ``Settings``; developer tooling (local
servers, the demo) is imported from ``devtools`` only by the commands that use it."""

from __future__ import annotations

import argparse
import logging
import secrets
import signal
import sys
import threading
from pathlib import Path

import uvicorn

from core.logging import configure as configure_logging
from core.settings import Settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="community", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the gateway, ingest writer, alert engine and HTTP API "
                                     "(settings from COMMUNITY_* env)")
    run.add_argument("--role", choices=["all", "ingest", "alerts"],
                     help="split the service over processes (overrides COMMUNITY_ROLE; see docs/architecture.md)")
    run.add_argument("--processes", type=int, default=1, metavar="N",
                     help="ingest: N processes sharing the stream (MQTT shared subscription), one per core")

    sim = sub.add_parser("simulate", help="publish simulated device traffic to the broker")
    _simulator_args(sim)

    services = sub.add_parser("services", help="local Mosquitto, InfluxDB and PostgreSQL under ./var/services "
                                               "(up records where they run in var/local.env for every command)")
    services.add_argument("action", choices=["up", "down", "status"])
    services.add_argument("--dir", type=Path, default=Path("var/services"))
    services.add_argument("--mqtt-port", type=int, help="default: the recorded one, else COMMUNITY_MQTT_PORT (18830)")
    services.add_argument("--influx-port", type=int, help="InfluxDB HTTP (default: recorded, else 18086)")
    services.add_argument("--influx-rpc-port", type=int, help="InfluxDB backup RPC (default: recorded, else 18088)")
    services.add_argument("--postgres-port", type=int, help="default: recorded, else 15432")

    demo = sub.add_parser("demo", help="services up + service + simulator, printing where to look")
    demo.add_argument("--duration", type=float, default=None, help="seconds (default: until Ctrl-C)")
    demo.add_argument("--rate", type=float, default=50.0)
    demo.add_argument("--seed", type=int, default=1)

    dl = sub.add_parser("dead-letters", help="list the newest dead letters")
    dl.add_argument("--limit", type=int, default=20)

    sub.add_parser("faults", help="list injectable simulator faults per device kind")

    boards = sub.add_parser("dashboards", help="Grafana dashboards as code")
    boards.add_argument("action", choices=["build", "push"])
    boards.add_argument("--url", default="http://127.0.0.1:3000", help="push: Grafana URL")
    boards.add_argument("--token", default=None, help="push: service-account token (or GRAFANA_TOKEN)")

    report = sub.add_parser("report", help="daily KPI report per site (CSV + HTML)")
    report.add_argument("--day", type=_day, default=None, help="YYYY-MM-DD (default: yesterday)")
    report.add_argument("--out", type=Path, default=Path("var/reports"))
    report.add_argument("--lang", choices=["zh_CN", "en"], default=None, help="default: COMMUNITY_LANGUAGE")

    rules = sub.add_parser("rules", help="check a rules file and list its rules")
    rules.add_argument("file", type=Path, nargs="?", default=None)

    users = sub.add_parser("add-user", help="create or update an API user (password from COMMUNITY_NEW_PASSWORD "
                                            "or a prompt)")
    users.add_argument("username")
    users.add_argument("--role", choices=["staff", "technician", "owner"], required=True)
    users.add_argument("--person", help="technician: on-call person id")
    users.add_argument("--sites", nargs="*", default=[], help="technician: sites (default all)")
    users.add_argument("--site")
    users.add_argument("--building")
    users.add_argument("--unit")

    imp = sub.add_parser("import", help="import the register from a .csv (UTF-8 or GBK) or .xlsx file "
                                        "(templates in docs/templates/)")
    imp.add_argument("what", choices=["sites", "households", "owners", "devices"])
    imp.add_argument("file", type=Path)
    imp.add_argument("--dry-run", action="store_true", help="check and count, change nothing")
    imp.add_argument("--apply-good", action="store_true", help="apply the good rows even if some are bad")
    imp.add_argument("--invites", type=Path, default=None,
                     help="owners: where to write new owners' invite codes (default: var/invites/)")

    exp = sub.add_parser("export", help="export the register to .csv or .xlsx (importable as it is)")
    exp.add_argument("what", choices=["sites", "households", "owners", "devices"])
    exp.add_argument("file", type=Path)
    exp.add_argument("--lang", choices=["en", "zh"], default="en", help="header language")

    creds = sub.add_parser("credentials", help="issue MQTT credentials for the register's devices and write "
                                               "Mosquitto's password files and ACL")
    creds.add_argument("--out", type=Path, default=Path("var/mosquitto"), help="where passwd-* and acl go")
    creds.add_argument("--service-user", action="append", default=[], metavar="NAME",
                       help="a broker user per service process (default: community-service)")
    creds.add_argument("--bridge-user", action="append", default=[], metavar="NAME",
                       help="a user that publishes for many devices (a vendor's cloud, the simulator)")
    creds.add_argument("--reload-pid", type=int, default=None, help="SIGHUP this Mosquitto afterwards")

    args = parser.parse_args(argv)
    configure_logging(args.verbose)
    handler = {
        "run": cmd_run, "simulate": cmd_simulate, "services": cmd_services, "demo": cmd_demo,
        "dead-letters": cmd_dead_letters, "faults": cmd_faults, "rules": cmd_rules, "add-user": cmd_add_user,
        "dashboards": cmd_dashboards, "report": cmd_report, "import": cmd_import, "export": cmd_export,
        "credentials": cmd_credentials,
    }[args.command]
    return handler(args) or 0


def _simulator_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sites", type=int, default=1)
    parser.add_argument("--buildings", type=int, default=2)
    parser.add_argument("--elevators", type=int, default=2, help="per building")
    parser.add_argument("--doors", type=int, default=2, help="per building")
    parser.add_argument("--meters", type=int, default=4, help="per building")
    parser.add_argument("--kind", dest="kinds", action="append", default=[], type=_kind_count, metavar="KIND=N",
                        help="N devices of another kind per building, e.g. fire_pump=1 (kinds: devices/kinds/)")
    parser.add_argument("--rate", type=float, default=50.0, help="telemetry messages per second")
    parser.add_argument("--duration", type=float, default=None, help="seconds (default: until Ctrl-C)")
    parser.add_argument("--count", type=int, default=None, help="stop after this many telemetry messages")
    parser.add_argument("--heartbeat", type=float, default=30.0, help="seconds between heartbeats")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--fault", action="append", default=[], metavar="NAME[@DEVICE][+AT_S][~CLEAR_S]",
        help="inject a fault, e.g. passengers_trapped@s1b1-el1+10~60 (see `community faults`)",
    )


def _kind_count(text: str) -> tuple[str, int]:
    from devices.kinds import UnknownKind, kind

    name, _, count = text.partition("=")
    try:
        kind(name)
    except UnknownKind as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    if not (count or "1").isdigit():
        raise argparse.ArgumentTypeError(f"bad count in {text!r}: expected KIND=N")
    return name, int(count or 1)


def _settings(**overrides: object) -> Settings:
    """Settings from the environment (``overrides``: command-line options, which win); a bad or unsafe
    configuration ends the command with its reasons."""
    import os

    from pydantic import ValidationError

    from core.settings import unknown_environment

    unknown = unknown_environment(dict(os.environ))
    if unknown:
        raise SystemExit(f"configuration error: unknown settings {unknown} (see docs/operations.md for the names)")
    try:
        return Settings(**overrides)
    except ValidationError as err:
        reasons = "\n".join(f"  {'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in err.errors())
        raise SystemExit(f"configuration error:\n{reasons}") from None


def _serve(app, settings: Settings) -> uvicorn.Server:
    server = uvicorn.Server(uvicorn.Config(app, host=settings.http.host, port=settings.http.port,
                                           log_level="warning"))
    return server


def start_service(settings: Settings):  # noqa: ANN201 - (Runtime, uvicorn.Server, operator token)
    """Build and start the service and its HTTP server (not yet serving)."""
    from community.runtime import build, tune_gc, tune_switching

    token = settings.operator_token or secrets.token_urlsafe(24)
    if not settings.operator_token:
        logging.getLogger("community").warning("no COMMUNITY_OPERATOR_TOKEN set; this run's token: %s", token)
    runtime = build(settings)
    tune_gc()
    tune_switching(settings)
    runtime.start()
    return runtime, _serve(app_for(runtime, token), settings), token


def app_for(runtime, token: str, limits=None):  # noqa: ANN001, ANN201 - Runtime -> FastAPI
    from community.api import create_app
    from community.health import Probes

    http = runtime.settings.http
    probes = Probes(runtime.stats, runtime.influx.ping, runtime.sessions, max_spool_points=http.ready_max_spool_points,
                    max_alert_backlog=http.ready_max_alert_backlog)
    return create_app(stats=runtime.stats, influx_ping=runtime.influx.ping, dead_letters=runtime.dead_letters,
                      probes=probes,
                      operator_token=token, sessions=runtime.sessions, desk=runtime.orders,
                      config=runtime.alert_config, clock=runtime.clock, limits=limits,
                      secure_cookies=runtime.settings.secure_cookies,
                      attachments_dir=runtime.settings.data_dir / "attachments")


def cmd_run(args: argparse.Namespace) -> int:
    from alerts.config import ConfigError

    settings = _settings(**({"role": args.role} if args.role else {}))  # validated with the role it runs as
    if args.processes > 1:
        if settings.role != "ingest":
            print("error: --processes is for --role ingest (alert engines are split by site instead, one "
                  "process each: COMMUNITY_ALERT_SITES or COMMUNITY_ALERT_PARTITION, docs/operations.md)",
                  file=sys.stderr)
            return 2
        return run_ingest_group(settings, args.processes)
    try:
        runtime, server, _token = start_service(settings)
    except ConfigError as err:  # a bad rules file: say what is wrong, no traceback
        print(f"error: the alert configuration is not valid, the service did not start\n{err}", file=sys.stderr)
        return 2
    # uvicorn answers SIGTERM by stopping to serve, then hands the signal on to the handler it found: Python's
    # default would end the process right there, before the runtime's stop (registry flush, offload child, MQTT
    # sessions closed cleanly). A handler that exits the interpreter lets the ``finally`` run.
    signal.signal(signal.SIGTERM, lambda _signum, _frame: sys.exit(0))
    try:
        server.run()
    finally:
        runtime.stop()
    return 0


def run_ingest_group(settings: Settings, processes: int) -> int:
    """N ``community run --role ingest`` processes in one MQTT shared subscription (``$share/<group>/...``): the
    broker splits the stream between them, each acknowledges what it stored. Each has its own client id
    (``<id>-<n>``), HTTP port (``<port>+n``) and spool (``<data dir>/ingest-<n>``). Stops them all on Ctrl-C or
    SIGTERM; if one ends on its own, the others are stopped too and the exit code says so (let the orchestrator
    restart the group)."""
    import os
    import subprocess
    import time

    from community.schema import migrate
    from core.db import make_engine

    if settings.database_url:  # a database they share: migrated once here, not by N processes at once
        engine = make_engine(settings.database_url)
        migrate(engine)
        engine.dispose()
    group = settings.mqtt.shared_group or f"{settings.mqtt.client_id}-ingest"
    children = []
    for n in range(processes):
        env = {**os.environ, "COMMUNITY_ROLE": "ingest", "COMMUNITY_MQTT_SHARED_GROUP": group,
               "COMMUNITY_MQTT_CLIENT_ID": f"{settings.mqtt.client_id}-{n + 1}",
               "COMMUNITY_HTTP_PORT": str(settings.http.port + n),
               "COMMUNITY_DATA_DIR": str(settings.data_dir / f"ingest-{n + 1}")}
        children.append(subprocess.Popen([sys.executable, "-m", "community.cli", "run"], env=env))
    print(f"{processes} ingest processes in shared subscription group {group!r} (HTTP ports "
          f"{settings.http.port}-{settings.http.port + processes - 1}): pids {[c.pid for c in children]}", flush=True)
    stop = stop_on_signal()
    while not stop.is_set() and all(c.poll() is None for c in children):
        time.sleep(0.2)
    ended = [c for c in children if c.poll() is not None]
    for child in children:
        if child.poll() is None:
            child.terminate()
    for child in children:
        try:
            child.wait(30)
        except subprocess.TimeoutExpired:
            child.kill()
    return 0 if stop.is_set() and not ended else 1


def parse_fault(spec: str):
    """``name[@device][+at_s][~clear_after_s]``."""
    from simulator.publisher import ScheduledFault

    clear = at = None
    if "~" in spec:
        spec, clear = spec.split("~", 1)
    if "+" in spec:
        spec, at = spec.split("+", 1)
    name, _, device = spec.partition("@")
    try:
        return ScheduledFault(at_s=float(at or 0), fault=name, device_id=device or None,
                              clear_after_s=float(clear) if clear else None)
    except ValueError:
        raise SystemExit(f"bad --fault {spec!r}: expected NAME[@DEVICE][+AT_S][~CLEAR_S]") from None


def cmd_simulate(args: argparse.Namespace) -> int:
    from simulator.fleet import Fleet, UnknownFault
    from simulator.publisher import Publisher, run

    settings = _settings()
    fleet = Fleet(sites=args.sites, buildings=args.buildings, elevators=args.elevators, doors=args.doors,
                  meters=args.meters, seed=args.seed, prefix=settings.mqtt.topic_prefix, per_building=args.kinds)
    faults = [parse_fault(f) for f in args.fault]
    publisher = Publisher(settings.mqtt.host, settings.mqtt.port, username=settings.mqtt.username,
                          password=settings.mqtt.password, tls=settings.mqtt.tls)
    publisher.connect()
    stop = stop_on_signal()
    print(f"simulating {len(fleet.devices)} devices at {args.rate}/s to {settings.mqtt.host}:{settings.mqtt.port}")
    try:
        stats = run(fleet, publisher, rate=args.rate, duration_s=args.duration, count=args.count,
                    heartbeat_s=args.heartbeat, faults=faults, stop=stop,
                    progress=lambda s: print(f"  {s.elapsed_s:6.0f} s  telemetry {s.telemetry}  "
                                             f"heartbeats {s.heartbeats}  events {s.events}", flush=True))
    except UnknownFault as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    finally:
        publisher.close()
    print(f"published {stats.total} messages ({stats.telemetry} telemetry, {stats.heartbeats} heartbeats, "
          f"{stats.events} events) in {stats.elapsed_s:.1f} s")
    return 0


def stop_on_signal() -> threading.Event:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def cmd_services(args: argparse.Namespace) -> int:
    from devtools.localservices import LOCAL_ENV, record, stack_for

    stack = stack_for(_settings(), args.dir, mqtt=args.mqtt_port, influx_http=args.influx_port,
                      influx_rpc=args.influx_rpc_port, postgres=args.postgres_port)
    if args.action == "up":
        stack.up()
        url = stack.postgres.create_database("community", recreate=False)
        print(f"recorded in {record(stack, url)}: every `community` command now uses these servers")
    elif args.action == "down":
        stack.down()
    ports = {"mosquitto": f"mqtt://127.0.0.1:{stack.ports.mqtt}",
             "influxdb": f"{stack.influxdb.url} (v1 API; RPC port {stack.ports.influx_rpc})",
             "postgres": f"127.0.0.1:{stack.ports.postgres} (database community)"}
    for name, state in stack.status().items():
        print(f"{name:10s} {state:22s} {ports.get(name, '')}")
    print(f"data       {stack.root.resolve()}")
    if LOCAL_ENV.is_file():
        print(f"settings   {LOCAL_ENV.resolve()} (read by every `community` command)")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from devtools.demo import run_demo

    return run_demo(_settings(), duration=args.duration, rate=args.rate, seed=args.seed)


def cmd_dead_letters(args: argparse.Namespace) -> int:
    from community.schema import migrate
    from core.db import make_engine, session_factory
    from gateway.deadletter import DeadLetterStore

    settings = _settings()
    engine = make_engine(settings.resolved_database_url)
    migrate(engine)
    store = DeadLetterStore(session_factory(engine))
    print(f"{store.count()} dead letters; newest {args.limit}:")
    for row in store.latest(args.limit):
        preview = row.payload[:80].decode("utf-8", "backslashreplace")
        print(f"{row.received_at:%Y-%m-%d %H:%M:%S} {row.topic}\n    reason: {row.reason}\n    payload "
              f"({row.payload_size} B): {preview}")
    return 0


def cmd_faults(args: argparse.Namespace) -> int:
    from simulator.fleet import fault_catalogue

    for kind, names in fault_catalogue().items():
        print(f"{kind}: {', '.join(names)}")
    return 0


def _day(text: str):  # noqa: ANN202 - date
    from datetime import date

    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-11-23") from None


def cmd_report(args: argparse.Namespace) -> int:
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    from alerts.config import load_config
    from community.schema import migrate
    from core.db import make_engine, session_factory
    from dashboards.kpi_report import build
    from register.service import site_zones
    from reports.document import build as build_site
    from reports.render import write as write_document

    settings = _settings()
    zones = load_config(settings.rules_file).zones(settings.timezone)
    day = args.day or (datetime.now(ZoneInfo(settings.timezone)) - timedelta(days=1)).date()  # yesterday, there
    engine = make_engine(settings.resolved_database_url)
    migrate(engine)
    sessions = session_factory(engine)
    with sessions() as session:
        zones.update(site_zones(session))
    report = build(sessions, day, zones)
    lang = args.lang or settings.language
    csv_path, html_path = report.write(args.out, lang)
    print(report.table.to_string(index=False) if len(report.table) else "no sites with devices or orders")
    print(f"wrote {csv_path} (for spreadsheets) and {html_path}")
    for site in report.table.get("site", []):
        pdf = write_document(build_site(sessions, zones.of(site), site, day), lang, args.out)
        print(f"wrote {pdf} and {pdf.with_suffix('.html')} (the site's report: summary and charts)")
    return 0


def cmd_dashboards(args: argparse.Namespace) -> int:
    import os

    from dashboards.build import push, write_all

    if args.action == "build":
        for path in write_all():
            print(f"wrote {path}")
        return 0
    token = args.token or os.environ.get("GRAFANA_TOKEN")
    if not token:
        print("error: push needs --token or GRAFANA_TOKEN (a Grafana service-account token)", file=sys.stderr)
        return 2
    for uid in push(args.url, token):
        print(f"pushed {uid} to {args.url}")
    return 0


def cmd_rules(args: argparse.Namespace) -> int:
    from alerts.config import DEFAULT_RULES, ConfigError, load_config

    path = args.file or _settings().rules_file
    try:
        config = load_config(path)
    except ConfigError as err:
        print(err, file=sys.stderr)
        return 2
    print(f"{path or DEFAULT_RULES}: {len(config.rules)} rules (with every device kind's own)")
    for rule in config.rules:
        print(f"  {rule.id:32s} {rule.type:9s} {rule.kind.value:8s} {rule.priority.value:12s} {rule.title}")
    return 0


def _sessions():  # noqa: ANN202 - sessionmaker on the configured database, migrated
    from community.schema import migrate
    from core.db import make_engine, session_factory

    engine = make_engine(_settings().resolved_database_url)
    migrate(engine)
    return session_factory(engine)


def cmd_import(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    import pandas as pd

    from register.imports import run_import
    from register.tables import write_table

    if not args.file.is_file():
        print(f"error: no file {args.file}", file=sys.stderr)
        return 2
    now = datetime.now(UTC)
    report = run_import(_sessions(), args.what, args.file.read_bytes(), args.file.name, now=now,
                        dry_run=args.dry_run, apply_good=args.apply_good,
                        progress=lambda phase, done, total: print(f"  {phase} {done}/{total} rows", flush=True))
    for error in report.errors[:200]:
        print(f"  {error}")
    if len(report.errors) > 200:
        print(f"  ... and {len(report.errors) - 200} more")
    print(report.summary() + (" (dry run)" if args.dry_run else ""))
    if report.invites:
        path = args.invites or Path("var/invites") / f"invites-{now:%Y%m%dT%H%M%S}.csv"
        write_table(pd.DataFrame(report.invites), path).chmod(0o600)  # codes in clear
        print(f"{len(report.invites)} new owners: their one-time invite codes are in {path} (print and hand over; "
              "they set a password at POST /auth/activate)")
    return 0 if report.ok or report.applied else 1


def cmd_export(args: argparse.Namespace) -> int:
    from register.imports import export_frame
    from register.tables import TableError, write_table

    with _sessions()() as session:
        frame = export_frame(args.what, session, lang=args.lang)
    try:
        write_table(frame, args.file)
    except TableError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {len(frame)} {args.what} to {args.file}")
    return 0


def cmd_credentials(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from register import credentials

    settings = _settings()
    now = datetime.now(UTC)
    with _sessions().begin() as session:
        issued, refused = credentials.issue(session, now, service_users=tuple(args.service_user) or
                                            credentials.SERVICE_USERS, bridge_users=tuple(args.bridge_user),
                                            prefix=settings.mqtt.topic_prefix, reserved_prefix=settings.mqtt.client_id)
        rendered = credentials.render(session, prefix=settings.mqtt.topic_prefix,
                                      notify_prefixes=(settings.notify.notice_topic_prefix,
                                                       settings.notify.topic_prefix))
        paths = credentials.write_files(rendered, args.out)
        if issued:
            print(f"{len(issued)} new credentials in {credentials.write_issued(issued, args.out, now)} "
                  "(the only copy of the passwords: hand over, then delete)")
    for reason in refused:
        print(f"  refused {reason}")
    print(f"{rendered.devices} devices and {rendered.services} service and bridge users in "
          f"{', '.join(map(str, paths))}")
    if args.reload_pid:
        credentials.reload_broker(args.reload_pid)
        print(f"sent SIGHUP to Mosquitto (pid {args.reload_pid}): it reloads them, keeping every session")
    return 0


def cmd_add_user(args: argparse.Namespace) -> int:
    import getpass
    import os

    from community.schema import migrate
    from core.db import make_engine, session_factory
    from people.models import Role
    from people.service import create_user

    password = os.environ.get("COMMUNITY_NEW_PASSWORD") or getpass.getpass(f"password for {args.username}: ")
    engine = make_engine(_settings().resolved_database_url)
    migrate(engine)
    try:
        with session_factory(engine).begin() as session:
            create_user(session, args.username, password, Role(args.role), person_id=args.person, sites=args.sites,
                        site=args.site, building=args.building, unit=args.unit)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"user {args.username} ({args.role}) saved")
    return 0


if __name__ == "__main__":
    sys.exit(main())
