import pytest

from alerts.config import DEFAULT_RULES, ConfigError, Priority, load_config
from devices import kinds


def write(tmp_path, text: str):
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    return path


def test_default_rules_load_and_cover_every_device_event_of_every_kind():
    config = load_config(DEFAULT_RULES)
    covered = {(r.kind.value, e) for r in config.rules if r.type == "event" for e in r.events}
    covered |= {(r.kind.value, r.event) for r in config.rules if r.type == "count"}
    informational = {("access", "access_granted"), ("access", "access_denied"), ("fire_pump", "pump_started")}
    for spec in kinds.ALL:
        missing = {(spec.name, code) for code in spec.events} - covered - informational
        assert not missing, f"no rule for {missing}"
        assert {r.type for r in config.rules if r.kind.value == spec.name} >= {"offline", "absence"}, spec.name
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


def test_unknown_event_code_priority_kind_and_skill_are_named_in_one_pass(tmp_path):
    path = write(tmp_path, """
rules:
  - {id: bad_event, type: event, kind: elevator, events: [teleported], title: t, priority: outage, skill: elevator}
  - {id: bad_priority, type: event, kind: elevator, events: [overspeed], title: t, priority: urgent, skill: elevator}
  - {id: bad_kind, type: offline, kind: escalator, title: t, priority: outage, skill: elevator}
  - {id: bad_skill, type: offline, kind: meter, title: t, priority: outage, skill: plumbing_and_more}
""")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    text = str(err.value)
    assert "rule 'bad_event'" in text and "unknown elevator events ['teleported']" in text
    assert "rule 'bad_priority', field 'priority'" in text
    assert "rule 'bad_kind', field 'kind'" in text and "fire_pump" in text  # the known kinds come from the registry
    assert "rule 'bad_skill', field 'skill'" in text


def test_a_deployment_file_adds_replaces_and_disables_rules_and_replaces_sections(tmp_path):
    shipped = load_config()
    path = write(tmp_path, """
disable: [meter_silent]
rules:
  - {id: elevator_silent, type: absence, kind: elevator, after_s: 120, title: "no data for 2 minutes",
     priority: outage, skill: elevator}
  - {id: gate_held, type: duration, kind: access, field: door, equals: open, for_s: 600, title: t,
     priority: maintenance, skill: access}
sla:
  life_safety: {acknowledge_s: 60, arrive_s: 600, resolve_s: 3600}
  outage: {acknowledge_s: 600, arrive_s: 1800, resolve_s: 14400}
  degradation: {acknowledge_s: 3600, arrive_s: 14400, resolve_s: 86400}
  maintenance: {acknowledge_s: 86400, arrive_s: 259200, resolve_s: 604800}
""")
    config = load_config(path)
    ids = [r.id for r in config.rules]
    assert "meter_silent" not in ids and "gate_held" in ids and ids.count("elevator_silent") == 1
    assert config.rule("elevator_silent").after_s == 120
    assert len(config.rules) == len(shipped.rules)  # one dropped, one added, one replaced
    assert config.sla[Priority.LIFE_SAFETY].acknowledge_s == 60
    assert config.oncall == shipped.oncall  # not given: the shipped on-call plan
    with pytest.raises(ConfigError, match=r"disable names unknown rules \['nope'\]"):
        load_config(write(tmp_path, "disable: [nope]"))


def test_sla_lives_in_the_shipped_rules_file():
    import yaml

    data = yaml.safe_load(DEFAULT_RULES.read_text())
    assert set(data["sla"]) == {p.value for p in Priority}
    assert load_config().sla[Priority.OUTAGE].arrive_s == data["sla"]["outage"]["arrive_s"] == 1800


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


def test_the_matrix_must_name_every_cell(tmp_path):
    path = write(tmp_path, """
matrix:
  cells:
    urgent-basic-collective: {acknowledge_s: 600, arrive_s: 1800, resolve_s: 14400}
""")
    with pytest.raises(ConfigError, match="missing .*routine-special-individual"):
        load_config(path)
    config = load_config()
    assert config.matrix.cell(Priority.LIFE_SAFETY) == "urgent-basic-collective"
    assert config.matrix.cell(Priority.MAINTENANCE, individual=True) == "routine-special-individual"
