"""Cost per message as the fleet grows, the alert engine's memory per device, and resident memory over a soak.

Starts its own Mosquitto, InfluxDB and PostgreSQL and runs the service as ``community run`` processes (the
``split`` layout by default: the ingest process's figures and the alerts process's figures are then separate).

- scale: for fleets of 1k, 10k and 100k devices, messages from every device (at least ``--messages``, and at
  least one per device) are published to the running service; printed per process: CPU time per message
  (user + system from /proc, between "ready" and "all stored and judged") and resident memory afterwards.
  The alerts process's memory growth from the smallest to the largest fleet, divided by the devices added, is
  the alert engine's memory per device;
- soak: the 1k-device fleet publishes at ``--rate`` msg/s (with heartbeats) for ``--soak-minutes``; resident
  memory is sampled every 10 s and compared after the warm-up (the first fifth of the soak, at least 1 minute).

Usage: python bench/scale_memory.py [--fleets 1000 10000 100000] [--soak-minutes 10] [--rate 1000] [--smoke]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import tempfile
import time
from pathlib import Path

from harness import LAYOUTS, bench_service, private_stack
from ingest_rate import publish, stored

from devtools.localservices import LocalStack
from simulator.fleet import Fleet
from simulator.publisher import Publisher, run

TICKS = os.sysconf("SC_CLK_TCK")


def fleet_of(devices: int, prefix: str) -> Fleet:
    """A fleet of ``devices`` (rounded to whole buildings of 20: 2 elevators, 6 doors, 12 meters)."""
    buildings = max(1, devices // 20)
    sites = max(1, buildings // 50)
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


def scale(stack: LocalStack, tmp: Path, layout: str, devices: int, messages: int) -> dict[str, float]:
    """Messages from a fleet of ``devices`` through the service; returns each process's resident MiB."""
    name = f"{layout}_{devices}"
    service, influx, _ = bench_service(stack, tmp, layout, name, prefix=f"scale-{name}")
    fleet = fleet_of(devices, f"scale-{name}")
    n = max(messages, len(fleet.devices))
    try:
        service.start()
        base = {p.role: cpu_s(p.proc.pid) for p in service.processes}  # start-up (imports, migration) excluded
        start = time.monotonic()
        publish(stack.ports.mqtt, n, fleet, f"bench-pub-{name}")  # from this process, as fast as it can
        while stored(influx) < n or service.judge.stats()["alert_processed"] < n:
            if time.monotonic() - start > 900:
                raise TimeoutError(f"{name}: drain did not finish")
            time.sleep(0.2)
        elapsed = time.monotonic() - start
        time.sleep(2.5)  # one device-registry flush with every device in it
        parts = []
        memory = {}
        for p in service.processes:
            used = cpu_s(p.proc.pid) - base[p.role]
            memory[p.role] = rss_mib(p.proc.pid)
            parts.append(f"{p.role}: {used / n * 1e6:5.1f} us CPU/msg, {memory[p.role]:6.1f} MiB resident")
        print(f"scale [{layout}] {len(fleet.devices):>7,} devices, {n:,} messages stored and judged in "
              f"{elapsed:5.1f} s ({n / elapsed:,.0f} msg/s, publisher-bound); " + "; ".join(parts), flush=True)
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
    samples: dict[str, list[tuple[float, float]]] = {p.role: [] for p in service.processes}
    try:
        service.start()
        child.start()
        start = time.monotonic()
        while child.is_alive():
            time.sleep(step)
            at = time.monotonic() - start
            now = {p.role: rss_mib(p.proc.pid) for p in service.processes}
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
    parser.add_argument("--fleets", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--messages", type=int, default=30_000, help="at least this many per fleet size")
    parser.add_argument("--soak-minutes", type=float, default=10)
    parser.add_argument("--rate", type=float, default=1000, help="soak publishing rate, msg/s")
    parser.add_argument("--layout", choices=sorted(LAYOUTS), default="split")
    parser.add_argument("--skip-soak", action="store_true")
    parser.add_argument("--smoke", action="store_true", help="tiny run for CI")
    args = parser.parse_args()
    if args.smoke:
        args.fleets, args.messages, args.soak_minutes, args.rate = [100, 400], 1_000, 0.2, 200
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        stack = private_stack(tmp)
        try:
            memory = {devices: scale(stack, tmp, args.layout, devices, args.messages) for devices in args.fleets}
            small, large = min(args.fleets), max(args.fleets)
            if large > small:
                judge = LAYOUTS[args.layout][-1]
                per_device = (memory[large][judge] - memory[small][judge]) * 1024 * 1024 / (large - small)
                print(f"memory: the {judge} process grew {memory[large][judge] - memory[small][judge]:.1f} MiB from "
                      f"{small:,} to {large:,} devices = {per_device / 1024:.2f} KiB per device", flush=True)
            if not args.skip_soak:
                soak(stack, tmp, args.layout, args.soak_minutes, args.rate)
        finally:
            stack.down()


if __name__ == "__main__":
    main()
