"""Cost per message as the fleet grows, the alert engines' memory per device, fault latency at each size, and
resident memory over a soak.

Starts its own Mosquitto, InfluxDB and PostgreSQL and runs the service as ``community run`` processes: by default
the ``partitioned`` layout, an ingest process and two alert engines owning hash slot 0 and 1 of 2
(``COMMUNITY_ALERT_PARTITION``), the fleet's sites in the register, so each engine subscribes to its own sites.

- scale: for each fleet size (1k, 10k, 100k, 300k devices; sites of 3,000 devices, so 300k is 100 communities),
  a second process publishes a message from every device (at least ``--messages`` in all) while this one injects
  ``--faults`` door-forced-open faults on doors spread over every site (one every 20 ms) and notes when each
  order is committed. Printed per process: CPU time per message (user + system from /proc, from "ready" to "all
  stored and judged") and resident memory afterwards; and publish -> order p50 / p99 / max. The alert engines'
  memory growth from the smallest to the largest fleet, divided by the devices added, is memory per device;
- soak: the 1k-device fleet publishes at ``--rate`` msg/s (with heartbeats) for ``--soak-minutes``; resident
  memory is sampled every 10 s and compared after the warm-up (the first fifth of the soak, at least 1 minute).

Usage: python bench/scale_memory.py [--fleets 1000 10000 100000 300000] [--faults 200] [--soak-minutes 10]
       [--rate 1000] [--layout partitioned] [--smoke]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import tempfile
import time
from pathlib import Path

from fault_latency import OrderWatch, percentiles
from harness import LAYOUTS, bench_service, private_stack, register_sites, slowest
from ingest_rate import publish, stored

from devtools.localservices import LocalStack
from simulator.fleet import Fleet
from simulator.publisher import Publisher, run

TICKS = os.sysconf("SC_CLK_TCK")


SITE_DEVICES = 3_000  # a community: 150 buildings of 20 devices
DEVICE_INTERVAL_S = 300.0  # a realistic mean: elevators every 10-30 s, doors on events + a minute's heartbeat,
#                            meters every 15-60 min (docs/capacity.md)
FAULT_INTERVAL_S = 0.2  # 5 faults a second: far more than 100 communities make, well inside what one engine opens


def fleet_of(devices: int, prefix: str) -> Fleet:
    """A fleet of ``devices`` (rounded to whole buildings of 20: 2 elevators, 6 doors, 12 meters), in sites of
    ``SITE_DEVICES``."""
    buildings = max(1, devices // 20)
    sites = max(1, devices // SITE_DEVICES)
    return Fleet(sites=sites, buildings=-(-buildings // sites), elevators=2, doors=6, meters=12, seed=5,
                 prefix=prefix)


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def long_absence_rules(tmp: Path) -> Path:
    """The shipped rules with every absence window at an hour: the benchmark's devices send once and then at the
    paced rate, so with 5-minute windows the large fleets would fall "silent" mid-run (a real fleet's heartbeats
    every minute are messages like any other: their cost is the cost per message measured here)."""
    import yaml

    from devices import kinds

    rules = []
    for kind in kinds.ALL:
        if kind.rules_file is None:
            continue
        for rule in yaml.safe_load(kind.rules_file.read_text()).get("rules", []):
            if rule.get("type") == "absence":
                rules.append(rule | {"kind": rule.get("kind", kind.name), "after_s": max(rule["after_s"], 3600)})
    path = tmp / "rules-long-absence.yaml"
    path.write_text(yaml.safe_dump({"rules": rules}, allow_unicode=True))
    return path


def _publish_child(port: int, n: int, devices: int, prefix: str) -> None:
    publish(port, n, fleet_of(devices, prefix), f"bench-pub-{prefix}")


def _paced_child(port: int, devices: int, prefix: str, rate: float, seconds: float, after: int) -> None:
    fleet = fleet_of(devices, prefix)
    now_ms = int(time.time() * 1000)
    for _ in range(after):  # the same fleet goes on where the first phase left it (meters count on, not back)
        fleet.next_telemetry(now_ms)
    publisher = Publisher("127.0.0.1", port, client_id=f"bench-paced-{prefix}", max_inflight=100)
    publisher.connect()
    run(fleet, publisher, rate=rate, duration_s=seconds, heartbeat_s=3600)
    publisher.close()


def inject_faults(port: int, fleet: Fleet, faults: int, interval_s: float) -> dict[str, float]:
    """``faults`` door-forced-open faults on doors taken round-robin over the sites; returns publish times."""
    by_site: dict[str, list] = {}
    for device in fleet.devices:
        if device.kind.value == "access":
            by_site.setdefault(device.site, []).append(device)
    doors = [d for group in zip(*by_site.values(), strict=False) for d in group][:faults]
    injector = Publisher("127.0.0.1", port, client_id=f"bench-injector-{fleet.prefix}")
    injector.connect()
    published: dict[str, float] = {}
    for door in doors:
        messages = fleet.inject("door_forced_open", door.device_id, now_ms=int(time.time() * 1000))
        published[door.device_id] = time.time()
        injector.publish(messages)
        time.sleep(interval_s)
    injector.flush(60)
    injector.close()
    return published


def why_missing(database_url: str, devices: list[str]) -> str:
    """What the database knows of faults that made no order: their alert rows and failed signals."""
    import psycopg

    with psycopg.connect(database_url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        alerts = conn.execute("SELECT device_id, firing, occurrences FROM alerts WHERE device_id = ANY(%s)",
                              (devices,)).fetchall()
        failed = conn.execute("SELECT device_id, reason FROM failed_signals WHERE device_id = ANY(%s)",
                              (devices,)).fetchall()
        known = conn.execute("SELECT device_id, site, status FROM devices WHERE device_id = ANY(%s)",
                             (devices,)).fetchall()
    return f"alert rows {alerts[:5]}, failed signals {failed[:3]}, registry {known[:5]}"


def written(service) -> int:  # noqa: ANN001 - harness.Service
    counts = [p.stats() for p in service.processes if p.role in ("ingest", "all")]
    return sum(c["written"] - c["service_points"] for c in counts)


def judged(service) -> int:  # noqa: ANN001 - harness.Service
    return sum(p.stats()["alert_processed"] for p in service.judges)


def scale(stack: LocalStack, tmp: Path, layout: str, devices: int, messages: int, faults: int) -> dict[str, float]:
    """A fleet of ``devices`` through the service: first a message from every device as fast as the publisher goes
    (CPU per message, memory per device), then the fleet at its realistic rate with faults among the messages
    (fault latency); returns each process's resident MiB."""
    name = f"{layout}_{devices}"
    service, influx, database_url = bench_service(stack, tmp, layout, name, prefix=f"scale-{name}",
                                                  rules_file=long_absence_rules(tmp))
    fleet = fleet_of(devices, f"scale-{name}")
    register_sites(database_url, {d.site for d in fleet.devices})
    n = max(messages, len(fleet.devices))
    fork = multiprocessing.get_context("fork")
    try:
        service.start()
        up = time.time()
        base = {p.name: cpu_s(p.proc.pid) for p in service.processes}  # start-up (imports, migration) excluded
        start = time.monotonic()
        child = fork.Process(target=_publish_child, args=(stack.ports.mqtt, n, devices, f"scale-{name}"))
        child.start()
        child.join()
        # the service's own counters while it drains (counting 300,000 series in InfluxDB every 200 ms would load
        # it more than the service does); what InfluxDB holds is checked once at the end
        while written(service) < n or judged(service) < n:
            if time.monotonic() - start > 1200:
                raise TimeoutError(f"{name}: drain did not finish ({written(service)} written, {judged(service)} "
                                   f"judged of {n})")
            time.sleep(0.2)
        elapsed = time.monotonic() - start
        if (have := stored(influx)) < n:
            raise SystemExit(f"LOSS: InfluxDB holds {have} of {n}")
        time.sleep(2.5)  # one device-registry flush with every device in it
        parts = []
        memory = {}
        for p in service.processes:
            used = cpu_s(p.proc.pid) - base[p.name]
            memory[p.name] = rss_mib(p.proc.pid)
            parts.append(f"{p.name}: {used / n * 1e6:5.1f} us CPU/msg, {memory[p.name]:6.1f} MiB resident")
        sites = len({d.site for d in fleet.devices})
        print(f"scale [{layout}] {len(fleet.devices):>7,} devices ({sites} sites), {n:,} messages stored and judged "
              f"in {elapsed:5.1f} s ({n / elapsed:,.0f} msg/s, publisher-bound); " + "; ".join(parts), flush=True)

        rate = max(100.0, len(fleet.devices) / DEVICE_INTERVAL_S)
        seconds = faults * FAULT_INTERVAL_S + 4
        watch = OrderWatch(database_url)
        paced = fork.Process(target=_paced_child, args=(stack.ports.mqtt, devices, f"scale-{name}", rate, seconds,
                                                        n))
        paced.start()
        time.sleep(2.0 + n / 100_000)  # the fleet's traffic under way (after the child caught its fleet up)
        published = inject_faults(stack.ports.mqtt, fleet, faults, FAULT_INTERVAL_S)
        paced.join()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not all(d in watch.seen for d in published):
            time.sleep(0.1)
        watch.close()
        to_order = [watch.seen[d][1] - published[d] for d in published if d in watch.seen]
        missing = sorted(d for d in published if d not in watch.seen)
        if missing:
            failures = sum(p.stats()["alert_failures"] for p in service.judges)
            print(f"MISSING orders for {len(missing)} faults, e.g. {missing[:5]}; alert failures {failures}; "
                  f"{why_missing(database_url, missing)}", flush=True)
        print(f"scale [{layout}] {len(fleet.devices):>7,} devices at {rate:,.0f} msg/s (one message per device every "
              f"{DEVICE_INTERVAL_S:.0f} s): publish -> order {percentiles(to_order)}; orders "
              f"{len(to_order)}/{len(published)}")
        print(f"  slowest orders (seconds after the service was up: ms): {slowest(published, watch.seen, up)}",
              flush=True)
        return memory
    finally:
        service.stop()
        influx.close()


def _steady(port: int, prefix: str, rate: float, seconds: float) -> None:
    fleet = fleet_of(1000, prefix)
    publisher = Publisher("127.0.0.1", port, client_id=f"bench-soak-{prefix}", max_inflight=50)
    publisher.connect()
    run(fleet, publisher, rate=rate, duration_s=seconds, heartbeat_s=30)
    publisher.close()


def soak(stack: LocalStack, tmp: Path, layout: str, minutes: float, rate: float) -> None:
    name = f"soak_{layout}"
    service, influx, _ = bench_service(stack, tmp, layout, name, prefix=f"scale-{name}")
    seconds = minutes * 60
    warmup = max(60.0, seconds / 5) if minutes >= 5 else seconds / 5
    step = 10.0 if minutes >= 5 else 2.0
    child = multiprocessing.get_context("fork").Process(
        target=_steady, args=(stack.ports.mqtt, f"scale-{name}", rate, seconds))
    samples: dict[str, list[tuple[float, float]]] = {p.name: [] for p in service.processes}
    try:
        service.start()
        child.start()
        start = time.monotonic()
        while child.is_alive():
            time.sleep(step)
            at = time.monotonic() - start
            now = {p.name: rss_mib(p.proc.pid) for p in service.processes}
            for role, mib in now.items():
                samples[role].append((at, mib))
            print(f"soak  [{layout}] {at:5.0f} s: " + ", ".join(f"{r} {m:.1f} MiB" for r, m in now.items())
                  + f"; stored {stored(influx):,}", flush=True)
        child.join()
    finally:
        service.stop()
        influx.close()
    for role, points in samples.items():
        after = [m for at, m in points if at >= warmup]
        if not after:
            continue
        growth = (max(after) - after[0]) / after[0]
        print(f"soak  [{layout}] {role}: {after[0]:.1f} MiB at the end of the {warmup:.0f} s warm-up, peak "
              f"{max(after):.1f} MiB, last {after[-1]:.1f} MiB over {minutes:g} min at {rate:,.0f} msg/s: growth "
              f"{growth:+.1%} (limit +10 %)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fleets", type=int, nargs="+", default=[1_000, 10_000, 100_000, 300_000])
    parser.add_argument("--messages", type=int, default=30_000, help="at least this many per fleet size")
    parser.add_argument("--faults", type=int, default=200, help="faults injected at each fleet size")
    parser.add_argument("--soak-minutes", type=float, default=10)
    parser.add_argument("--rate", type=float, default=1000, help="soak publishing rate, msg/s")
    parser.add_argument("--layout", choices=sorted(LAYOUTS), default="partitioned")
    parser.add_argument("--skip-soak", action="store_true")
    parser.add_argument("--smoke", action="store_true", help="tiny run for CI")
    args = parser.parse_args()
    if args.smoke:
        args.fleets, args.messages, args.faults, args.soak_minutes, args.rate = [100, 6000], 1_000, 10, 0.2, 200
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        stack = private_stack(tmp)
        try:
            memory = {devices: scale(stack, tmp, args.layout, devices, args.messages, args.faults)
                      for devices in args.fleets}
            small, large = min(args.fleets), max(args.fleets)
            if large > small:
                judges = [p for p in memory[large] if p.startswith(("all", "alerts"))]
                grew = sum(memory[large][j] - memory[small][j] for j in judges)
                per_device = grew * 1024 * 1024 / (large - small)
                print(f"memory: the alert engines ({', '.join(judges)}) grew {grew:.1f} MiB from {small:,} to "
                      f"{large:,} devices = {per_device / 1024:.2f} KiB per device", flush=True)
            if not args.skip_soak:
                soak(stack, tmp, args.layout, args.soak_minutes, args.rate)
        finally:
            stack.down()


if __name__ == "__main__":
    main()
