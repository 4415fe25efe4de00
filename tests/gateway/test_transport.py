"""The codec transport's packet handling (gateway/transport.py): bytes as a broker sends them, split anywhere, with
a PUBLISH the codec refuses among them; and both transports against the real broker."""

import time

import mqtt5
import pytest

from gateway.listener import MqttConfig
from gateway.transport import CodecTransport, PahoTransport, make_transport
from simulator.fleet import Fleet
from tests.conftest import wait_for


def publish(topic: str, payload: bytes, packet_id: int) -> bytes:
    return mqtt5.PublishPacket(topic=topic, payload=payload, qos=mqtt5.QoS.AT_LEAST_ONCE, packet_id=packet_id).write()


def not_utf8_topic(packet_id: int) -> bytes:
    packet = bytearray(publish("ab/cd", b'{"x": 1}', packet_id))
    packet[4] = 0xFF  # first byte of the topic
    return bytes(packet)


class Recorder:
    def __init__(self) -> None:
        self.got: list[tuple] = []

    def __call__(self, topic, raw_topic, payload, qos, retain, token, malformed) -> None:  # noqa: ANN001
        self.got.append((topic, raw_topic, payload, qos, token[1], malformed))


def transport(recorder: Recorder) -> CodecTransport:
    return CodecTransport(MqttConfig(client_id="unit"), ["x/#"], recorder, lambda up: None)


def test_packets_split_at_every_byte_are_each_delivered_once_in_order():
    recorder = Recorder()
    codec = transport(recorder)
    stream = b"".join(publish(f"p/s/b/k/d{i}/telemetry", b"{}" * i, i + 1) for i in range(5))
    for cut in range(1, len(stream)):
        recorder.got.clear()
        buf = bytearray(stream[:cut])
        del buf[:codec._parse(buf)]
        buf += stream[cut:]
        del buf[:codec._parse(buf)]
        assert not buf and [g[4] for g in recorder.got] == [1, 2, 3, 4, 5], cut


def test_a_publish_the_codec_refuses_is_handed_on_as_malformed_and_the_next_one_still_arrives():
    recorder = Recorder()
    codec = transport(recorder)
    buf = bytearray(publish("p/a/b/k/d/telemetry", b"{}", 7) + not_utf8_topic(8) + publish("p/ok", b"1", 9))
    assert codec._parse(buf) == len(buf)
    good, bad, after = recorder.got
    assert good[0] == "p/a/b/k/d/telemetry" and good[4] == 7 and good[5] is None
    assert bad[0] is None and bad[1] == b"\xffb/cd" and bad[2] == b'{"x": 1}' and bad[4] == 8
    assert bad[5].startswith("malformed MQTT packet")  # the listener makes it a dead letter and acknowledges it
    assert after[0] == "p/ok" and after[4] == 9


def test_acks_of_a_connection_that_is_gone_are_dropped_and_the_rest_go_out_in_one_write():
    codec = transport(Recorder())
    codec.generation = 2
    for packet_id in (1, 2, 3):
        codec.ack((2, packet_id))
    codec.ack((1, 4))  # from before a reconnect: the broker redelivers it

    class Socket:
        writes: list[bytes] = []

        def setblocking(self, flag: bool) -> None:
            pass

        def sendall(self, data: bytes) -> None:
            self.writes.append(data)

    sock = Socket()
    assert codec._flush_acks(sock)
    assert sock.writes == [b"\x40\x02\x00\x01\x40\x02\x00\x02\x40\x02\x00\x03"]


def test_the_client_setting_picks_the_transport():
    codec = make_transport(MqttConfig(), ["a/#"], Recorder(), lambda up: None)
    paho = make_transport(MqttConfig(client="paho"), ["a/#"], Recorder(), lambda up: None)
    assert isinstance(codec, CodecTransport) and isinstance(paho, PahoTransport)


@pytest.mark.integration
@pytest.mark.parametrize("client", ["codec", "paho"])
def test_both_clients_store_every_reading_and_keep_their_session_across_a_restart(service, publisher, influx,
                                                                                    unique, client):
    runtime = service(mqtt_client=client)
    fleet = Fleet(seed=5, prefix=unique)
    now = int(time.time() * 1000)
    publisher.publish([fleet.next_telemetry(now + i) for i in range(300)])
    assert wait_for(lambda: sum(influx.count(m) for m in ("elevator", "access", "meter")) == 300, 20)
    runtime.stop()  # the session stays on the broker, which queues for it
    publisher.publish([fleet.next_telemetry(now + 300 + i) for i in range(200)])
    service(mqtt_client=client)
    assert wait_for(lambda: sum(influx.count(m) for m in ("elevator", "access", "meter")) == 500, 20)
