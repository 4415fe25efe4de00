"""``community demo``: local Mosquitto, InfluxDB and PostgreSQL, the service on them, and a simulated fleet with
faults injected that become work orders. Developer tooling: never imported by the running service."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from community.cli import start_service, stop_on_signal
from core.settings import Settings
from devtools.demo_register import write_and_import
from devtools.localservices import record, stack_for
from intake.service import NewRequest, submit
from people.models import Role
from people.service import create_invite, create_user
from simulator.fleet import Fleet
from simulator.publisher import Publisher, ScheduledFault, run


def run_demo(settings: Settings, *, duration: float | None, rate: float, seed: int) -> int:
    """Local servers, the service on them, and a simulated fleet with faults injected; prints where to look."""
    stack = stack_for(settings, Path("var/services"))
    print("starting local Mosquitto, InfluxDB and PostgreSQL ...", flush=True)
    stack.up()
    if not settings.database_url or settings.database_url.startswith("sqlite"):
        settings = settings.model_copy(update={"database_url": stack.postgres.create_database(
            "community", recreate=False)})
    record(stack, settings.database_url)  # the CLI commands after the demo read the demo's databases
    if settings.rules_file is None:  # the on-call people's messages land in a local inbox that prints them
        settings = settings.model_copy(update={"rules_file": _demo_rules(_demo_inbox())})
    runtime, server, token = start_service(settings)
    fleet = Fleet(seed=seed, prefix=settings.mqtt.topic_prefix)
    invite = _demo_register(runtime, fleet)
    activate = f'{{"username": "{invite[0]}", "code": "{invite[1]}", "password": "choose-a-password"}}'
    _demo_users(runtime)
    _demo_call(runtime)
    threading.Thread(target=server.run, name="http", daemon=True).start()
    publisher = Publisher(settings.mqtt.host, settings.mqtt.port, client_id="community-demo-simulator")
    publisher.connect()
    base = f"http://{settings.http.host}:{settings.http.port}"
    cli = _command()
    print(f"""
demo running: {len(fleet.devices)} simulated devices at {rate} messages/s
  health       {base}/readyz  (503 with the problems when something is away; /livez, /metrics)
  counters     curl -H 'Authorization: Bearer {token}' {base}/stats   (explained: docs/operations.md, "Counters")
  API docs     {base}/docs
  pages        {base}/ui/login  (technician queue, owner notices)
  API as staff curl -H 'Authorization: Bearer {token}' {base}/work-orders
  log in       curl -d username=owner.b1 -d password=demo-owner {base}/auth/token   (demo users: {DEMO_USERS})
  new owner    curl -H 'Content-Type: application/json' -d '{activate}' {base}/auth/activate
                 (an imported owner's first login: their phone, the invite code, a password of their choice)
  register     curl -H 'Authorization: Bearer {token}' '{base}/devices?status=pending'   (heard, not registered)
  dead letters curl -H 'Authorization: Bearer {token}' {base}/dead-letters
  InfluxDB     curl -G {settings.influx.url}/query --data-urlencode db={settings.influx.db} \\
                 --data-urlencode 'q=SELECT count(*) FROM elevator, access, meter'
Ctrl-C stops the demo. The local servers keep running, so after it every command reads the demo's data
(where they run is recorded in var/local.env):
  {cli} dead-letters      {cli} report      {cli} services status
  {cli} services down     (stops the servers and frees their ports)
""", flush=True)
    faults = [ScheduledFault(10, "passengers_trapped", "s1b1-el1", clear_after_s=60),
              ScheduledFault(20, "door_forced_open", "s1b2-door1", clear_after_s=30),
              ScheduledFault(30, "continuous_flow", "s1b1-m1", clear_after_s=60),
              ScheduledFault(40, "denied_burst", "s1b1-door2")]
    stop = stop_on_signal()
    publisher.publish_raw(f"{settings.mqtt.topic_prefix}/site1/b1/elevator/bad/telemetry", b"{not json")
    # a device nobody registered: it shows as pending until staff accept or reject it
    publisher.publish_raw(f"{settings.mqtt.topic_prefix}/site1/b2/elevator/s1b2-el9/status", b'{"online": true}')
    try:
        run(fleet, publisher, rate=rate, duration_s=duration, heartbeat_s=15, faults=faults, stop=stop,
            progress=lambda s: print(_demo_line(runtime.stats()), flush=True))
    finally:
        publisher.close()
        time.sleep(1)
        server.should_exit = True
        runtime.stop()
        print(_demo_line(runtime.stats()))
    return 0


DEMO_USERS = "owner.b1/demo-owner, tech.wang/demo-technician, staff.sun/demo-staff"


def _demo_users(runtime) -> None:  # noqa: ANN001
    """Local demo only: fixed, printed passwords (never used outside `community demo`)."""
    with runtime.sessions.begin() as session:
        create_user(session, "owner.b1", "demo-owner", Role.OWNER, site="site1", building="b1", unit="0101")
        create_user(session, "tech.wang", "demo-technician", Role.TECHNICIAN, person_id="wang.tech")
        create_user(session, "staff.sun", "demo-staff", Role.STAFF, person_id="sun.lead")


def _demo_register(runtime, fleet: Fleet) -> tuple[str, str]:  # noqa: ANN001
    """The community imported from register files (var/demo/register/), as a company onboards one; returns an
    imported owner's phone and a fresh invite code."""
    reports = write_and_import(fleet, runtime.sessions, Path("var/demo/register"), runtime.clock())
    for report in reports.values():
        print(f"imported {report.summary()}")
    phone = "13900000001"
    with runtime.sessions.begin() as session:
        code, _expires = create_invite(session, phone, runtime.clock())
    return phone, code


def _demo_call(runtime) -> None:  # noqa: ANN001
    """A call to the front desk, so the demo has a person's request beside the device faults."""
    call = NewRequest(site="site1", building="b1", unit="0101", category="unit_repair",
                      description="water drips from the bathroom ceiling", reporter="owner.b1 (phone)",
                      reporter_phone="+86 138 0000 0101", channel="phone", source="front_desk")
    order, _ = submit(runtime.orders, runtime.alert_config.intake, runtime.settings.data_dir / "attachments", call,
                      request_key="demo:front-desk-call")
    print(f"front desk recorded request #{order.id} ({order.title}) for unit 0101, assigned to {order.assignee}")


def _demo_inbox() -> str:
    """A local stand-in for the people's phones: every message to an on-call person or the office is printed."""
    import json
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from devtools.localservices import free_port

    class Inbox(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
            print(f"  >> to {self.path.rsplit('/', 1)[-1]}: {body.get('subject')}", flush=True)
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args) -> None:  # noqa: ANN002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Inbox)
    threading.Thread(target=server.serve_forever, name="demo-inbox", daemon=True).start()
    return f"http://127.0.0.1:{server.server_port}"


def _demo_rules(inbox: str) -> Path:
    """The shipped on-call plan with each person's webhook (and the office's) pointing at the demo's inbox."""
    import yaml

    from alerts.config import DEFAULT_RULES

    oncall = yaml.safe_load(DEFAULT_RULES.read_text())["oncall"]
    for person in oncall["people"]:
        person["webhook"] = f"{inbox}/people/{person['id']}"
    oncall["office_webhooks"] = [f"{inbox}/office"]
    path = Path("var/demo/rules.yaml")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("# written by the demo: on-call messages go to its local inbox\n"
                    + yaml.safe_dump({"oncall": oncall}, allow_unicode=True, sort_keys=False))
    return path


def _command() -> str:
    """How to run `community` from here as printed: the venv's command, relative when it is below this directory."""
    import sys

    command = Path(sys.executable).parent / "community"
    try:
        return f"./{command.relative_to(Path.cwd())}"
    except ValueError:
        return str(command)


def _demo_line(stats: dict) -> str:
    keys = ("received", "written", "spooled", "dead_lettered", "alert_signals", "notifications_sent")
    return "  " + "  ".join(f"{k}={stats[k]}" for k in keys)
