"""The MQTT side of the gateway: what a received message means (the connection itself is ``gateway.transport``).

- QoS 1 with a persistent session and manual acknowledgement: a PUBACK goes out only when the receiver (the ingest
  writer, or the alert engine in the ``alerts`` role) says the message is durable (see ``ingest.writer``).
- Optional shared subscription ``$share/<group>/...`` so several instances split the stream.
- Lanes: where alerts are judged, events and status messages (faults, liveness) come on a connection of their
  own, the *urgent* lane (``.../event`` and ``.../status``), while the *bulk* lane subscribes to everything and
  leaves those two channels to it. MQTT keeps one connection's messages in order, so on a single connection an
  event waits behind every telemetry message queued before it; on its own lane it does not. The bulk lane still
  sees (and dead-letters) every other topic, so together the lanes handle each message exactly once.
- Sites: an alert engine partition (``alerts`` role with ``COMMUNITY_ALERT_SITES`` or ``COMMUNITY_ALERT_PARTITION``)
  subscribes to its own sites' topics only, on both lanes (``sites``).
- Nothing a device sends can raise out of the message callback: bad messages become dead letters.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from typing import Literal

from core.metrics import Counters
from core.tls import MqttTls
from gateway.contract import ContractError, DeviceMessage, Limits, decode
from gateway.deadletter import DeadLetter
from gateway.envelope import Envelope
from gateway.topics import URGENT_CHANNELS, subscription
from gateway.transport import Token, make_transport

log = logging.getLogger(__name__)

Sink = Callable[[DeviceMessage], None]
Submit = Callable[[Envelope], None]


@dataclass(frozen=True, slots=True)
class MqttConfig:
    host: str = "127.0.0.1"
    port: int = 1883
    client_id: str = "community-gateway"
    username: str | None = None
    password: str | None = None
    topic_prefix: str = "community"
    shared_group: str | None = None
    session_expiry_s: int = 86_400
    receive_maximum: int = 10_000
    keepalive_s: int = 30
    lane: Literal["all", "bulk", "urgent"] = "all"
    tls: MqttTls = MqttTls()
    client: Literal["codec", "paho"] = "codec"
    sites: tuple[str, ...] | None = None  # None: every site; else only these sites' topics


class MqttListener:
    def __init__(
        self,
        config: MqttConfig,
        submit: Submit,
        counters: Counters,
        *,
        limits: Limits = Limits(),
        sinks: list[Sink] | None = None,
    ) -> None:
        self.config = config
        self.submit = submit
        self.counters = counters
        self.limits = limits
        self.sinks = sinks or []
        self.filters = filters_for(config)
        self._leave = tuple(f"/{c.value}" for c in URGENT_CHANNELS) if config.lane == "bulk" else ()
        self._connected = threading.Event()
        self.transport = make_transport(config, self.filters, self.handle, self._on_state)

    # --- lifecycle ---
    def start(self) -> None:
        self.transport.start()

    def wait_connected(self, timeout: float = 10.0) -> bool:
        """True once connected and the broker confirmed the subscription."""
        return self._connected.wait(timeout)

    def is_connected(self) -> bool:
        return self.transport.is_connected()

    def stop(self) -> None:
        self.transport.stop()

    def set_sites(self, sites: tuple[str, ...] | None) -> None:
        """Subscribe to these sites' topics instead (an alert engine partition whose register gained or lost a
        site): the transport subscribes to what is new and unsubscribes what is gone, keeping its session."""
        self.config = replace(self.config, sites=sites)
        self.filters = filters_for(self.config)
        self.transport.update_filters(self.filters)

    def _on_state(self, subscribed: bool) -> None:
        if subscribed:
            self.counters.add(mqtt_connects=1)
            self.counters.set(mqtt_connected=True, mqtt_connected_at=time.time())
            self._connected.set()
        else:
            self._connected.clear()
            self.counters.set(mqtt_connected=False)

    # --- messages (the transport's thread) ---
    def handle(self, topic: str | None, raw_topic: bytes, raw: bytes, qos: int, retain: bool, token: Token,
               malformed: str | None = None) -> None:
        """One PUBLISH from the transport. Never raises: whatever goes wrong leaves the message unacknowledged
        (the broker redelivers it) and is logged."""
        try:
            self._handle(topic, raw_topic, raw, qos, retain, token, malformed)
        except Exception:  # last line of defence: the listener never dies on input
            log.exception("unexpected error handling a message; it stays unacknowledged")

    def _handle(self, topic: str | None, raw_topic: bytes, raw: bytes, qos: int, retain: bool, token: Token,
                malformed: str | None) -> None:
        now_ms = int(time.time() * 1000)
        self.counters.received += 1  # single writer (this thread): no lock on the hot path
        if topic is None:
            item: DeviceMessage | DeadLetter = DeadLetter.of(
                raw_topic.decode("utf-8", "backslashreplace"), raw, "topic is not valid UTF-8", now_ms,
                retained=retain)
        elif malformed is not None:
            item = DeadLetter.of(topic, raw, malformed, now_ms, retained=retain)
        else:
            if self._leave and topic.endswith(self._leave):  # the urgent lane's (its own subscription)
                if qos:
                    self.transport.ack(token)
                return
            item = self._decode(topic, raw, now_ms, retain)
        ack = partial(self.transport.ack, token) if qos else None
        self.submit(Envelope(item, ack))

    def _decode(self, topic: str, raw: bytes, now_ms: int, retained: bool) -> DeviceMessage | DeadLetter:
        try:
            message = decode(topic, raw, prefix=self.config.topic_prefix, now_ms=now_ms, limits=self.limits)
        except ContractError as err:
            return DeadLetter.of(topic, raw, str(err), now_ms, retained=retained)
        self.counters.decoded += 1
        for sink in self.sinks:
            try:
                sink(message)
            except Exception:  # a consumer's bug must not stop ingest
                log.exception("sink %r failed on %s", sink, topic)
        return message


def filters_for(config: MqttConfig) -> list[str]:
    """The subscriptions of one lane: every channel or the urgent ones, of every site or of ``config.sites``."""
    channels = [c.value for c in URGENT_CHANNELS] if config.lane == "urgent" else ["+"]
    sites = config.sites if config.sites is not None else ("+",)
    return [subscription(config.topic_prefix, config.shared_group, channel, site=site)
            for site in sites for channel in channels]
