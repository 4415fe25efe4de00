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
BARE = "bench-bare"  # the bare subscriber's own topics, so the service does not receive them too


def make_fleet(prefix: str = PREFIX) -> Fleet:
    """1000 devices: 5 sites x 10 buildings x (4 elevators, 6 doors, 10 meters)."""
    return Fleet(sites=5, buildings=10, elevators=4, doors=6, meters=10, seed=1, prefix=prefix)


def publish(port: int, n: int, fleet: Fleet, client_id: str) -> float:
    """Publish n telemetry messages as fast as the broker takes them; returns msg/s."""
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


def bare_drain_rate(port: int, n: int, fleet: Fleet) -> float:
    """The limit on this machine: a paho subscriber that only counts, draining n messages the broker queued for
    its persistent session (same QoS, same broker, same payloads as the service gets)."""
    import threading

    import paho.mqtt.client as mqtt
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    done, count, subscribed = threading.Event(), [0], threading.Event()

    def on_message(client, userdata, message) -> None:  # noqa: ANN001
        count[0] += 1
        if count[0] >= n:
            done.set()

    def session() -> mqtt.Client:
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-bare", protocol=mqtt.MQTTv5)
        client.on_message = on_message
        client.on_subscribe = lambda *a: subscribed.set()
        client.on_connect = lambda c, *a: c.subscribe(f"{BARE}/+/+/+/+/+", qos=1)
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval, props.ReceiveMaximum = 3600, 10_000
        client.connect("127.0.0.1", port, clean_start=False, properties=props)
        return client

    first = session()
    first.loop_start()
    subscribed.wait(10)
    first.disconnect()
    first.loop_stop()
    publish(port, n, fleet, "bench-pub-bare")
    count[0] = 0
    second = session()
    start = time.perf_counter()
    second.loop_start()
    done.wait(600)
    elapsed = time.perf_counter() - start
    second.disconnect()
    second.loop_stop()
    return n / elapsed


def nodered_drain_rate(stack: LocalStack, workdir: Path, n: int) -> tuple[float, int, int]:
    """Node-RED drains the same n queued messages (its own topics and database); timed from its first point to
    its last, so its slower start-up is not counted against it. Returns (rate, points stored, write errors)."""
    from nodered_peer import NodeRed

    prefix = "bench-nodered"
    peer = InfluxV1Client(InfluxConfig(url=stack.influxdb.url, database="nodered"))
    peer.ensure_database()
    nodered = NodeRed(workdir, stack.ports.mqtt, stack.influxdb.url, "nodered", prefix)
    nodered.start()  # establishes its persistent session
    nodered.stop()
    publish(stack.ports.mqtt, n, make_fleet(prefix), "bench-pub-nodered")
    marks: dict[str, float] = {}

    def watch() -> None:  # from process launch on: when the first point lands, when the count stops growing
        deadline, last, last_change = time.perf_counter() + 600, 0, time.perf_counter()
        while time.perf_counter() < deadline:
            have = stored(peer)
            now = time.perf_counter()
            if have and "first" not in marks:
                marks["first"] = now
            if have != last:
                last, last_change, marks["last"] = have, now, now
            if have >= n or (have and now - last_change > 10):
                return
            time.sleep(0.01)

    import threading

    watcher = threading.Thread(target=watch)
    watcher.start()
    nodered.start()
    try:
        watcher.join()
        have = stored(peer)
        if not have:
            raise TimeoutError("Node-RED stored nothing")
        errors = (workdir / "node-red.log").read_text(errors="replace").count("[error] [influxdb out")
        return have / (marks["last"] - marks["first"]), have, errors
    finally:
        nodered.stop()
        peer.close()


def _publish_child(port: int, n: int, fleet: Fleet, out: multiprocessing.Queue) -> None:
    out.put(publish(port, n, fleet, "bench-pub-live"))


def stored(influx: InfluxV1Client) -> int:
    return sum(influx.count(m) for m in ("elevator", "access", "meter"))


def wait_stored(influx: InfluxV1Client, target: int, timeout: float = 600) -> float:
    """Poll InfluxDB itself until it holds ``target`` readings: the figure is what is really stored."""
    start = time.perf_counter()
    while (have := stored(influx)) < target:
        if time.perf_counter() - start > timeout:
            raise TimeoutError(f"only {have} of {target} stored")
        time.sleep(0.05)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--smoke", action="store_true", help="tiny run for CI: checks the script works")
    parser.add_argument("--peer", action="store_true", help="also measure Node-RED (installed from npm on first use)")
    args = parser.parse_args()
    n = 2_000 if args.smoke else args.messages

    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp).chmod(0o755)  # PostgreSQL runs as its own user and must reach its directory
        stack = LocalStack(Path(tmp) / "servers", Ports(free_port(), free_port(), free_port(), free_port()))
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
            fleet = make_fleet()
            pub_rate = publish(stack.ports.mqtt, n, fleet, "bench-pub-drain")
            runtime = build(settings)
            start = time.perf_counter()
            runtime.start()
            elapsed = wait_stored(influx, n)
            drain_rate = n / (time.perf_counter() - start)
            print(f"drain: {n} queued messages written to InfluxDB in {elapsed:.2f} s = {drain_rate:,.0f} msg/s "
                  f"(publisher alone reached {pub_rate:,.0f} msg/s)")
            bare = bare_drain_rate(stack.ports.mqtt, n, make_fleet(BARE))
            print(f"bare:  a subscriber that only counts drains the same {n} at {bare:,.0f} msg/s; "
                  f"ours / bare = {drain_rate / bare:.0%}")
            if args.peer:
                theirs, kept, errors = nodered_drain_rate(stack, Path(tmp) / "node-red", n)
                print(f"peer:  Node-RED (mqtt in -> influxdb out) stored {kept} of the same {n} at "
                      f"{theirs:,.0f} msg/s ({n - kept} lost, {errors} InfluxDB write errors in its log); "
                      f"ours / theirs = {drain_rate / theirs:.2f}x, and ours lost 0")

            # live: publisher in another process while the service runs
            out: multiprocessing.Queue = multiprocessing.Queue()
            child = multiprocessing.get_context("fork").Process(target=_publish_child,
                                                                args=(stack.ports.mqtt, n, fleet, out))
            start = time.perf_counter()
            child.start()
            wait_stored(influx, 2 * n)
            live_elapsed = time.perf_counter() - start
            child.join()
            live_pub = out.get()
            print(f"live:  {n} messages published at {live_pub:,.0f} msg/s, all in InfluxDB after "
                  f"{live_elapsed:.2f} s = {n / live_elapsed:,.0f} msg/s end to end")
            stats = runtime.stats()
            total = stored(influx)
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
