"""A power cut: thousands of devices of one site go offline at once, while trapped passengers elsewhere keep
pressing the alarm. How many orders and notifications does the storm make, and how long does a life-safety fault
wait for its order meanwhile (compared with a quiet service)?

Starts its own Mosquitto, InfluxDB and PostgreSQL, runs ``community run`` (one process) on PostgreSQL with a local
webhook receiver as the office endpoint. A second process publishes every meter's last will (``online: false``)
as fast as the broker takes them; this process injects ``passengers_trapped`` on a different elevator every
``--interval`` seconds, before the storm (quiet) and during it, and notes when each order is committed.

Usage: python bench/storm.py [--devices 2100] [--buildings 7] [--faults 200] [--smoke]
"""

from __future__ import annotations

import argparse
import multiprocessing
import tempfile
import time
from pathlib import Path

import psycopg
import yaml
from fault_latency import OrderWatch, Webhook, percentiles
from harness import bench_service, private_stack

from alerts.config import DEFAULT_RULES
from devtools.localservices import LocalStack
from simulator.fleet import Fleet
from simulator.publisher import Publisher

PREFIX = "bench-storm"


def storm_fleet(devices: int, buildings: int) -> Fleet:
    return Fleet(sites=1, buildings=buildings, elevators=0, doors=0, meters=devices // buildings, seed=5,
                 prefix=PREFIX)


def cut_power(port: int, devices: int, buildings: int) -> None:
    """Every meter's last will at once (what the broker sends when their connections drop)."""
    fleet = storm_fleet(devices, buildings)
    publisher = Publisher("127.0.0.1", port, client_id="bench-storm-cut", max_inflight=500)
    publisher.connect()
    now = int(time.time() * 1000)
    for device in fleet.devices:
        publisher.publish(fleet.inject("offline", device.device_id, now_ms=now))
    publisher.flush(60)
    publisher.close()


def trapped(injector: Publisher, fleet: Fleet, devices: list, interval_s: float) -> dict[str, float]:
    published = {}
    for device in devices:
        messages = fleet.inject("passengers_trapped", device.device_id, now_ms=int(time.time() * 1000))
        published[device.device_id] = time.time()
        injector.publish(messages)
        time.sleep(interval_s)
    return published


def counts(database_url: str) -> tuple[int, int, int, int]:
    """(storm orders, devices attached to them, other orders that are not trapped passengers, notifications)."""
    with psycopg.connect(database_url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        storm, attached = conn.execute("SELECT count(*), COALESCE(sum(occurrences), 0) FROM work_orders "
                                       "WHERE kind = 'incident'").fetchone()
        other = conn.execute("SELECT count(*) FROM work_orders WHERE kind <> 'incident' "
                             "AND rule_id <> 'elevator_trapped'").fetchone()[0]
        notes = conn.execute("SELECT count(*) FROM notifications n LEFT JOIN work_orders o "
                             "ON o.id = n.work_order_id WHERE o.rule_id IS NULL "
                             "OR o.rule_id <> 'elevator_trapped'").fetchone()[0]
    return storm, attached, other, notes


def measure(stack: LocalStack, root: Path, devices: int, buildings: int, faults: int, interval_s: float) -> None:
    hook = Webhook()
    rules = yaml.safe_load(DEFAULT_RULES.read_text())
    rules["oncall"]["office_webhooks"] = [hook.url]
    rules_path = root / "rules-storm.yaml"
    rules_path.write_text(yaml.safe_dump(rules))
    service, influx, db = bench_service(stack, root, "all", "storm", prefix=PREFIX, rules_file=rules_path)
    influx.close()
    service.start()
    watch = OrderWatch(db)
    fleet = storm_fleet(devices, buildings)
    lifts = Fleet(sites=2, buildings=1, elevators=faults, doors=0, meters=0, seed=6, prefix=PREFIX)
    lifts.devices = [d for d in lifts.devices if d.site == "site2"]  # elsewhere: not part of the power cut
    injector = Publisher("127.0.0.1", stack.ports.mqtt, client_id="bench-storm-injector", max_inflight=500)
    injector.connect()
    try:
        injector.publish(fleet.heartbeats(int(time.time() * 1000)) + lifts.heartbeats(int(time.time() * 1000)))
        known = len(fleet.devices) + len(lifts.devices)
        deadline = time.time() + 120
        while service.judge.stats()["alert_processed"] < known and time.time() < deadline:
            time.sleep(0.2)
        half = faults // 2
        quiet = trapped(injector, lifts, lifts.devices[:half], interval_s)
        time.sleep(1)
        cutter = multiprocessing.get_context("fork").Process(target=cut_power,
                                                             args=(stack.ports.mqtt, devices, buildings))
        started = time.time()
        cutter.start()
        stormy = trapped(injector, lifts, lifts.devices[half:], interval_s)
        cutter.join()
        deadline = time.time() + 120
        while time.time() < deadline and counts(db)[1] < len(fleet.devices):
            time.sleep(0.2)
        settled = time.time() - started
        time.sleep(2)
        stats = service.judge.stats()
    finally:
        injector.close()
        service.stop()
        watch.close()
        hook.server.shutdown()
    storm, attached, other, notes = counts(db)
    quiet_lat = [watch.seen[d][1] - t for d, t in quiet.items() if d in watch.seen]
    storm_lat = [watch.seen[d][1] - t for d, t in stormy.items() if d in watch.seen]
    print(f"storm: {len(fleet.devices)} devices of 1 site ({buildings} buildings) offline at once")
    print(f"  orders for the storm: {storm} incident(s) holding {attached} devices; other orders {other}; "
          f"notifications {notes} (not counting the trapped passengers'); all attached after {settled:.1f} s")
    print(f"  trapped passengers, quiet service:  publish -> order committed   {percentiles(quiet_lat)}")
    print(f"  trapped passengers, during storm:   publish -> order committed   {percentiles(storm_lat)}")
    print(f"  alert backlog at the end {stats['alert_backlog']}, failures {stats.get('alert_failures', 0)}",
          flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=2100)
    parser.add_argument("--buildings", type=int, default=7)
    parser.add_argument("--faults", type=int, default=200, help="trapped passengers: half quiet, half in the storm")
    parser.add_argument("--interval", type=float, default=0.03, help="seconds between injected faults")
    parser.add_argument("--smoke", action="store_true", help="tiny run for CI")
    args = parser.parse_args()
    devices, buildings, faults = (120, 3, 6) if args.smoke else (args.devices, args.buildings, args.faults)
    with tempfile.TemporaryDirectory() as tmp:
        stack = private_stack(Path(tmp))
        try:
            measure(stack, Path(tmp), devices, buildings, faults, args.interval)
        finally:
            stack.down()


if __name__ == "__main__":
    main()
