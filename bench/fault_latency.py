"""Fault-to-work-order latency under background telemetry.

Starts its own Mosquitto, InfluxDB and PostgreSQL, runs the service as ``community run`` processes in each layout
(``all``: one process; ``split``: an ingest and an alerts process) on PostgreSQL, and a local webhook receiver as
the office endpoint. A second process publishes background telemetry at the given rate; this process injects
faults (``door_forced_open`` on a different door each time) and measures, per fault:

- publish -> work order committed (first seen in PostgreSQL, polled every 5 ms),
- publish -> notification received by the webhook.

Usage: python bench/fault_latency.py [--rates 1000 5000] [--faults 1000] [--layouts all split] [--smoke]
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
from harness import LAYOUTS, bench_service, private_stack, register_sites, slowest

from alerts.config import DEFAULT_RULES
from devtools.localservices import LocalStack, free_port
from simulator.fleet import Fleet
from simulator.publisher import Publisher, run

PREFIX = "bench"


def background(port: int, prefix: str, rate: float, stop_after_s: float) -> None:
    fleet = Fleet(sites=5, buildings=10, elevators=4, doors=6, meters=10, seed=3, prefix=prefix)
    publisher = Publisher("127.0.0.1", port, client_id=f"bench-background-{prefix}", max_inflight=50)
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


class OrderWatch:
    """Notes when each new work order becomes visible in PostgreSQL, polling every ``poll_s`` (the resolution of
    the commit figure): the service runs in other processes, so the database is where its commit shows."""

    def __init__(self, database_url: str, poll_s: float = 0.005) -> None:
        import psycopg

        self.seen: dict[str, tuple[int, float]] = {}  # device -> (order id, when first visible)
        self._conn = psycopg.connect(database_url.replace("postgresql+psycopg://", "postgresql://"),
                                     autocommit=True)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(poll_s,), daemon=True)
        self._thread.start()

    def _run(self, poll_s: float) -> None:
        last, ids = 0, set()
        while not self._stop.wait(poll_s):
            # Ids are taken at insert and committed in any order when several engines write (partitions): a lower
            # id can become visible after a higher one, so the last 200 ids are looked at again.
            for order_id, device in self._conn.execute(
                    "SELECT id, device_id FROM work_orders WHERE id > %s ORDER BY id", (last - 200,)).fetchall():
                if order_id not in ids:
                    ids.add(order_id)
                    self.seen.setdefault(device, (order_id, time.time()))
                    last = max(last, order_id)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._conn.close()


def measure(stack: LocalStack, root: Path, layout: str, rate: float, faults: int, interval_s: float) -> None:
    name = f"{layout}_{int(rate)}"
    hook = Webhook()
    rules = yaml.safe_load(DEFAULT_RULES.read_text())
    rules["oncall"]["office_webhooks"] = [hook.url]
    rules_path = root / f"rules-{name}.yaml"
    rules_path.write_text(yaml.safe_dump(rules))
    prefix = f"{PREFIX}-{name}"
    service, influx, db = bench_service(stack, root, layout, name, prefix=prefix, rules_file=rules_path)
    influx.close()  # readings are not counted here
    register_sites(db, {f"site{i}" for i in range(1, 6)})  # the fleets' sites (hash partitions judge these)
    service.start()
    first = time.time()  # the slowest faults are reported by when they came after the service was up
    watch = OrderWatch(db)
    duration = faults * interval_s + 5
    child = multiprocessing.get_context("fork").Process(target=background,
                                                        args=(stack.ports.mqtt, prefix, rate, duration))
    try:
        child.start()
        time.sleep(2)  # background traffic up to speed
        before = service.judge.stats()["received"]
        started = time.monotonic()
        fleet = Fleet(sites=1, buildings=1, elevators=0, doors=faults, meters=0, seed=9, prefix=prefix)
        injector = Publisher("127.0.0.1", stack.ports.mqtt, client_id=f"bench-injector-{name}")
        injector.connect()
        published: dict[str, float] = {}
        for device in fleet.devices[:faults]:
            messages = fleet.inject("door_forced_open", device.device_id, now_ms=int(time.time() * 1000))
            published[device.device_id] = time.time()
            injector.publish(messages)
            time.sleep(interval_s)
        reached = (service.judge.stats()["received"] - before) / (time.monotonic() - started)
        deadline = time.time() + 30
        while time.time() < deadline and len(hook.arrivals) < faults:
            time.sleep(0.05)
        child.join()
        injector.close()
        stats = service.judge.stats()
    finally:
        service.stop()
        watch.close()
        hook.server.shutdown()
    to_order = [watch.seen[d][1] - published[d] for d in published if d in watch.seen]
    orders = {d: watch.seen[d][0] for d in published if d in watch.seen}
    to_notify = [hook.arrivals[orders[d]] - published[d] for d in orders if orders[d] in hook.arrivals]
    print(f"[{layout}] background asked {rate:,.0f} msg/s, reached {reached:,.0f} msg/s (received by the alert "
          f"engine while faults were injected), {faults} faults:")
    print(f"  publish -> work order committed   {percentiles(to_order)}")
    print(f"  publish -> webhook notification   {percentiles(to_notify)}")
    print(f"  orders {len(to_order)}/{faults}, notifications {len(to_notify)}/{faults}, "
          f"dead letters {stats['dead_lettered']}, alert backlog {stats['alert_backlog']}")
    print(f"  slowest orders (seconds after the service was up: ms): {slowest(published, watch.seen, first)}",
          flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", type=float, nargs="+", default=[1000, 5000])
    parser.add_argument("--faults", type=int, default=1000)
    parser.add_argument("--interval", type=float, default=0.1, help="seconds between injected faults")
    parser.add_argument("--layouts", nargs="+", choices=sorted(LAYOUTS), default=["all", "split"],
                        help="how the service runs: one process, or ingest and alerts processes")
    parser.add_argument("--smoke", action="store_true", help="tiny run for CI")
    args = parser.parse_args()
    rates, faults = ([200], 10) if args.smoke else (args.rates, args.faults)
    with tempfile.TemporaryDirectory() as tmp:
        stack = private_stack(Path(tmp))
        try:
            for layout in args.layouts:
                for rate in rates:
                    measure(stack, Path(tmp), layout, rate, faults, args.interval)
        finally:
            stack.down()


if __name__ == "__main__":
    main()
