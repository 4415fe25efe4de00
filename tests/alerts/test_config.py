import pytest

from alerts.config import DEFAULT_RULES, ConfigError, Priority, load_config
from devices.kinds.access import AccessEvent
from devices.kinds.elevator import ElevatorEvent
from devices.kinds.meter import MeterEvent


def write(tmp_path, text: str):
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    return path


def test_default_rules_load_and_cover_every_device_event_of_the_brief():
    config = load_config(DEFAULT_RULES)
    covered = {e for r in config.rules if r.type == "event" for e in r.events}
    covered |= {r.event for r in config.rules if r.type == "count"}
    informational = {AccessEvent.ACCESS_GRANTED.value, AccessEvent.ACCESS_DENIED.value}
    for codes in (ElevatorEvent, AccessEvent, MeterEvent):
        missing = {c.value for c in codes} - covered - informational
        assert not missing, f"no rule for {missing}"
    types = {r.type for r in config.rules}
    assert types == {"event", "offline", "threshold", "duration", "count", "absence", "delta", "analytics"}
    assert config.rule("elevator_trapped").priority is Priority.LIFE_SAFETY
    assert not config.rule("elevator_trapped").resolves_automatically
    assert config.sla[Priority.OUTAGE].arrive_s == 1800  # the 30-minute response circle


def test_error_names_file_rule_and_field(tmp_path):
    path = write(tmp_path, """
rules:
  - {id: door_long, type: duration, kind: access, field: door, equals: open, for_s: -5,
     title: t, priority: degradation, skill: access}
""")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    text = str(err.value)
    assert str(path) in text and "rule 'door_long'" in text and "field 'for_s'" in text
    assert "greater than 0" in text


def test_unknown_event_code_and_priority_are_named(tmp_path):
    path = write(tmp_path, """
rules:
  - {id: bad_event, type: event, kind: elevator, events: [teleported], title: t, priority: urgent, skill: elevator}
""")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    text = str(err.value)
    assert "rule 'bad_event', field 'priority'" in text


def test_unknown_rule_type_unknown_key_and_bad_hysteresis(tmp_path):
    path = write(tmp_path, """
rules:
  - {id: a, type: telepathy, kind: meter, title: t, priority: maintenance, skill: metering}
  - {id: b, type: absence, kind: meter, after_s: 60, title: t, priority: maintenance, skill: metering, colour: red}
  - {id: c, type: threshold, kind: meter, field: flow, above: 1, clear_at: 2, title: t, priority: maintenance,
     skill: metering}
""")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    text = str(err.value)
    assert "rule 'a'" in text and "telepathy" in text
    assert "rule 'b', field 'colour'" in text and "Extra inputs are not permitted" in text
    assert "rule 'c'" in text and "clear_at must not be above" in text


def test_duplicate_ids_missing_file_and_bad_yaml(tmp_path):
    dup = write(tmp_path, """
rules:
  - {id: a, type: offline, kind: meter, title: t, priority: maintenance, skill: metering}
  - {id: a, type: offline, kind: access, title: t, priority: maintenance, skill: access}
""")
    with pytest.raises(ConfigError, match=r"duplicate rule ids \['a'\]"):
        load_config(dup)
    with pytest.raises(ConfigError, match="no such rule file"):
        load_config(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(write(tmp_path, "rules: [unclosed"))


def test_oncall_must_name_known_people(tmp_path):
    path = write(tmp_path, """
rules: []
oncall:
  people: [{id: a, name: A}]
  default: {skills: {elevator: [{members: [a, ghost]}]}}
""")
    with pytest.raises(ConfigError, match=r"unknown people \['ghost'\]"):
        load_config(path)
