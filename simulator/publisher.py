"""Publish a ``Fleet``'s messages to a broker at a steady rate (QoS 1), with heartbeats and scheduled faults."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import paho.mqtt.client as mqtt

from core.tls import MqttTls
from simulator.fleet import Fleet, Message


class Publisher:
    """A paho client that counts broker acknowledgements, so callers can wait until all were taken."""

    def __init__(self, host: str, port: int, *, client_id: str = "community-simulator", qos: int = 1,
                 username: str | None = None, password: str | None = None, max_inflight: int = 100,
                 tls: MqttTls = MqttTls()) -> None:
        self.qos = qos
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        if username:
            self.client.username_pw_set(username, password)
        tls.apply(self.client)
        # Our own window instead of paho's max_inflight: paho rescans every queued message on each PUBACK (slow
        # with thousands queued) and was seen to stall with messages queued and none in flight. With paho's
        # limit off it sends at once, and ``publish_raw`` waits while ``max_inflight`` are unacknowledged.
        self.window = max_inflight
        self.client.max_inflight_messages_set(0)
        self.client.max_queued_messages_set(0)
        self.client.on_publish = self._on_publish
        self._sent = 0
        self._acked = 0
        self._cond = threading.Condition()
        self._host, self._port = host, port

    def connect(self, timeout: float = 10.0) -> None:
        self.client.connect(self._host, self._port, keepalive=30)
        self.client.loop_start()
        deadline = time.monotonic() + timeout
        while not self.client.is_connected():
            if time.monotonic() > deadline:
                raise ConnectionError(f"could not connect to MQTT broker {self._host}:{self._port}")
            time.sleep(0.01)

    def publish(self, messages: list[Message] | tuple[Message, ...]) -> None:
        for topic, payload, retain in messages:
            self.publish_raw(topic, json.dumps(payload, separators=(",", ":")).encode(), retain=retain)

    def publish_raw(self, topic: str, payload: bytes, *, retain: bool = False, qos: int | None = None) -> None:
        qos = self.qos if qos is None else qos
        with self._cond:
            self._cond.wait_for(lambda: self._sent - self._acked < self.window)
            self._sent += 1
            if qos == 0:
                self._acked += 1
        self.client.publish(topic, payload, qos=qos, retain=retain)

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        if self.qos:
            with self._cond:
                self._acked += 1
                self._cond.notify_all()

    @property
    def sent(self) -> int:
        return self._sent

    def flush(self, timeout: float = 60.0) -> bool:
        """Wait until the broker acknowledged everything sent."""
        with self._cond:
            return self._cond.wait_for(lambda: self._acked >= self._sent, timeout)

    def close(self) -> None:
        self.flush(10)
        self.client.disconnect()
        self.client.loop_stop()


@dataclass
class ScheduledFault:
    at_s: float
    fault: str
    device_id: str | None = None
    clear_after_s: float | None = None


@dataclass
class RunStats:
    telemetry: int = 0
    heartbeats: int = 0
    events: int = 0
    elapsed_s: float = 0.0

    @property
    def total(self) -> int:
        return self.telemetry + self.heartbeats + self.events


def run(
    fleet: Fleet,
    publisher: Publisher,
    *,
    rate: float = 50.0,
    duration_s: float | None = None,
    count: int | None = None,
    heartbeat_s: float = 30.0,
    faults: list[ScheduledFault] | None = None,
    progress: Callable[[RunStats], None] | None = None,
    stop: threading.Event | None = None,
) -> RunStats:
    """Publish telemetry at ``rate`` messages/s until ``duration_s`` passed or ``count`` telemetry messages were
    sent (or ``stop`` is set); heartbeats every ``heartbeat_s``; faults injected (and cleared) on schedule."""
    stats = RunStats()
    pending = sorted(faults or [], key=lambda f: f.at_s)
    clears: list[tuple[float, ScheduledFault]] = []
    start = time.monotonic()
    next_heartbeat = start
    next_progress = start + 5
    sent_budget = 0.0
    last = start
    while True:
        now = time.monotonic()
        elapsed = now - start
        if (duration_s is not None and elapsed >= duration_s) or (count is not None and stats.telemetry >= count):
            break
        if stop is not None and stop.is_set():
            break
        now_ms = int(time.time() * 1000)
        if now >= next_heartbeat:
            beats = fleet.heartbeats(now_ms)
            publisher.publish(beats)
            stats.heartbeats += len(beats)
            next_heartbeat = now + heartbeat_s
        while pending and pending[0].at_s <= elapsed:
            f = pending.pop(0)
            stats.events += _send(publisher, fleet.inject(f.fault, f.device_id, now_ms=now_ms))
            if f.clear_after_s is not None:
                clears.append((elapsed + f.clear_after_s, f))
        for due, f in [c for c in clears if c[0] <= elapsed]:
            clears.remove((due, f))
            stats.events += _send(publisher, fleet.clear(f.fault, f.device_id, now_ms=now_ms))
        sent_budget = min(sent_budget + (now - last) * rate, max(rate, 1.0))
        last = now
        while sent_budget >= 1 and (count is None or stats.telemetry < count):
            message = fleet.next_telemetry(now_ms)
            if message is None:
                break
            publisher.publish((message,))
            stats.telemetry += 1
            sent_budget -= 1
        if progress and now >= next_progress:
            stats.elapsed_s = elapsed
            progress(stats)
            next_progress = now + 5
        time.sleep(0.002)
    publisher.flush()
    stats.elapsed_s = time.monotonic() - start
    return stats


def _send(publisher: Publisher, messages: list[Message]) -> int:
    publisher.publish(messages)
    return len(messages)
