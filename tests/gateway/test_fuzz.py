"""Hypothesis fuzzing of the contract: whatever arrives, ``decode`` returns a valid message or raises
``ContractError`` with a reason, never anything else; every decoded message encodes to line protocol."""

import json
import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.contract import ContractError, DeviceMessage, Limits, decode
from ingest.encode import to_line

NOW = 1_795_000_000_000
PREFIX = "community"
LEVEL = st.one_of(st.sampled_from(["site1", "b1", "elevator", "access", "meter", "el-1", "telemetry", "event",
                                   "status"]), st.text(max_size=80))
TOPICS = st.one_of(
    st.lists(LEVEL, min_size=0, max_size=9).map(lambda levels: "/".join([PREFIX, *levels])),
    st.text(max_size=300),
    st.builds(lambda kind, channel: f"{PREFIX}/site1/b1/{kind}/dev-1/{channel}",
              st.sampled_from(["elevator", "access", "meter", "escalator", ""]),
              st.sampled_from(["telemetry", "event", "status", "x"])),
)
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=40))
JSON_VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                            st.dictionaries(st.text(max_size=12), inner, max_size=5)),
                           max_leaves=20)
FIELDS = {"ts": st.one_of(st.integers(NOW - 10**10, NOW + 10**10), SCALARS), "seq": st.one_of(st.integers(-5, 2**64),
          SCALARS), "running": SCALARS | st.booleans(), "floor": st.integers(-20, 400) | SCALARS,
          "direction": st.sampled_from(["up", "down", "stopped", "left"]), "speed_mps": st.floats() | SCALARS,
          "door": st.sampled_from(["open", "closed", "ajar"]), "load_pct": st.floats(), "leveled": st.booleans(),
          "locked": st.booleans(), "medium": st.sampled_from(["water", "gas", "steam"]), "reading": st.floats(),
          "flow": st.floats(), "event": st.sampled_from(["passengers_trapped", "door_forced_open", "leak", ""]),
          "online": SCALARS | st.booleans()}
SHAPED = st.fixed_dictionaries({}, optional=FIELDS).map(lambda d: json.dumps(d, allow_nan=True).encode())
PAYLOADS = st.one_of(st.binary(max_size=600), JSON_VALUES.map(lambda v: json.dumps(v, allow_nan=True).encode()),
                     SHAPED, st.binary(min_size=17_000, max_size=17_100))


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(topic=TOPICS, raw=PAYLOADS)
def test_decode_never_raises_anything_but_a_contract_error(topic, raw):
    try:
        message = decode(topic, raw, prefix=PREFIX, now_ms=NOW, limits=Limits())
    except ContractError as err:
        assert str(err)  # a reason, always
        return
    assert isinstance(message, DeviceMessage)
    assert "\n" not in to_line(message)
    for value in message.payload.model_dump().values():
        assert not (isinstance(value, float) and not math.isfinite(value))
