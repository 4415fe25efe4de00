"""Sustained ingest rate: messages/s from Mosquitto fully written to InfluxDB by the service.

Starts its own Mosquitto, InfluxDB and PostgreSQL on free ports in a temporary directory, runs the service as
``community run`` processes in each layout (``all``: one process; ``split``: an ingest and an alerts process) and
measures:

- bare: a paho subscriber that only counts drains N queued messages: the limit for a Python consumer here;
- drain: N messages queued by the broker while the service is stopped (persistent session), then the service is
  started and timed from its first stored point until all N are in InfluxDB; the service's own ceiling;
- live: the service runs while a publisher in a separate process sends N messages as fast as it can;
- peer (``--peer``): Node-RED draining the same N into InfluxDB.

Usage: python bench/ingest_rate.py [--messages 50000] [--layouts all split] [--peer] [--smoke]
"""

from __future__ import annotations

import argparse
import multiprocessing
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import httpx
from harness import LAYOUTS, Service, bench_service, private_stack, watch_growth

from devtools.localservices import LocalStack
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
    publisher = Publisher("127.0.0.1", port, client_id=client_id, max_inflight=50)
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
    import threading

    result: list[tuple[float, int]] = []
    watcher = threading.Thread(target=lambda: result.append(watch_growth(lambda: stored(peer), n, stall_s=10)))
    watcher.start()  # before Node-RED starts: the rate is timed from its first stored point, as ours
    nodered.start()
    try:
        watcher.join()
    finally:
        nodered.stop()  # before reading its log: Node.js writes it out at exit
        peer.close()
        kept = Path("var/bench/node-red-last.log")  # the run's directory is temporary
        kept.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(workdir / "node-red.log", kept)
    if not result:
        raise TimeoutError(f"Node-RED stored nothing; see {kept}")
    rate, have = result[0]
    log = kept.read_text(errors="replace")
    errors = log.count("[error] [influxdb out")
    if "EMFILE" in log:
        print("peer:  Node-RED ran out of file descriptors (EMFILE): one HTTP connection per message", flush=True)
    return rate, have, errors


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
        time.sleep(0.1)
    return time.perf_counter() - start


def measure_layout(stack: LocalStack, tmp: Path, layout: str, n: int, bare: float | None,
                   repeat: int = 1) -> float:
    """Drain (``repeat`` times) and live figures for one layout of the service; returns the median drain rate."""
    prefix = f"{PREFIX}-{layout}"  # own topics and session per layout: nothing queues for the other one
    service, influx, _ = bench_service(stack, tmp, layout, layout, prefix=prefix)
    try:
        fleet = make_fleet(prefix)
        rates = []
        for run in range(1, repeat + 1):
            service.start()  # establishes the persistent session(s), then stops: the broker queues for them
            service.stop()
            done = (run - 1) * n
            pub_rate = publish(stack.ports.mqtt, n, fleet, f"bench-pub-{layout}")
            service.start(wait=False)
            rate, have = watch_growth(lambda: stored(influx) - done, n)  # noqa: B023 - used right here
            rates.append(rate)
            print(f"drain [{layout}] run {run}/{repeat}: {have} of {n} queued messages written to InfluxDB at "
                  f"{rate:,.0f} msg/s (publisher alone reached {pub_rate:,.0f} msg/s)", flush=True)
            if "alerts" in LAYOUTS[layout] or "all" in LAYOUTS[layout]:
                judged = _wait_judged(service, n)
                print(f"        alert engine judged {judged} of {n} (its backlog caught up)", flush=True)
            service.stop()
        rate = statistics.median(rates)
        ratio = f"; ours / bare = {rate / bare:.0%}" if bare else ""
        print(f"drain [{layout}]: median {rate:,.0f} msg/s over {repeat} run(s) "
              f"({' + '.join(LAYOUTS[layout])} process{'es' if layout == 'split' else ''}){ratio}", flush=True)
        n_total = repeat * n

        service.start()
        out: multiprocessing.Queue = multiprocessing.Queue()
        child = multiprocessing.get_context("fork").Process(target=_publish_child,
                                                            args=(stack.ports.mqtt, n, fleet, out))
        start = time.perf_counter()
        child.start()
        wait_stored(influx, n_total + n)
        live_elapsed = time.perf_counter() - start
        child.join()
        print(f"live  [{layout}]: {n} messages published at {out.get():,.0f} msg/s, all in InfluxDB after "
              f"{live_elapsed:.2f} s = {n / live_elapsed:,.0f} msg/s end to end", flush=True)
        stats = service.processes[0].stats()
        total = stored(influx)
        print(f"check [{layout}]: InfluxDB holds {total} points for {n_total + n} published; dead letters "
              f"{stats['dead_lettered']}, spooled {stats['spooled']}, last batch lag {stats['last_write_lag_ms']} ms",
              flush=True)
        if total != n_total + n:
            raise SystemExit(f"LOSS: {n_total + n - total} messages missing")
        return rate
    finally:
        service.stop()
        influx.close()


def _wait_judged(service: Service, n: int, timeout: float = 120) -> int:
    """Until the alert engine processed ``n`` since its start (the drain's messages)."""
    deadline, judged = time.monotonic() + timeout, 0
    while time.monotonic() < deadline:
        try:  # a short drain can end before the process's HTTP API is up
            judged = service.judge.stats()["alert_processed"]
        except httpx.HTTPError:
            judged = 0
        if judged >= n:
            break
        time.sleep(0.1)
    return judged


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--layouts", nargs="+", choices=sorted(LAYOUTS), default=["all", "split", "ingest"],
                        help="how the service runs: one process, ingest and alerts processes, or the ingest "
                             "process alone (what it does with a core of its own)")
    parser.add_argument("--repeat", type=int, default=3, help="drains per contender; the median is compared")
    parser.add_argument("--smoke", action="store_true", help="tiny run for CI: checks the script works")
    parser.add_argument("--peer", action="store_true", help="also measure Node-RED (installed from npm on first use)")
    args = parser.parse_args()
    n = 2_000 if args.smoke else args.messages

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        stack = private_stack(tmp)
        try:
            repeat = 1 if args.smoke else args.repeat
            bares = []
            for run in range(1, repeat + 1):
                bares.append(bare_drain_rate(stack.ports.mqtt, n, make_fleet(BARE)))
                print(f"bare  run {run}/{repeat}: a subscriber that only counts drains {n} queued messages at "
                      f"{bares[-1]:,.0f} msg/s", flush=True)
            bare = statistics.median(bares)
            print(f"bare:  median {bare:,.0f} msg/s (the limit for a Python MQTT consumer on this machine)",
                  flush=True)
            rates = {layout: measure_layout(stack, tmp, layout, n, bare, repeat) for layout in args.layouts}
            if args.peer:
                theirs, kept, errors = nodered_drain_rate(stack, tmp / "node-red", n)
                versus = ", ".join(f"{layout} {rate / theirs:.2f}x" for layout, rate in rates.items())
                print(f"peer:  Node-RED (mqtt in -> influxdb out) stored {kept} of the same {n} at "
                      f"{theirs:,.0f} msg/s ({n - kept} lost, {errors} InfluxDB write errors in its log); "
                      f"ours / theirs: {versus}; ours lost 0")
        finally:
            stack.down()


if __name__ == "__main__":
    main()
