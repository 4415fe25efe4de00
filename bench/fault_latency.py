"""Fault-to-work-order latency under background telemetry.

Starts its own Mosquitto, InfluxDB and PostgreSQL, runs the whole service (gateway, ingest, alert engine,
dispatcher) on PostgreSQL, and a local webhook receiver as the office endpoint. A second process publishes
background telemetry at the given rate; this process injects faults (``door_forced_open`` on a different door
each time) and measures, per fault:

- publish -> work order committed in PostgreSQL (timed right after the alert service's transaction returns),
- publish -> notification received by the webhook.

Usage: python bench/fault_latency.py [--rates 1000 5000] [--faults 100] [--smoke]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import yaml

from alerts.config import DEFAULT_RULES
from community.localservices import LocalStack, Ports, free_port
from community.runtime import build
from community.settings import Settings
from simulator.fleet import Fleet
from simulator.publisher import Publisher, run

PREFIX = "bench"


def background(port: int, rate: float, stop_after_s: float) -> None:
    fleet = Fleet(sites=5, buildings=10, elevators=4, doors=6, meters=10, seed=3, prefix=PREFIX)
    publisher = Publisher("127.0.0.1", port, client_id="bench-background", max_inflight=5000)
    publisher.connect()
    run(fleet, publisher, rate=rate, duration_s=stop_after_s, heartbeat_s=3600)
    publisher.close()


class Webhook:
    def __init__(self) -> None:
        self.arrivals: dict[int, float] = {}
        arrivals = self.arrivals

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                arrivals.setdefault(body["work_order"]["id"], time.time())
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args) -> None:  # noqa: ANN002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/office"


def percentiles(values: list[float]) -> str:
    if not values:
        return "no samples"
    ms = sorted(v * 1000 for v in values)
    q = statistics.quantiles(ms, n=100, method="inclusive") if len(ms) > 1 else [ms[0]] * 99
    return f"p50 {q[49]:7.1f} ms   p95 {q[94]:7.1f} ms   p99 {q[98]:7.1f} ms   max {ms[-1]:7.1f} ms  (n={len(ms)})"


def measure(stack: LocalStack, root: Path, rate: float, faults: int, interval_s: float) -> None:
    db = stack.postgres.create_database(f"bench_{int(rate)}")
    hook = Webhook()
    rules = yaml.safe_load(DEFAULT_RULES.read_text())
    rules["oncall"]["office_webhooks"] = [hook.url]
    rules_path = root / f"rules-{int(rate)}.yaml"
    rules_path.write_text(yaml.safe_dump(rules))
    settings = Settings(_env_file=None, mqtt_port=stack.ports.mqtt, influx_url=stack.influxdb.url,
                        influx_db="bench", mqtt_topic_prefix=PREFIX, mqtt_client_id=f"bench-gw-{int(rate)}",
                        data_dir=root / f"data-{int(rate)}", database_url=db, rules_file=rules_path)
    runtime = build(settings)
    committed: dict[str, float] = {}
    orders: dict[str, int] = {}
    handle = runtime.alerts.handle

    def timed_handle(signal):  # noqa: ANN001, ANN202 - measurement wrapper: time right after the commit
        outcome = handle(signal)
        if outcome.action == "created":
            committed[signal.device.device_id] = time.time()
            orders[signal.device.device_id] = outcome.work_order_id
        return outcome

    runtime.alerts.handle = timed_handle  # type: ignore[method-assign]
    runtime.start()
    runtime.listener.wait_connected()
    duration = faults * interval_s + 5
    child = multiprocessing.get_context("fork").Process(target=background, args=(stack.ports.mqtt, rate, duration))
    child.start()
    time.sleep(2)  # background traffic up to speed
    fleet = Fleet(sites=1, buildings=1, elevators=0, doors=faults, meters=0, seed=9, prefix=f"{PREFIX}")
    injector = Publisher("127.0.0.1", stack.ports.mqtt, client_id="bench-injector")
    injector.connect()
    published: dict[str, float] = {}
    for device in fleet.devices[:faults]:
        messages = fleet.inject("door_forced_open", device.device_id, now_ms=int(time.time() * 1000))
        published[device.device_id] = time.time()
        injector.publish(messages)
        time.sleep(interval_s)
    deadline = time.time() + 30
    while time.time() < deadline and len(hook.arrivals) < faults:
        time.sleep(0.05)
    received = runtime.counters.received
    child.join()
    injector.close()
    stats = runtime.stats()
    runtime.stop()
    hook.server.shutdown()
    to_order = [committed[d] - published[d] for d in published if d in committed]
    to_notify = [hook.arrivals[orders[d]] - published[d]
                 for d in published if d in orders and orders[d] in hook.arrivals]
    print(f"background {rate:,.0f} msg/s ({received:,} messages received during the run), {faults} faults:")
    print(f"  publish -> work order committed   {percentiles(to_order)}")
    print(f"  publish -> webhook notification   {percentiles(to_notify)}")
    print(f"  orders {len(to_order)}/{faults}, notifications {len(to_notify)}/{faults}, "
          f"dead letters {stats['dead_lettered']}, spooled {stats['spooled']}, alert backlog {stats['alert_backlog']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", type=float, nargs="+", default=[1000, 5000])
    parser.add_argument("--faults", type=int, default=100)
    parser.add_argument("--interval", type=float, default=0.1, help="seconds between injected faults")
    parser.add_argument("--smoke", action="store_true", help="tiny run for CI")
    args = parser.parse_args()
    rates, faults = ([200], 10) if args.smoke else (args.rates, args.faults)
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp).chmod(0o755)  # PostgreSQL runs as its own user
        stack = LocalStack(Path(tmp) / "servers", Ports(free_port(), free_port(), free_port(), free_port()))
        stack.up()
        try:
            for rate in rates:
                measure(stack, Path(tmp), rate, faults, args.interval)
        finally:
            stack.down()


if __name__ == "__main__":
    main()
