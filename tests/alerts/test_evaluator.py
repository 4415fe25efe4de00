import json

from alerts.config import load_config
from alerts.evaluator import Evaluator
from gateway.contract import decode

NOW = 1_795_000_000_000
RULES = load_config().rules


def msg(tail: str, payload: dict, received: int | None = None):
    raw = json.dumps(payload).encode()
    return decode(f"community/site1/b1/{tail}", raw, prefix="community", now_ms=received or payload.get("ts", NOW))


def elevator(ts: int, **changes) -> dict:
    base = {"ts": ts, "seq": ts - NOW, "running": True, "floor": 3, "direction": "up", "speed_mps": 1.5,
            "door": "closed", "load_pct": 40, "leveled": False}
    return base | changes


def fired(signals) -> list[tuple[str, bool]]:
    return [(s.rule.id, s.fire) for s in signals]


def test_event_fires_repeats_count_and_inactive_event_clears():
    ev = Evaluator(RULES)
    trapped = {"event": "passengers_trapped", "seq": 1}
    assert fired(ev.observe(msg("elevator/el1/event", {"ts": NOW, **trapped}))) == [("elevator_trapped", True)]
    assert fired(ev.observe(msg("elevator/el1/event", {"ts": NOW + 1, **trapped}))) == [("elevator_trapped", True)]
    cleared = msg("elevator/el1/event", {"ts": NOW + 2, **trapped, "active": False})
    assert fired(ev.observe(cleared)) == [("elevator_trapped", False)]


def test_redelivered_or_older_message_is_not_judged_twice():
    ev = Evaluator(RULES)
    first = msg("elevator/el1/event", {"ts": NOW, "seq": 1, "event": "passengers_trapped"})
    assert len(ev.observe(first)) == 1
    assert ev.observe(first) == []  # same message again (QoS 1 redelivery)
    older = msg("elevator/el1/event", {"ts": NOW - 5, "seq": 0, "event": "passengers_trapped"})
    assert ev.observe(older) == []


def test_threshold_has_hysteresis():
    ev = Evaluator(RULES)
    speeds = [1.5, 2.3, 2.1, 2.3, 1.9, 2.1]
    out = [fired(ev.observe(msg("elevator/el1/telemetry", elevator(NOW + i, speed_mps=v))))
           for i, v in enumerate(speeds)]
    assert out == [[], [("elevator_overspeed_measured", True)], [], [], [("elevator_overspeed_measured", False)], []]


def test_duration_rule_fires_after_door_open_for_120_seconds_of_device_time():
    ev = Evaluator(RULES)

    def door(ts_s: int, state: str):
        return ev.observe(msg("access/d1/telemetry", {"ts": NOW + ts_s * 1000, "seq": ts_s, "door": state,
                                                      "locked": state == "closed"}))

    assert door(0, "open") == [] and door(60, "open") == []
    assert fired(door(121, "open")) == [("access_door_open_long", True)]
    assert door(150, "open") == []
    assert fired(door(160, "closed")) == [("access_door_open_long", False)]


def test_count_rule_fires_on_fifth_denial_within_a_minute_and_clears_after_a_quiet_window():
    ev = Evaluator(RULES)
    out = []
    for i in range(5):
        out += ev.observe(msg("access/d1/event", {"ts": NOW + i * 10_000, "seq": i, "event": "access_denied"}))
    assert fired(out) == [("access_denied_burst", True)]
    assert ev.tick(NOW + 50_000) == []
    assert fired(ev.tick(NOW + 40_000 + 61_000)) == [("access_denied_burst", False)]


def test_four_denials_spread_over_more_than_a_minute_do_not_fire():
    ev = Evaluator(RULES)
    out = []
    for i in range(6):
        out += ev.observe(msg("access/d1/event", {"ts": NOW + i * 20_000, "seq": i, "event": "access_denied"}))
    assert out == []


def test_absence_fires_when_silent_and_clears_on_next_message():
    ev = Evaluator(RULES)
    ev.observe(msg("elevator/el1/telemetry", elevator(NOW), received=NOW))
    assert ev.tick(NOW + 299_000) == []
    assert fired(ev.tick(NOW + 301_000)) == [("elevator_silent", True)]
    assert ev.tick(NOW + 400_000) == []  # no repeats while it stays silent
    back = ev.observe(msg("elevator/el1/telemetry", elevator(NOW + 400_000), received=NOW + 400_000))
    assert ("elevator_silent", False) in fired(back)


def test_offline_status_fires_and_online_clears():
    ev = Evaluator(RULES)
    assert fired(ev.observe(msg("meter/m1/status", {"online": False}, received=NOW))) == [("meter_offline", True)]
    assert fired(ev.observe(msg("meter/m1/status", {"online": True}, received=NOW + 1))) == [("meter_offline", False)]


def test_meter_register_backwards_and_jump_are_deltas_and_media_filters_apply():
    ev = Evaluator(RULES)

    def meter(i: int, reading: float, medium: str = "water", flow: float = 0.1):
        return fired(ev.observe(msg(f"meter/m-{medium}/telemetry", {
            "ts": NOW + i, "seq": i, "medium": medium, "unit": "0101", "reading": reading, "flow": flow})))

    assert meter(0, 100.0) == []
    assert meter(1, 99.0) == [("meter_reading_backwards", True)]
    assert meter(2, 99.5) == [("meter_reading_backwards", False)]
    assert meter(3, 5000.0) == [("meter_reading_jump", True)]
    assert meter(4, 10.0, medium="electricity", flow=-3.0) == []  # reverse-flow threshold is for water/gas/heat
    assert ("meter_reverse_flow_measured", True) in meter(5, 5000.1, flow=-0.5)


def test_meter_event_before_any_telemetry_reaches_the_rule_for_the_medium_it_names():
    ev = Evaluator(RULES)  # events come on their own lane: a new meter's first message can be an event
    flow = {"ts": NOW, "seq": 1, "event": "continuous_flow"}
    assert fired(ev.observe(msg("meter/m1/event", flow | {"medium": "water", "unit": "0101"}))) == \
        [("water_leak_reported", True)]
    assert fired(ev.observe(msg("meter/m2/event", flow | {"medium": "gas"}))) == [("gas_flow_reported", True)]
    assert ev.observe(msg("meter/m3/event", flow)) == []  # medium unknown: no medium's rule applies
    assert ev.device("m1").unit == "0101"


def test_offline_and_silent_are_one_alert_of_a_lost_device():
    ev = Evaluator(RULES)
    ev.observe(msg("elevator/el1/telemetry", elevator(NOW), received=NOW))
    lost = ev.observe(msg("elevator/el1/status", {"online": False}, received=NOW + 1))
    assert fired(lost) == [("elevator_offline", True)]
    assert ev.tick(NOW + 400_000) == []  # silent too, but that is the same fault: no second alert
    back = ev.observe(msg("elevator/el1/status", {"online": True}, received=NOW + 500_000))
    assert fired(back) == [("elevator_offline", False)]
    assert fired(ev.tick(NOW + 900_000)) == [("elevator_silent", True)]  # a new loss later: the other rule may fire
    assert ev.observe(msg("elevator/el1/status", {"online": False}, received=NOW + 900_001)) == []


def test_messages_of_a_fast_clock_arriving_within_one_millisecond_keep_their_order():
    """A device stamping faster than real time (ts ahead of arrival): each message still counts, in order."""
    ev = Evaluator(RULES)
    fires = [ev.observe(msg("elevator/el1/event", {"ts": NOW + 10 + i, "seq": i, "event": code},
                            received=NOW)) for i, code in enumerate(("overspeed", "power_loss", "ucmp"))]
    assert [fired(f) for f in fires] == [[("elevator_safety_trip", True)], [("elevator_stopped", True)],
                                         [("elevator_moving_doors_open", True)]]
    assert [f[0].at_ms for f in fires] == [NOW, NOW + 1, NOW + 2]  # clamped to arrival, strictly rising
    corrected = msg("elevator/el1/event", {"ts": NOW + 5, "seq": 9, "event": "ucmp", "active": False},
                    received=NOW + 20)  # the clock was corrected: older ts, but it arrived later
    assert fired(ev.observe(corrected)) == [("elevator_moving_doors_open", False)]
    late = msg("elevator/el1/event", {"ts": NOW + 4, "seq": 8, "event": "overspeed", "active": False},
               received=NOW + 19)  # older than the last and not after a fast clock: out of order
    assert ev.observe(late) == []


def test_a_retired_device_runs_no_rules_not_even_its_absence_timer():
    ev = Evaluator(RULES)
    ev.observe(msg("elevator/el1/telemetry", elevator(NOW), received=NOW))
    ev.retire(frozenset({"el1"}))
    assert ev.tick(NOW + 301_000) == []
    assert ev.observe(msg("meter/el1/status", {"online": False}, received=NOW + 302_000)) == []
    ev.retire(frozenset())  # back in service: judged again from its next message
    ev.observe(msg("elevator/el1/telemetry", elevator(NOW + 400_000), received=NOW + 400_000))
    assert fired(ev.tick(NOW + 701_000)) == [("elevator_silent", True)]


def test_timers_come_due_without_walking_every_device_and_rearm_after_a_clear():
    ev = Evaluator(RULES)
    for n in range(2000):  # quiet devices cost nothing per tick until their silence is due
        ev.observe(msg(f"elevator/el{n}/telemetry", elevator(NOW), received=NOW))
    assert len(ev._timers) == 2000
    assert ev.tick(NOW + 299_000) == [] and len(ev._timers) == 2000
    fired_now = ev.tick(NOW + 301_000)
    assert len(fired_now) == 2000 and ev._timers == []  # each fired once, nothing left to look at
    back = ev.observe(msg("elevator/el7/telemetry", elevator(NOW + 400_000), received=NOW + 400_000))
    assert ("elevator_silent", False) in fired(back)
    assert fired(ev.tick(NOW + 701_000)) == [("elevator_silent", True)]  # silent again: armed again by the clear
