"""Poison cannot stop anything: a bad template is refused at start, a bad rules file ends `community run` with a
message and exit code 2, and a signal that fails for a reason retrying would not fix is recorded and skipped while
the next fault (trapped passengers) still becomes its order."""

import time

import pytest
from sqlalchemy import select

from alerts.config import ConfigError, load_config
from alerts.models import FailedSignal
from community.cli import main
from simulator.fleet import Fleet
from tests.alert_fixtures import OPERATOR, api
from tests.conftest import wait_for
from workorders.models import WorkOrder


def test_a_template_typo_is_refused_at_load_naming_the_template(tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text("notices:\n  fault: '{devce}, Building {building}: {title}.'\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert "notices.fault" in str(err.value) and "devce" in str(err.value)


def test_community_run_with_a_bad_rules_file_says_why_and_exits_2(tmp_path, monkeypatch, capsys):
    path = tmp_path / "rules.yaml"
    path.write_text("rules:\n  - {id: x, type: offline, kind: escalator, title: t, priority: outage, skill: access}\n")
    monkeypatch.setenv("COMMUNITY_RULES_FILE", str(path))
    monkeypatch.setenv("COMMUNITY_DATA_DIR", str(tmp_path / "data"))
    assert main(["run"]) == 2
    err = capsys.readouterr().err
    assert "did not start" in err and "rule 'x', field 'kind'" in err and "Traceback" not in err


def test_unknown_settings_stop_a_command(monkeypatch):
    monkeypatch.setenv("COMMUNITY_MAX_PAYLOAD_BYTES", "1024")  # a name from before settings had sections
    with pytest.raises(SystemExit, match="unknown settings \\['COMMUNITY_MAX_PAYLOAD_BYTES'\\]"):
        main(["rules"])


@pytest.mark.integration
def test_a_failing_signal_is_recorded_and_the_engine_moves_on(alert_service, publisher, unique):
    runtime = alert_service()
    real_open = runtime.orders.open

    def open_or_fail(work, new, now):  # noqa: ANN001, ANN202 - fault injection: a deterministic bug for one rule
        if new.rule_id == "access_door_forced":
            raise KeyError("simulated bug")
        return real_open(work, new, now)

    runtime.orders.open = open_or_fail
    fleet = Fleet(seed=31, prefix=unique)
    now = int(time.time() * 1000)
    publisher.publish(fleet.inject("door_forced_open", "s1b1-door1", now_ms=now))
    publisher.publish(fleet.inject("passengers_trapped", "s1b1-el1", now_ms=now + 1))

    def rules_with_orders() -> list[str]:
        with runtime.sessions() as session:
            return [o.rule_id for o in session.scalars(select(WorkOrder))]

    assert wait_for(lambda: rules_with_orders() == ["elevator_trapped"])
    assert runtime.stats()["alert_failures"] == 1
    failures = api(runtime).get("/alerts/failures", headers={"Authorization": f"Bearer {OPERATOR}"}).json()
    assert [(f["rule_id"], f["device_id"], f["fire"]) for f in failures] == [
        ("access_door_forced", "s1b1-door1", True)]
    assert "KeyError" in failures[0]["reason"] and "simulated bug" in failures[0]["reason"]
    with runtime.sessions() as session:
        assert session.scalar(select(FailedSignal.reason)).startswith("KeyError")
