"""Ingest rate, contender against contender: N QoS 1 messages queued by the broker, then drained into InfluxDB.

Every contender gets the same N messages of the same 1,000-device fleet, queued on the same broker for a
persistent session of its own (own topics, own database), and is timed the same way: **from its MQTT connection
to its last point stored** (the last message counted, for the ones that store nothing). Start-up before the
connection (imports, migrations, Node-RED loading its flows) is not counted, for anyone. The contenders run
interleaved, one drain each per round, and the order rotates every round, so the machine's drift (other load,
InfluxDB compactions) is spread over all of them. Medians over the rounds are compared.

- ``c-sub``: ``mosquitto_sub -c -q 1 -C N`` (C, libmosquitto): a C client (it writes one PUBACK per message, so
  it is not the broker's limit: the codec subscriber below drains faster);
- ``paho``: a paho-mqtt subscriber that only counts: the Python client's yardstick;
- ``codec``: the service's own MQTT transport (gateway/transport.py) counting only;
- ``node-red``: Node-RED 4 the way its users build it for volume: ``mqtt in -> function -> join (1,000 or 0.25 s)
  -> influxdb batch``;
- ``node-red-1by1``: Node-RED with ``influxdb out`` (one HTTP write per message), a second row;
- ``ingest``: one ``community run --role ingest`` process; ``ingest2``: two, in one shared subscription
  (``--processes 2``, the recommended layout on this machine); ``all``: the whole service in one process.

Node-RED acknowledges a message when it arrives; the service only once the reading is stored (or spooled, or
dead-lettered), so its figures include that promise. Each drain checks what InfluxDB holds: lost = N - stored.

Usage: python bench/ingest_rate.py [--messages 100000] [--rounds 3] [--contenders ...] [--smoke]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from harness import Service, bench_service, private_stack

from devtools.localservices import LocalStack
from gateway.listener import MqttConfig
from gateway.transport import CodecTransport
from ingest.influx import InfluxConfig, InfluxV1Client
from simulator.fleet import Fleet
from simulator.publisher import Publisher

CONTENDERS = ["c-sub", "paho", "codec", "node-red", "node-red-1by1", "ingest", "ingest2", "all"]
LABELS = {
    "c-sub": "mosquitto_sub (C, libmosquitto), counting only",
    "paho": "bare paho subscriber: the Python client's yardstick",
    "codec": "bare codec subscriber (our transport, counting only)",
    "node-red": "Node-RED, join -> influxdb batch (as users build it)",
    "node-red-1by1": "Node-RED, influxdb out (one write per message)",
    "ingest": "service: one ingest process",
    "ingest2": "service: two ingest processes, one shared subscription",
    "all": "service: everything in one process",
}
POLL_S = 0.05  # how often InfluxDB is asked how many points it holds


@dataclass
class Drain:
    rate: float  # stored (or counted) per second, connect -> last
    stored: int
    seconds: float


def make_fleet(prefix: str) -> Fleet:
    """1000 devices: 5 sites x 10 buildings x (4 elevators, 6 doors, 10 meters)."""
    return Fleet(sites=5, buildings=10, elevators=4, doors=6, meters=10, seed=1, prefix=prefix)


def publish(port: int, n: int, fleet: Fleet, client_id: str) -> float:
    """Publish n telemetry messages of ``fleet`` as fast as the broker takes them; returns msg/s."""
    publisher = Publisher("127.0.0.1", port, client_id=client_id, max_inflight=100)
    publisher.connect()
    start = time.perf_counter()
    now_ms = int(time.time() * 1000)
    for i in range(n):
        if i % 1000 == 0:
            now_ms = int(time.time() * 1000)
        publisher.publish((fleet.next_telemetry(now_ms),))
    publisher.flush(300)
    publisher.close()
    return n / (time.perf_counter() - start)


def stored(influx: InfluxV1Client, measurements: tuple[str, ...] = ("elevator", "access", "meter")) -> int:
    return sum(influx.count(m) for m in measurements)


def wait_stored(influx: InfluxV1Client, target: int, *, stall_s: float = 15, timeout: float = 600) -> tuple[int, float]:
    """Poll InfluxDB until it holds ``target`` points, or nothing was added for ``stall_s``; returns (count, when
    the last new point was seen, epoch seconds)."""
    deadline = time.monotonic() + timeout
    have, changed = stored(influx), time.time()
    while have < target and time.monotonic() < deadline and time.time() - changed < stall_s:
        time.sleep(POLL_S)
        now = stored(influx)
        if now != have:
            have, changed = now, time.time()
    return have, changed


class Contender:
    """One way of draining the queue; ``prepare`` makes its persistent session, ``drain`` empties it."""

    def __init__(self, name: str, stack: LocalStack, tmp: Path) -> None:
        self.name, self.stack, self.tmp = name, stack, tmp
        self.prefix = f"bench-{name}"
        self.done = 0  # points stored by earlier rounds (the database is kept across rounds)

    def prepare(self) -> None: ...
    def drain(self, n: int) -> Drain: ...
    def close(self) -> None: ...


class CSub(Contender):
    def _command(self, n: int | None) -> list[str]:
        count = ["-C", str(n)] if n else ["-W", "1"]
        return ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(self.stack.ports.mqtt), "-V", "mqttv5", "-q", "1",
                "-c", "-x", "3600", "-i", self.prefix, "-t", f"{self.prefix}/+/+/+/+/+", *count]

    def prepare(self) -> None:
        subprocess.run(self._command(None), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       check=False)  # -W 1: exits ("Timed out") after a second

    def drain(self, n: int) -> Drain:
        start = time.time()
        subprocess.run(self._command(n), stdout=subprocess.DEVNULL, check=True, timeout=600)
        elapsed = time.time() - start
        return Drain(n / elapsed, n, elapsed)


class BarePaho(Contender):
    def _session(self, on_message) -> object:  # noqa: ANN001
        import paho.mqtt.client as mqtt
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        subscribed = threading.Event()
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.prefix, protocol=mqtt.MQTTv5)
        client.on_message = on_message
        client.on_subscribe = lambda *a: subscribed.set()
        client.on_connect = lambda c, *a: c.subscribe(f"{self.prefix}/+/+/+/+/+", qos=1)
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval, props.ReceiveMaximum = 3600, 10_000
        client.connect("127.0.0.1", self.stack.ports.mqtt, clean_start=False, properties=props)
        client.loop_start()
        subscribed.wait(10)
        return client

    def prepare(self) -> None:
        client = self._session(lambda *a: None)
        client.disconnect()
        client.loop_stop()

    def drain(self, n: int) -> Drain:
        count, done = [0], threading.Event()

        def on_message(*args) -> None:  # noqa: ANN002
            count[0] += 1
            if count[0] >= n:
                done.set()

        start = time.time()
        client = self._session(on_message)
        done.wait(600)
        elapsed = time.time() - start
        client.disconnect()
        client.loop_stop()
        return Drain(count[0] / elapsed, count[0], elapsed)


class BareCodec(Contender):
    def _transport(self, on_message) -> CodecTransport:  # noqa: ANN001
        config = MqttConfig(port=self.stack.ports.mqtt, client_id=self.prefix, session_expiry_s=3600)
        return CodecTransport(config, [f"{self.prefix}/+/+/+/+/+"], on_message, lambda up: None)

    def prepare(self) -> None:
        transport = self._transport(lambda *a: None)
        transport.start()
        deadline = time.monotonic() + 10
        while not transport.is_connected() and time.monotonic() < deadline:
            time.sleep(0.01)
        transport.stop()

    def drain(self, n: int) -> Drain:
        count, done = [0], threading.Event()

        def on_message(topic, raw_topic, payload, qos, retain, token, malformed) -> None:  # noqa: ANN001
            count[0] += 1
            transport.ack(token)
            if count[0] >= n:
                done.set()

        transport = self._transport(on_message)
        start = time.time()
        transport.start()
        done.wait(600)
        elapsed = time.time() - start
        transport.stop()
        return Drain(count[0] / elapsed, count[0], elapsed)


class NodeRedContender(Contender):
    def __init__(self, name: str, stack: LocalStack, tmp: Path) -> None:
        from nodered_peer import NodeRed

        super().__init__(name, stack, tmp)
        database = name.replace("-", "_")
        self.influx = InfluxV1Client(InfluxConfig(url=stack.influxdb.url, database=database))
        self.influx.ensure_database()
        mode = "per-message" if name.endswith("1by1") else "batched"
        self.node_red = NodeRed(tmp / name, stack.ports.mqtt, stack.influxdb.url, database, self.prefix, mode)

    def prepare(self) -> None:
        self.node_red.start()
        self.node_red.stop()

    def drain(self, n: int) -> Drain:
        self.node_red.start()  # returns once its editor answers; it may have connected and stored much by then
        try:
            have, last = wait_stored(self.influx, self.done + n, stall_s=10)
        finally:
            self.node_red.stop()
            kept = Path("var/bench") / f"{self.name}-last.log"
            kept.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(self.node_red.dir / "node-red.log", kept)
        connected = self.node_red.connected_at()
        if connected is None:
            raise RuntimeError(f"Node-RED never logged its MQTT connection; see {kept}")
        got = have - self.done
        self.done = have
        return Drain(got / (last - connected), got, last - connected)

    def close(self) -> None:
        self.influx.close()


class ServiceContender(Contender):
    def __init__(self, name: str, stack: LocalStack, tmp: Path) -> None:
        super().__init__(name, stack, tmp)
        self.service: Service
        self.service, self.influx, _ = bench_service(stack, tmp, name, name, prefix=self.prefix)

    def prepare(self) -> None:
        self.service.start()  # its persistent sessions, then stopped: the broker queues for them
        self.service.stop()

    def drain(self, n: int) -> Drain:
        self.service.start(wait=False)
        try:
            have, last = wait_stored(self.influx, self.done + n)
            self.service.processes[0].wait_ready()
            connected = self.service.processes[0].stats()["mqtt_connected_at"]
        finally:
            self.service.stop()
        got = have - self.done
        self.done = have
        return Drain(got / (last - connected), got, last - connected)

    def close(self) -> None:
        self.service.stop()
        self.influx.close()


KINDS = {"c-sub": CSub, "paho": BarePaho, "codec": BareCodec, "node-red": NodeRedContender,
         "node-red-1by1": NodeRedContender, "ingest": ServiceContender, "ingest2": ServiceContender,
         "all": ServiceContender}


def run(stack: LocalStack, tmp: Path, names: list[str], n: int, rounds: int) -> dict[str, list[Drain]]:
    contenders = [KINDS[name](name, stack, tmp) for name in names]
    results: dict[str, list[Drain]] = {name: [] for name in names}
    try:
        for contender in contenders:
            contender.prepare()
        for r in range(rounds):
            order = contenders[r % len(contenders):] + contenders[:r % len(contenders)]
            print(f"round {r + 1}/{rounds}: {' '.join(c.name for c in order)}", flush=True)
            for contender in order:
                pub = publish(stack.ports.mqtt, n, make_fleet(contender.prefix), f"bench-pub-{contender.prefix}")
                drain = contender.drain(n)
                results[contender.name].append(drain)
                lost = f", LOST {n - drain.stored}" if drain.stored < n else ""
                print(f"  {contender.name:14} {drain.rate:>9,.0f} msg/s  ({drain.stored} of {n} in "
                      f"{drain.seconds:.2f} s{lost}; queued at {pub:,.0f} msg/s)", flush=True)
    finally:
        for contender in contenders:
            contender.close()
    return results


def report(results: dict[str, list[Drain]], n: int) -> None:
    medians = {name: statistics.median(d.rate for d in drains) for name, drains in results.items() if drains}
    print(f"\nmedian of {len(next(iter(results.values())))} drains of {n:,} queued QoS 1 messages, connect -> last "
          f"point stored:")
    for name, rate in medians.items():
        drains = results[name]
        lost = sum(n - d.stored for d in drains)
        spread = f"{min(d.rate for d in drains):,.0f}-{max(d.rate for d in drains):,.0f}"
        versus = []
        if "paho" in medians and name != "paho":
            versus.append(f"{rate / medians['paho']:.0%} of paho")
        if "node-red" in medians and name != "node-red":
            versus.append(f"{rate / medians['node-red']:.2f}x Node-RED batched")
        print(f"  {LABELS[name]:56} {rate:>9,.0f} msg/s  ({spread})  lost {lost}  {', '.join(versus)}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--contenders", nargs="+", choices=CONTENDERS, default=CONTENDERS)
    parser.add_argument("--smoke", action="store_true", help="tiny run for CI: every contender but Node-RED once")
    args = parser.parse_args()
    n, rounds, names = args.messages, args.rounds, args.contenders
    if args.smoke:
        n, rounds, names = 2_000, 1, [c for c in names if not c.startswith("node-red")]
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        stack = private_stack(tmp)
        try:
            report(run(stack, tmp, names, n, rounds), n)
        finally:
            stack.down()


if __name__ == "__main__":
    main()
