"""The device-kind registry: what a kind must declare, and that every place reads the registry."""

import sys
import textwrap

import pytest

from devices import kinds
from devices.kinds import DeviceKind, UnknownKind, kind
from devices.kinds.base import NAME_MAX, Simulation
from devices.kinds.elevator import ElevatorTelemetry
from devices.models import Device
from gateway.contract import ContractError, decode
from workorders.models import WorkOrder


def test_kind_and_skill_names_fit_their_columns_by_construction():
    assert Device.__table__.c.kind.type.length == NAME_MAX
    assert WorkOrder.__table__.c.kind.type.length == WorkOrder.__table__.c.skill.type.length == NAME_MAX
    for spec in kinds.ALL:
        assert len(spec.name) <= NAME_MAX and all(len(s) <= NAME_MAX for s in spec.skills)
    with pytest.raises(ValueError, match="kind name 'a_kind_name_much_longer_than_its_column_allows'"):
        DeviceKind(name="a_kind_name_much_longer_than_its_column_allows", title="t", telemetry=ElevatorTelemetry,
                   events=frozenset(), measurement="x", encode=lambda *a: "", skills=("elevator",),
                   simulation=Simulation(lambda rng, d: {}, id_prefix="x"))


def test_a_kind_needs_a_skill_and_an_encoder():
    with pytest.raises(ValueError, match="at least one skill.*encode must"):
        DeviceKind(name="pump", title="t", telemetry=ElevatorTelemetry, events=frozenset(), measurement="pump",
                   encode=None, skills=(), simulation=Simulation(lambda rng, d: {}, id_prefix="p"))


def test_unknown_kinds_fail_loudly_everywhere():
    with pytest.raises(UnknownKind, match="escalator.*fire_pump"):
        kind("escalator")
    with pytest.raises(ContractError, match="unknown device kind 'escalator'"):
        decode("community/s/b/escalator/e1/telemetry", b'{"ts": 1, "seq": 1}', prefix="community", now_ms=1)


def test_a_module_without_kind_or_misnamed_is_refused_at_import(tmp_path, monkeypatch):
    package = tmp_path / "morekinds"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "sprinkler.py").write_text("TITLE = 'forgot to declare KIND'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ImportError, match="morekinds.sprinkler defines no KIND"):
        kinds.discover([str(package)], "morekinds")
    (package / "sprinkler.py").write_text(textwrap.dedent("""
        from devices.kinds.elevator import KIND as ELEVATOR
        KIND = ELEVATOR
    """))
    sys.modules.pop("morekinds.sprinkler", None)
    with pytest.raises(ImportError, match="declares kind 'elevator'"):
        kinds.discover([str(package)], "morekinds")


def test_the_registry_holds_the_fire_pump_with_everything_a_kind_needs():
    pump = kind("fire_pump")
    assert kinds.Kind.FIRE_PUMP.value == "fire_pump" and kinds.Skill.FIRE_PROTECTION.value == "fire_protection"
    assert pump.rules_file is not None and pump.rules_file.exists()
    assert "start_failure" in pump.events and pump.measurement == "fire_pump"
