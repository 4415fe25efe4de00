"""Sustained ingest rate: messages/s from Mosquitto fully written to InfluxDB by the service.

Starts its own Mosquitto and InfluxDB on free ports in a temporary directory, then measures two things:

- drain: N messages queued by the broker while the service is stopped (persistent session), then the service is
  started and timed until all N are in InfluxDB; this is the service's own ceiling, the publisher is not running;
- live: the service runs while a publisher in a separate process sends N messages as fast as it can.

Usage: python bench/ingest_rate.py [--messages 50000] [--smoke]
"""

from __future__ import annotations

import argparse
import multiprocessing
import tempfile
import time
from pathlib import Path

from community.localservices import LocalStack, Ports, free_port
from community.runtime import build
from community.settings import Settings
from ingest.influx import InfluxConfig, InfluxV1Client
from simulator.fleet import Fleet
from simulator.publisher import Publisher

PREFIX = "bench"


def publish(port: int, n: int, seed: int, client_id: str) -> float:
    """Publish n telemetry messages from a 1000-device fleet as fast as the broker takes them; returns msg/s."""
    fleet = Fleet(sites=5, buildings=10, elevators=4, doors=6, meters=10, seed=seed, prefix=PREFIX)
    publisher = Publisher("127.0.0.1", port, client_id=client_id, max_inflight=2000)
    publisher.connect()
    start = time.perf_counter()
    now_ms = int(time.time() * 1000)
    for i in range(n):
        if i % 1000 == 0:
            now_ms = int(time.time() * 1000)
        publisher.publish((fleet.next_telemetry(now_ms),))
    publisher.flush(300)
    elapsed = time.perf_counter() - start
    publisher.close()
    return n / elapsed


def _publish_child(port: int, n: int, seed: int, out: multiprocessing.Queue) -> None:
    out.put(publish(port, n, seed, f"bench-pub-{seed}"))


def wait_written(runtime, target: int, timeout: float = 600) -> float:
    start = time.perf_counter()
    while runtime.counters.written < target:
        if time.perf_counter() - start > timeout:
            raise TimeoutError(f"only {runtime.counters.written} of {target} written: {runtime.stats()}")
        time.sleep(0.01)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--smoke", action="store_true", help="tiny run for CI: checks the script works")
    args = parser.parse_args()
    n = 2_000 if args.smoke else args.messages

    with tempfile.TemporaryDirectory() as tmp:
        stack = LocalStack(Path(tmp) / "servers", Ports(free_port(), free_port(), free_port()))
        stack.up()
        settings = Settings(_env_file=None, mqtt_port=stack.ports.mqtt, influx_url=stack.influxdb.url,
                            influx_db="bench", mqtt_topic_prefix=PREFIX, mqtt_client_id="bench-gw",
                            data_dir=Path(tmp) / "data")
        influx = InfluxV1Client(InfluxConfig(url=stack.influxdb.url, database="bench"))
        try:
            # drain: establish the session, stop, let the broker queue n, then time the service alone
            runtime = build(settings)
            runtime.start()
            runtime.listener.wait_connected()
            runtime.stop()
            pub_rate = publish(stack.ports.mqtt, n, seed=1, client_id="bench-pub-drain")
            runtime = build(settings)
            start = time.perf_counter()
            runtime.start()
            elapsed = wait_written(runtime, n)
            drain_rate = n / (time.perf_counter() - start)
            print(f"drain: {n} queued messages written to InfluxDB in {elapsed:.2f} s = {drain_rate:,.0f} msg/s "
                  f"(publisher alone reached {pub_rate:,.0f} msg/s)")

            # live: publisher in another process while the service runs
            before = runtime.counters.written
            out: multiprocessing.Queue = multiprocessing.Queue()
            child = multiprocessing.Process(target=_publish_child, args=(stack.ports.mqtt, n, 2, out))
            start = time.perf_counter()
            child.start()
            wait_written(runtime, before + n)
            live_elapsed = time.perf_counter() - start
            child.join()
            live_pub = out.get()
            print(f"live:  {n} messages published at {live_pub:,.0f} msg/s, all in InfluxDB after "
                  f"{live_elapsed:.2f} s = {n / live_elapsed:,.0f} msg/s end to end")
            stats = runtime.stats()
            total = sum(influx.count(m) for m in ("elevator", "access", "meter"))
            print(f"check: InfluxDB holds {total} points for {2 * n} published; dead letters "
                  f"{stats['dead_lettered']}, spooled {stats['spooled']}, "
                  f"last batch lag {stats['last_write_lag_ms']} ms")
            runtime.stop()
            if total != 2 * n:
                raise SystemExit(f"LOSS: {2 * n - total} messages missing")
        finally:
            influx.close()
            stack.down()


if __name__ == "__main__":
    main()
