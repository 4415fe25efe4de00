"""Bad input on the real broker, fuzzed with hypothesis: the listener stays up, each bad message is dead-lettered
with a reason, good messages keep flowing, and InfluxDB holds exactly the good ones."""

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.contract import ContractError, decode
from simulator.fleet import Fleet
from tests.conftest import wait_for
from tests.gateway.test_fuzz import PAYLOADS

pytestmark = pytest.mark.integration


def test_fuzzed_traffic_on_the_broker(service, publisher, influx, unique):
    runtime = service()
    fleet = Fleet(seed=41, prefix=unique)
    tally = {"bad": 0, "interleaved": 0, "routed": 0}
    points: set[tuple[str, int]] = set()  # (topic, ts) of the valid fuzzed messages
    # any level a broker accepts (MQTT forbids wildcards in published topics, U+0000, surrogates; Mosquitto
    # also drops clients that send control or non-characters, so those never reach the service at all)
    levels = st.text(alphabet=st.characters(blacklist_characters="#+/", blacklist_categories=("Cs", "Cc", "Cn", "Co")),
                     min_size=1, max_size=40)
    topics = st.one_of(
        st.builds(lambda k, c: f"{unique}/site1/b1/{k}/fz-1/{c}",
                  st.sampled_from(["elevator", "access", "meter", "lift"]), st.sampled_from(["telemetry", "event",
                                                                                              "status", "debug"])),
        st.lists(levels, min_size=1, max_size=12).map(lambda ls: "/".join([unique, *ls])),
        st.builds(lambda n: f"{unique}/site1/b1/meter/{'x' * n}/telemetry", st.integers(60, 3000)),
    )

    @settings(max_examples=200, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                     HealthCheck.function_scoped_fixture])
    @given(topic=topics, raw=PAYLOADS)
    def publish(topic, raw):
        publisher.publish_raw(topic, raw)
        if topic.count("/") != 5:
            return  # does not match <prefix>/+/+/+/+/+: the broker never routes it to the service
        tally["routed"] += 1
        try:
            message = decode(topic, raw, prefix=unique, now_ms=int(time.time() * 1000))
            # a fuzzed message can be valid, rarely; InfluxDB keeps one point per series and time, so two valid
            # fuzzed messages with the same ts are one point
            points.add((topic, message.payload.ts if message.payload.ts is not None else len(points) + 10**15))
        except ContractError:
            tally["bad"] += 1
        if tally["routed"] % 10 == 0:  # good traffic interleaved all along
            publisher.publish([fleet.next_telemetry(int(time.time() * 1000))])
            tally["interleaved"] += 1

    publish()
    assert publisher.flush(60)
    total = tally["routed"] + tally["routed"] // 10
    assert wait_for(lambda: runtime.counters.received >= total, 60), (runtime.stats(), tally)
    assert wait_for(lambda: runtime.counters.dead_lettered >= tally["bad"], 30)
    assert wait_for(lambda: runtime.writer.queued == 0, 30)  # everything received is handled
    assert runtime.counters.received == total
    assert runtime.counters.dead_lettered == tally["bad"]
    assert runtime.dead_letters.count() == tally["bad"]
    assert all(row.reason for row in runtime.dead_letters.latest(1000))
    good = len(points) + tally["interleaved"]
    # every point of a measurement has one field that is always there (a status may come without "seq")
    def stored() -> int:
        return sum(influx.count(k) for k in ("elevator", "access", "meter")) + influx.count(
            "device_status", "online") + influx.count("device_event", "active")

    assert wait_for(lambda: stored() == good, 30), (stored(), good, sorted(points)[:20], runtime.stats())
    assert runtime.listener.is_connected() and runtime.counters.mqtt_connects == 1
    print(f"live fuzz: {tally['routed']} fuzzed messages routed to the service, {tally['bad']} dead-lettered, "
          f"{good} stored (interleaved good traffic included)")
