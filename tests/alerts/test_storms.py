"""The storm gate (pure): many losses in a building or site become one incident; a lone loss stays a device's own
fault; a device back within the window is forgotten; an incident resolves once its devices stayed back."""

from alerts.config import StormPolicy, load_config
from alerts.evaluator import DeviceRef, Signal
from alerts.storms import Apply, Attach, Detach, Open, Resolve, StormGate, incident_key
from devices.kinds import Kind

RULE = load_config().rule("meter_offline")
POLICY = StormPolicy(window_s=60, settle_s=5, building_devices=10, site_buildings=3, hold_s=300)
T = 1_795_000_000_000


def loss(device: str, building: str = "b1", site: str = "site1", fire: bool = True, at: int = T) -> Signal:
    return Signal(RULE, DeviceRef(device, site, building, Kind.METER), fire, at)


def offer_all(gate: StormGate, signals: list[Signal], now: int = T) -> list:
    return [action for s in signals for action in gate.offer(s, now)]


def test_a_lone_loss_is_held_for_the_window_then_applied_as_the_devices_own_fault():
    gate = StormGate(POLICY)
    assert gate.offer(loss("m1"), T) == []
    assert gate.due(T + 59_000) == []
    [applied] = gate.due(T + 60_000)
    assert isinstance(applied, Apply) and applied.signal.device.device_id == "m1"
    assert gate.offer(loss("m1", fire=False), T + 70_000) == [Apply(loss("m1", fire=False))]


def test_lost_and_back_within_the_window_is_nothing():
    gate = StormGate(POLICY)
    gate.offer(loss("m1"), T)
    assert gate.offer(loss("m1", fire=False), T + 5_000) == []
    assert gate.due(T + 120_000) == []


def test_ten_devices_of_a_building_are_one_incident_and_later_ones_join_it():
    gate = StormGate(POLICY)
    assert offer_all(gate, [loss(f"m{i}") for i in range(10)] + [loss("x1", building="b2")]) == []
    assert gate.due(T + 1_000) == []  # the threshold is met, but a site-wide cut may still be arriving
    actions = gate.due(T + 5_000)  # settled: no need to wait for the whole window
    [opened] = actions
    assert isinstance(opened, Open) and opened.key == incident_key("site1", "b1") and len(opened.signals) == 10
    [late] = gate.offer(loss("m10"), T + 2_000)
    assert late == Attach(opened.key, (loss("m10"),))
    assert [type(a) for a in gate.due(T + 61_000)] == [Apply]  # b2's single loss is its own fault


def test_storms_in_three_buildings_of_a_site_are_one_site_incident():
    gate = StormGate(POLICY)
    offer_all(gate, [loss(f"b1m{i}", building="b1") for i in range(12)])
    offer_all(gate, [loss(f"{b}m{i}", building=b) for b in ("b2", "b3") for i in range(12)], now=T + 3_000)
    assert gate.due(T + 4_000) == []
    [opened] = gate.due(T + 5_000)  # b1 settled: with b2 and b3 arriving meanwhile, it is the whole site
    assert opened.key == incident_key("site1", "*") and len(opened.signals) == 36
    [joined] = gate.offer(loss("b4m1", building="b4"), T + 2_000)  # any building of the site joins it
    assert isinstance(joined, Attach) and joined.key == opened.key


def test_the_incident_resolves_once_every_device_stayed_back_for_the_hold_time():
    gate = StormGate(POLICY)
    offer_all(gate, [loss(f"m{i}") for i in range(10)])
    [opened] = gate.due(T + 5_000)
    for i in range(9):
        assert gate.offer(loss(f"m{i}", fire=False), T + 10_000) == [Detach(opened.key, loss(f"m{i}", fire=False))]
    assert gate.due(T + 900_000) == []  # one device is still lost
    gate.offer(loss("m9", fire=False), T + 20_000)
    gate.offer(loss("m3"), T + 30_000)  # it flaps: lost again before the hold ran out, the incident stays
    assert gate.due(T + 500_000) == []
    gate.offer(loss("m3", fire=False), T + 600_000)
    assert gate.due(T + 899_000) == []
    assert gate.due(T + 900_000) == [Resolve(opened.key)]
    assert gate.offer(loss("m1"), T + 901_000) == []  # a later loss starts afresh


def test_restart_restores_open_incidents_and_their_lost_devices():
    gate = StormGate(POLICY)
    key = incident_key("site1", "b1")
    gate.restore({("site1", "b1"): key}, {"m1": key}, T)
    assert gate.offer(loss("m2"), T) == [Attach(key, (loss("m2"),))]
    gate.offer(loss("m1", fire=False), T)
    gate.offer(loss("m2", fire=False), T)
    assert gate.due(T + 300_000) == [Resolve(key)]
