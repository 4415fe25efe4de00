"""MQTT transports for the gateway's listener: the connection, the session and the acknowledgements, nothing else.

The listener (``gateway.listener``) decides what a message means; a transport only delivers it and later sends its
acknowledgement when told to. Two transports, chosen by ``COMMUNITY_MQTT_CLIENT`` (docs/performance.md, "Past the
Python client's ceiling"):

- ``codec`` (default): a subscribe-only MQTT 5 client on the ``mqtt5`` package's packet codec (written in Rust).
  This module holds the session logic (connect, subscribe, keepalive, reconnect with backoff) and the codec parses
  and writes the packets. Acknowledgements are batched: a writer that stored 5,000 readings sends their 5,000
  PUBACKs in one socket write. Measured: it drains a queued session 15-20x faster than paho, which is what lets the
  service's own work (decoding, validation, line protocol) use the core.
- ``paho``: paho-mqtt 2.x, the reference client, kept as the fallback.

Both keep the same promises: QoS 1 on a persistent session (fixed client id, ``clean_start=False``, a session
expiry), manual acknowledgement (a PUBACK only when the listener's receiver says so), acknowledgements left over
from an earlier connection dropped (the broker redelivers those), reconnect with exponential backoff from 1 to 30 s,
resubscribe on every connect, TLS with the broker verified.
"""

from __future__ import annotations

import logging
import select
import socket
import ssl
import struct
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from gateway.listener import MqttConfig

log = logging.getLogger(__name__)

Token = tuple[int, int]
"""What ``ack`` takes: (connection generation, packet id)."""

OnMessage = Callable[[str | None, bytes, bytes, int, bool, Token, str | None], None]
"""(topic or None if not UTF-8, raw topic, payload, qos, retain, ack token, malformed reason or None)."""
OnState = Callable[[bool], None]
"""Called with True when connected and subscribed, False when the connection is lost."""


class Transport(Protocol):
    def start(self) -> None: ...
    def stop(self) -> None: ...
    def ack(self, token: Token) -> None: ...
    def is_connected(self) -> bool: ...
    def update_filters(self, filters: list[str]) -> None: ...


def _changes(current: list[str], wanted: list[str]) -> tuple[list[str], list[str]]:
    """(filters to subscribe to, filters to unsubscribe from) to go from ``current`` to ``wanted``."""
    return [f for f in wanted if f not in current], [f for f in current if f not in wanted]


class Refused(ConnectionError):
    """The broker answered CONNECT or SUBSCRIBE with a failure reason code."""


class ProtocolError(ConnectionError):
    """The broker sent something this client cannot make sense of: the connection is dropped and made again."""


def make_transport(config: MqttConfig, filters: list[str], on_message: OnMessage, on_state: OnState) -> Transport:
    if config.client == "paho":
        return PahoTransport(config, filters, on_message, on_state)
    return CodecTransport(config, filters, on_message, on_state)


# ---------------------------------------------------------------------------------------------------------- codec
_PUBACK = struct.Struct(">BBH")  # PUBACK, remaining length 2, packet id: reason code 0 (success) is implied
_PINGREQ = b"\xc0\x00"
_RECV = 262_144


class CodecTransport:
    """One MQTT 5 connection on its own thread. Only that thread touches the socket: ``ack`` (called from any
    thread) queues the token and wakes it through a socket pair."""

    def __init__(self, config: MqttConfig, filters: list[str], on_message: OnMessage, on_state: OnState) -> None:
        import mqtt5  # imported here: a deployment on the paho transport does not need it

        self._mqtt5 = mqtt5
        self.config = config
        self.filters = filters
        self.on_message = on_message
        self.on_state = on_state
        self.generation = 0
        self._acks: deque[Token] = deque()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._woken = False
        self._stop = threading.Event()
        self._connected = False
        self._thread: threading.Thread | None = None
        self._packet_id = 0
        self._wanted = list(filters)  # what update_filters asked for; the thread subscribes the difference
        self._told_connected = False
        self._pending = bytearray()  # bytes that came with the CONNACK, parsed first by _serve

    # --- API ---
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"mqtt-{self.config.client_id}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None
        self._wake_r.close()
        self._wake_w.close()

    def ack(self, token: Token) -> None:
        self._acks.append(token)
        if not self._woken:  # one wake-up per batch of acks, not one per ack
            self._woken = True
            self._wake()

    def is_connected(self) -> bool:
        return self._connected

    def update_filters(self, filters: list[str]) -> None:
        self._wanted = list(filters)
        self._wake()

    def _wake(self) -> None:
        try:
            self._wake_w.send(b"\0")
        except (BlockingIOError, OSError):  # the pipe is full: the thread is being woken anyway
            pass

    # --- the connection's thread ---
    def _run(self) -> None:
        delay = 1.0
        while not self._stop.is_set():
            sock = None
            try:
                sock = self._connect()
                delay = 1.0
                self._serve(sock)
            except Refused as err:
                log.error("MQTT %s: %s", self.config.client_id, err)
            except (OSError, ProtocolError) as err:
                if not self._stop.is_set():
                    log.warning("MQTT %s disconnected (%s); reconnecting in %.0f s", self.config.client_id, err,
                                delay)
            except Exception:  # a bug (ours or a receiver's): the connection is made again, the thread lives
                log.exception("MQTT %s: unexpected error; reconnecting in %.0f s", self.config.client_id, delay)
            finally:
                if self._connected:
                    self._connected = False
                    self.on_state(False)
                if sock is not None:
                    sock.close()
            if self._stop.wait(delay):
                break
            delay = min(delay * 2, 30.0)

    def _connect(self) -> socket.socket:
        c, m = self.config, self._mqtt5
        sock = socket.create_connection((c.host, c.port), timeout=10)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if c.tls.enabled:
                sock = c.tls.context().wrap_socket(sock, server_hostname=c.host)
            sock.sendall(m.ConnectPacket(
                c.client_id, username=c.username, password=c.password.encode() if c.password else None,
                clean_start=False, keep_alive=c.keepalive_s, session_expiry_interval=c.session_expiry_s,
                receive_max=c.receive_maximum).write())
            connack, rest = self._read_one(sock)
            if not isinstance(connack, m.ConnAckPacket):
                raise ProtocolError(f"expected CONNACK, got {type(connack).__name__}")
            if connack.reason_code != m.ConnAckReasonCode.SUCCESS:
                raise Refused(f"connect refused: {connack.reason_code.name}")
            self.generation += 1  # acks of the previous connection are dropped from here on
            self.filters = list(self._wanted)
            self._told_connected = False
            if self.filters:
                sock.sendall(self._subscribe(self.filters))
            else:  # nothing to subscribe to yet (a partition whose sites are not in the register yet)
                self._subscribed()
            log.info("MQTT connected to %s:%s as %s (session present: %s), subscribing to %s", c.host, c.port,
                     c.client_id, connack.session_present, self.filters)
            self._pending = rest
            return sock
        except BaseException:
            sock.close()
            raise

    def _subscribe(self, filters: list[str]) -> bytes:
        m = self._mqtt5
        self._packet_id = self._packet_id % 65_535 + 1
        return m.SubscribePacket(self._packet_id, [
            m.TopicFilter(f, max_qos=m.QoS.AT_LEAST_ONCE, retain_as_published=False) for f in filters]).write()

    def _resubscribe(self, sock: socket.socket) -> None:
        """Subscribe to the filters that are new, unsubscribe those that are gone (the session stays)."""
        wanted = list(self._wanted)
        new, gone = _changes(self.filters, wanted)
        self.filters = wanted
        if new:
            self._send(sock, self._subscribe(new))
        if gone:
            self._packet_id = self._packet_id % 65_535 + 1
            self._send(sock, self._mqtt5.UnsubscribePacket(self._packet_id, gone).write())
        log.info("MQTT %s: subscribed to %d more filters, unsubscribed %d", self.config.client_id, len(new),
                 len(gone))

    def _subscribed(self) -> None:
        if not self._told_connected:
            self._told_connected = self._connected = True
            self.on_state(True)

    def _read_one(self, sock: socket.socket):  # noqa: ANN202 - (packet, bytes after it)
        buf = bytearray()
        while True:
            chunk = sock.recv(_RECV)
            if not chunk:
                raise ConnectionError("broker closed the connection")
            buf += chunk
            try:
                packet, n = self._mqtt5.read(memoryview(bytes(buf)))
            except IndexError:
                continue
            except ValueError as err:
                raise ProtocolError(f"malformed packet: {err}") from None
            return packet, bytearray(buf[n:])

    def _serve(self, sock: socket.socket) -> None:
        keepalive = self.config.keepalive_s or 60
        sock.settimeout(None)
        sock.setblocking(False)
        buf: bytearray = self._pending
        last_sent = last_heard = time.monotonic()
        ping_sent: float | None = None
        if buf:
            del buf[:self._parse(buf)]
        while not self._stop.is_set():
            now = time.monotonic()
            wait = max(0.0, min(last_sent + keepalive / 2, (ping_sent or now) + keepalive) - now)
            readable, _, _ = select.select([sock, self._wake_r], [], [], wait)
            if self._wake_r in readable:
                self._drain_wake()
                if self._wanted != self.filters:
                    self._resubscribe(sock)
            if sock in readable:
                data = self._recv(sock)
                last_heard = time.monotonic()
                ping_sent = None  # any packet from the broker shows it is alive
                buf += data
                used = self._parse(buf)
                if used:
                    del buf[:used]
            if self._flush_acks(sock):
                last_sent = time.monotonic()
            now = time.monotonic()
            if ping_sent is not None and now - ping_sent > keepalive:
                raise ProtocolError(f"no answer from the broker for {now - last_heard:.0f} s")
            if ping_sent is None and now - last_sent >= keepalive / 2:
                self._send(sock, _PINGREQ)
                last_sent = ping_sent = now
        try:  # a normal DISCONNECT: the broker keeps the session (its expiry was set at connect)
            sock.setblocking(True)
            sock.settimeout(2)
            self._flush_acks(sock)
            sock.sendall(self._mqtt5.DisconnectPacket().write())
        except OSError:
            pass

    def _recv(self, sock: socket.socket) -> bytes:
        chunks = []
        while True:  # TLS may hold decrypted bytes the socket no longer shows as readable
            try:
                chunk = sock.recv(_RECV)
            except (BlockingIOError, InterruptedError, ssl.SSLWantReadError):
                break
            if not chunk:
                raise ConnectionError("broker closed the connection")
            chunks.append(chunk)
            if len(chunk) < _RECV and not (hasattr(sock, "pending") and sock.pending()):
                break
        return b"".join(chunks)

    def _send(self, sock: socket.socket, data: bytes) -> None:
        sock.setblocking(True)
        try:
            sock.sendall(data)
        finally:
            sock.setblocking(False)

    def _drain_wake(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except (BlockingIOError, OSError):
            pass

    def _flush_acks(self, sock: socket.socket) -> bool:
        """Send every queued PUBACK of this connection in one write. True if anything was sent."""
        self._woken = False
        if not self._acks:
            return False
        acks, generation, pack = self._acks, self.generation, _PUBACK.pack
        out = []
        while acks:
            gen, packet_id = acks.popleft()
            if gen == generation:  # else the broker redelivers it on this connection
                out.append(pack(0x40, 2, packet_id))
        if out:
            self._send(sock, b"".join(out))
        return bool(out)

    def _parse(self, buf: bytearray) -> int:
        """Handle every whole packet in ``buf``; returns how many bytes they took."""
        m = self._mqtt5
        publish, read, view, used, end = m.PublishPacket, m.read, memoryview(buf), 0, len(buf)
        try:
            while used < end:
                try:
                    packet, n = read(view[used:])
                except IndexError:  # the rest of the packet is still on its way
                    break
                except BaseException as err:  # noqa: BLE001 - ValueError, and pyo3's PanicException (not an
                    if isinstance(err, KeyboardInterrupt | SystemExit):  # Exception), seen on a non-UTF-8 topic
                        raise
                    n = self._malformed(view[used:], err)
                    if n == 0:
                        break
                    used += n
                    continue
                used += n
                if type(packet) is publish:
                    pid = packet.packet_id
                    self.on_message(packet.topic, b"", packet.payload, int(packet.qos), packet.retain,
                                    (self.generation, pid if pid is not None else 0), None)
                else:
                    self._control(packet)
        finally:
            view.release()
        return used

    def _control(self, packet) -> None:  # noqa: ANN001 - any non-PUBLISH packet from the broker
        m = self._mqtt5
        if isinstance(packet, m.SubAckPacket):
            failed = [rc for rc in packet.reason_codes if int(rc) >= 0x80]
            if failed:
                raise Refused(f"subscription to {self.filters} refused: {[rc.name for rc in failed]}")
            self._subscribed()
        elif isinstance(packet, m.DisconnectPacket):
            raise ProtocolError(f"the broker disconnected us: {packet.reason_code.name}")
        elif isinstance(packet, m.PubRelPacket):  # QoS 2 is never asked for: a broker sending it is misbehaving
            raise ProtocolError("unexpected QoS 2 packet from the broker")

    def _malformed(self, view: memoryview, err: BaseException) -> int:
        """A packet the codec refused. A PUBLISH is handed on (so it becomes a dead letter and is acknowledged:
        dropping the connection would only bring it back, forever); anything else ends the connection. Returns
        the packet's length, or 0 if it is not complete yet."""
        header = _fixed_header(view)
        if header is None:
            return 0
        first, start, length = header
        if len(view) < start + length:
            return 0
        if first >> 4 != 3:
            raise ProtocolError(f"malformed packet from the broker: {err}")
        raw_topic, payload, qos, pid = _publish_parts(bytes(view[start:start + length]), first)
        try:
            topic: str | None = raw_topic.decode("utf-8")
        except UnicodeDecodeError:
            topic = None
        self.on_message(topic, raw_topic, payload, qos, bool(first & 1), (self.generation, pid),
                        f"malformed MQTT packet: {str(err)[:200]}")
        return start + length


def _fixed_header(view: memoryview) -> tuple[int, int, int] | None:
    """(first byte, where the variable header starts, remaining length), or None when incomplete."""
    if len(view) < 2:
        return None
    length, shift = 0, 0
    for i in range(1, 5):
        if i >= len(view):
            return None
        byte = view[i]
        length |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return view[0], i + 1, length
        shift += 7
    raise ProtocolError("malformed remaining length")


def _publish_parts(body: bytes, first: int) -> tuple[bytes, bytes, int, int]:
    """Topic, payload, QoS and packet id of a PUBLISH body, without judging anything else in it."""
    qos = (first >> 1) & 3
    topic_len = int.from_bytes(body[:2], "big")
    pos = 2 + topic_len
    raw_topic = body[2:pos]
    pid = 0
    if qos:
        pid = int.from_bytes(body[pos:pos + 2], "big")
        pos += 2
    props, shift = 0, 0
    for _ in range(4):  # properties length (a variable byte integer)
        if pos >= len(body):
            break
        byte = body[pos]
        pos += 1
        props |= (byte & 0x7F) << shift
        if not byte & 0x80:
            break
        shift += 7
    return raw_topic, body[pos + props:], qos, pid


# ----------------------------------------------------------------------------------------------------------- paho
class PahoTransport:
    """paho-mqtt 2.x with MQTT 5 and ``manual_ack``; its own network thread (``loop_start``)."""

    def __init__(self, config: MqttConfig, filters: list[str], on_message: OnMessage, on_state: OnState) -> None:
        import paho.mqtt.client as mqtt

        self.config = config
        self.filters = filters
        self.on_message = on_message
        self.on_state = on_state
        self.generation = 0
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=config.client_id,
                                  protocol=mqtt.MQTTv5, manual_ack=True)
        if config.username:
            self.client.username_pw_set(config.username, config.password)
        config.tls.apply(self.client)
        self.client.reconnect_delay_set(min_delay=1, max_delay=30)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self._told_connected = False  # on_state(True) once per connection, not at every later SUBACK

    def start(self) -> None:
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self.config.session_expiry_s
        props.ReceiveMaximum = self.config.receive_maximum
        self.client.connect_async(self.config.host, self.config.port, self.config.keepalive_s, clean_start=False,
                                  properties=props)
        self.client.loop_start()

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def ack(self, token: Token) -> None:
        if token[0] == self.generation:  # else the broker redelivers it on the new connection
            self.client.ack(token[1], 1)

    def is_connected(self) -> bool:
        return self.client.is_connected()

    def update_filters(self, filters: list[str]) -> None:
        new, gone = _changes(self.filters, filters)
        self.filters = list(filters)
        if new:
            self.client.subscribe([(f, 1) for f in new])
        if gone:
            self.client.unsubscribe(gone)

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:  # noqa: ANN001
        if reason_code.is_failure:
            log.error("MQTT connect refused: %s", reason_code)
            return
        self.generation += 1
        self._told_connected = False
        if self.filters:
            client.subscribe([(f, 1) for f in self.filters])
        else:
            self._subscribed()
        log.info("MQTT connected to %s:%s (session present: %s), subscribing to %s",
                 self.config.host, self.config.port, flags.session_present, self.filters)

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:  # noqa: ANN001
        failed = [rc for rc in reason_codes if rc.is_failure]
        if failed:
            log.error("subscription to %s refused: %s", self.filters, failed)
            return
        self._subscribed()

    def _subscribed(self) -> None:
        if not self._told_connected:
            self._told_connected = True
            self.on_state(True)

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:  # noqa: ANN001
        self.on_state(False)
        if reason_code != 0:
            log.warning("MQTT disconnected (%s); paho reconnects with backoff", reason_code)

    def _on_message(self, client, userdata, msg) -> None:  # noqa: ANN001
        try:
            topic: str | None = msg.topic
        except UnicodeDecodeError:
            topic = None
        self.on_message(topic, msg._topic, msg.payload, msg.qos, bool(msg.retain), (self.generation, msg.mid), None)
