import pytest

from devices import kinds
from devices.kinds import Kind
from gateway.contract import decode
from simulator.fleet import Fleet, UnknownFault, fault_catalogue

NOW = 1_795_000_000_000


def test_same_seed_same_messages():
    a, b = Fleet(seed=7), Fleet(seed=7)
    assert [a.next_telemetry(NOW) for _ in range(50)] == [b.next_telemetry(NOW) for _ in range(50)]
    assert [a.next_telemetry(NOW) for _ in range(5)] != [Fleet(seed=8).next_telemetry(NOW) for _ in range(5)]


def test_every_generated_message_passes_the_contract():
    """Every registered kind, with every fault it can be given (a new kind module is covered without edits)."""
    fleet = Fleet(sites=2, seed=1, per_building={k.name: max(1, k.simulation.per_building) for k in kinds.ALL})
    messages = [fleet.next_telemetry(NOW) for _ in range(200)] + fleet.heartbeats(NOW)
    for kind, names in fault_catalogue().items():
        for name in names:
            messages += fleet.inject(name, kind=Kind(kind), now_ms=NOW)
            messages += [fleet.telemetry(d, NOW) for d in fleet.devices if not d.silent]
            messages += fleet.clear(name, kind=Kind(kind), now_ms=NOW)
    import json

    for topic, payload, _ in messages:
        decode(topic, json.dumps(payload).encode(), prefix="community", now_ms=NOW + 10_000_000)


def test_timestamps_strictly_increase_per_device_even_within_one_millisecond():
    fleet = Fleet(elevators=1, doors=0, meters=0, buildings=1)
    stamps = [fleet.next_telemetry(NOW)[1]["ts"] for _ in range(5)]
    assert stamps == [NOW, NOW + 1, NOW + 2, NOW + 3, NOW + 4]


def test_injected_elevator_fault_sends_an_active_event_and_clear_sends_inactive():
    fleet = Fleet()
    [(topic, payload, _)] = fleet.inject("passengers_trapped", "s1b1-el1", now_ms=NOW)
    assert topic == "community/site1/b1/elevator/s1b1-el1/event"
    assert payload["event"] == "passengers_trapped" and payload["active"] is True
    assert fleet.telemetry(fleet.device("s1b1-el1"), NOW)[1]["leveled"] is False
    [(_, cleared, _)] = fleet.clear("passengers_trapped", "s1b1-el1", now_ms=NOW)
    assert cleared["active"] is False


def test_offline_device_goes_silent_and_announces_offline():
    fleet = Fleet(buildings=1, elevators=1, doors=0, meters=0)
    [(topic, payload, retain)] = fleet.inject("offline", "s1b1-el1", now_ms=NOW)
    assert topic.endswith("/status") and payload["online"] is False and retain
    assert fleet.next_telemetry(NOW) is None


def test_night_leak_keeps_meter_flow_above_zero():
    fleet = Fleet(buildings=1, elevators=0, doors=0, meters=1)
    fleet.inject("night_leak", now_ms=NOW)
    flows = [fleet.next_telemetry(NOW)[1]["flow"] for _ in range(100)]
    assert min(flows) >= 0.05


def test_unknown_fault_or_device_is_a_clear_error():
    fleet = Fleet()
    with pytest.raises(UnknownFault, match="unknown fault 'melt'"):
        fleet.inject("melt", now_ms=NOW)
    with pytest.raises(UnknownFault, match="has no fault 'night_leak'"):
        fleet.inject("night_leak", "s1b1-el1", now_ms=NOW)
    with pytest.raises(UnknownFault, match="no simulated device"):
        fleet.inject("offline", "nope", now_ms=NOW)
