"""The MQTT side of the gateway (paho-mqtt 2.x, MQTT 5).

- QoS 1 with a persistent session (fixed client id, ``clean_start=False``, a session expiry): while the service
  restarts, the broker keeps queueing for it.
- Manual acknowledgement: a PUBACK goes out only when the writer says the message is durable (see
  ``ingest.writer``). Acks left over from an earlier connection are dropped: the broker redelivers those.
- Reconnect with exponential backoff (paho's own loop), resubscribe on every connect.
- Optional shared subscription ``$share/<group>/...`` so several instances split the stream.
- Lanes: where alerts are judged, events and status messages (faults, liveness) come on a connection of their
  own, the *urgent* lane (``.../event`` and ``.../status``), while the *bulk* lane subscribes to everything and
  leaves those two channels to it. MQTT keeps one connection's messages in order, so on a single connection an
  event waits behind every telemetry message queued before it; on its own lane it does not. The bulk lane still
  sees (and dead-letters) every other topic, so together the lanes handle each message exactly once.
- Nothing a device sends can raise out of ``on_message``: bad messages become dead letters.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from core.metrics import Counters
from core.tls import MqttTls
from gateway.contract import ContractError, DeviceMessage, Limits, decode
from gateway.deadletter import DeadLetter
from gateway.envelope import Envelope
from gateway.topics import URGENT_CHANNELS, subscription

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
        if config.lane == "urgent":
            self.filters = [subscription(config.topic_prefix, config.shared_group, c.value) for c in URGENT_CHANNELS]
        else:
            self.filters = [subscription(config.topic_prefix, config.shared_group)]
        self._leave = tuple(f"/{c.value}".encode() for c in URGENT_CHANNELS) if config.lane == "bulk" else ()
        self._generation = 0
        self._connected = threading.Event()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=config.client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        if config.username:
            self.client.username_pw_set(config.username, config.password)
        config.tls.apply(self.client)
        self.client.reconnect_delay_set(min_delay=1, max_delay=30)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe

    # --- lifecycle ---
    def start(self) -> None:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self.config.session_expiry_s
        props.ReceiveMaximum = self.config.receive_maximum
        self.client.connect_async(
            self.config.host, self.config.port, self.config.keepalive_s, clean_start=False, properties=props
        )
        self.client.loop_start()

    def wait_connected(self, timeout: float = 10.0) -> bool:
        """True once connected and the broker confirmed the subscription."""
        return self._connected.wait(timeout)

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    # --- callbacks (paho's network thread) ---
    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.error("MQTT connect refused: %s", reason_code)
            return
        self._generation += 1
        client.subscribe([(f, 1) for f in self.filters])
        self.counters.add(mqtt_connects=1)
        self.counters.set(mqtt_connected=True)
        log.info("MQTT connected to %s:%s (session present: %s), subscribed to %s",
                 self.config.host, self.config.port, flags.session_present, self.filters)

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:  # noqa: ANN001
        failed = [rc for rc in reason_codes if rc.is_failure]
        if failed:
            log.error("subscription to %s refused: %s", self.filters, failed)
            return
        self._connected.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self._connected.clear()
        self.counters.set(mqtt_connected=False)
        if reason_code != 0:
            log.warning("MQTT disconnected (%s); paho reconnects with backoff", reason_code)

    def _on_message(self, client, userdata, msg: mqtt.MQTTMessage) -> None:
        try:
            self.handle(msg)
        except Exception:  # last line of defence: the listener never dies on input
            log.exception("unexpected error handling a message; it stays unacknowledged")

    def handle(self, msg: mqtt.MQTTMessage) -> None:
        now_ms = int(time.time() * 1000)
        self.counters.received += 1  # single writer (this thread): no lock on the hot path
        raw = msg.payload
        try:
            topic = msg.topic
        except UnicodeDecodeError:
            topic = msg._topic.decode("utf-8", "backslashreplace")
            item: DeviceMessage | DeadLetter = DeadLetter.of(topic, raw, "topic is not valid UTF-8", now_ms,
                                                             retained=bool(msg.retain))
        else:
            if self._leave and msg._topic.endswith(self._leave):  # the urgent lane's (its own subscription)
                if msg.qos:
                    self.client.ack(msg.mid, msg.qos)
                return
            item = self._decode(topic, raw, now_ms, msg.retain)
        ack = self._acker(msg.mid, msg.qos) if msg.qos else None
        self.submit(Envelope(item, ack))

    def _decode(self, topic: str, raw: bytes, now_ms: int, retained: bool) -> DeviceMessage | DeadLetter:
        try:
            message = decode(topic, raw, prefix=self.config.topic_prefix, now_ms=now_ms, limits=self.limits)
        except ContractError as err:
            return DeadLetter.of(topic, raw, str(err), now_ms, retained=bool(retained))
        self.counters.decoded += 1
        for sink in self.sinks:
            try:
                sink(message)
            except Exception:  # a consumer's bug must not stop ingest
                log.exception("sink %r failed on %s", sink, topic)
        return message

    def _acker(self, mid: int, qos: int) -> Callable[[], None]:
        generation = self._generation

        def ack() -> None:
            if generation == self._generation:  # else the broker redelivers it on the new connection
                self.client.ack(mid, qos)

        return ack
