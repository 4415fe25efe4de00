"""Reaching a person: the chain of channels (the next when one fails for good), retry windows by priority, quiet
hours, escalations that call, and a message no channel could deliver shown to operators. The desk and the
dispatcher on PostgreSQL with a hand-moved clock, the providers' clouds stood in by tests/notifications/
fake_providers.py."""

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from alerts.config import load_config
from community.runtime import channels as make_channels
from community.runtime import reach
from core.db import make_engine, session_factory
from core.zones import Zones
from devices.kinds import Skill
from notices.models import Scope
from notifications.dispatcher import Dispatcher
from notifications.models import Notification
from people.oncall import OnCall, Person, Rotation, SiteOnCall
from tests.alert_fixtures import FakeClock
from tests.notifications.fake_providers import Providers
from tests.notifications.test_providers import settings
from workorders.flows import NewOrder, WorkOrderDesk
from workorders.models import Priority

pytestmark = pytest.mark.integration
WANG = Person(id="wang", name="王磊", phone="13700137001", channels=["wecom", "sms"], quiet_hours="22:00-07:00")


@pytest.fixture
def cloud():
    providers = Providers()
    yield providers
    providers.close()


@pytest.fixture
def world(pg_url, cloud):
    """(desk, dispatcher, clock, sessions): the clock at 16:00 UTC, midnight in Shanghai (inside quiet hours)."""
    engine = make_engine(pg_url)
    sessions = session_factory(engine)
    config = load_config()
    clock = FakeClock()
    clock.now = datetime(2026, 11, 25, 16, 0, tzinfo=UTC)
    s = settings(cloud.url).model_copy(update={"wecom": settings(cloud.url).wecom.model_copy(
        update={"robots": {"site1": "a-revoked-robot-key"}})})  # the group robot refuses every message
    outbound = [c for c in make_channels(s) if c.name in ("wecom", "sms", "voice", "webhook")]
    oncall = OnCall(people=[WANG], default=SiteOnCall(skills={Skill.ELEVATOR: [Rotation(members=["wang"])],
                                                              Skill.METERING: [Rotation(members=["wang"])]}))
    desk = WorkOrderDesk(sessions, sla=config.sla, matrix=config.matrix, oncall=oncall, texts=config.notices,
                         clock=clock, zones=Zones("Asia/Shanghai"), channels=reach(outbound), policy=config.notify)
    dispatcher = Dispatcher(sessions, outbound, clock=clock, max_attempts=100, base_backoff_s=10)
    yield desk, dispatcher, clock, sessions
    engine.dispose()


def open_order(desk, clock, priority: Priority, n: int = 1) -> int:  # noqa: ANN001
    skill = Skill.ELEVATOR if priority is Priority.LIFE_SAFETY else Skill.METERING
    new = NewOrder(key=f"r{n}:d{n}", rule_id=f"r{n}", device_id=f"d{n}", kind="elevator", site="site1",
                   building="b1", unit=None, title="passengers trapped" if n == 1 else "meter silent",
                   priority=priority, skill=skill, scope=Scope.NONE)
    with desk.unit_of_work() as work:
        return desk.open(work, new, clock.now).id


def notes(sessions, order_id: int, person: str = "wang") -> list[Notification]:  # noqa: ANN001
    with sessions() as session:
        return list(session.scalars(select(Notification).where(Notification.work_order_id == order_id,
                                                               Notification.person_id == person)
                                    .order_by(Notification.id)))


def test_a_group_robot_that_refuses_hands_over_to_sms_at_once(world, cloud):
    desk, dispatcher, clock, sessions = world
    order = open_order(desk, clock, Priority.LIFE_SAFETY)  # life safety: quiet hours do not apply
    assert [(n.channel, n.chain) for n in notes(sessions, order)] == [("wecom", [["sms", "13700137001"]])]
    dispatcher.send_due()
    wecom, sms = notes(sessions, order)
    assert (wecom.status, wecom.fell_back_to, sms.channel) == ("failed", sms.id, "sms")
    assert "93000" in wecom.last_error and wecom.attempts == 1  # a refusal is not retried
    dispatcher.send_due()
    assert notes(sessions, order)[1].status == "sent"
    assert cloud.accepted["sms"][0]["PhoneNumbers"] == "13700137001"
    assert (dispatcher.stats.fell_back, dispatcher.stats.undeliverable) == (1, 0)


def test_life_safety_retries_for_minutes_routine_work_for_hours_then_nobody_is_reached(world, cloud):
    desk, dispatcher, clock, sessions = world
    clock.now = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)  # noon in Shanghai: nobody's quiet hours
    cloud.replies["sms"] = ["rate_limit"] * 100
    urgent, routine = open_order(desk, clock, Priority.LIFE_SAFETY), open_order(desk, clock, Priority.MAINTENANCE, 2)
    dispatcher.send_due()  # both group-robot messages are refused: each hands over to SMS
    dispatcher.send_due()  # SMS is rate limited: retried later
    for _ in range(8):  # 160 s pass: past life safety's 120 s window, far inside maintenance's 4 h
        clock.advance(seconds=20)
        dispatcher.send_due()
    last_urgent = notes(sessions, urgent)[-1]
    assert (last_urgent.channel, last_urgent.status, last_urgent.undeliverable) == ("sms", "failed", True)
    assert last_urgent.attempts >= 2 and "isv.BUSINESS_LIMIT_CONTROL" in last_urgent.last_error
    assert notes(sessions, routine)[-1].status == "pending"  # still being tried
    assert dispatcher.stats.undeliverable == 1


def test_quiet_hours_hold_routine_messages_until_morning_but_not_life_safety(world):
    desk, _dispatcher, clock, sessions = world  # 00:00 in Shanghai; quiet 22:00-07:00
    urgent, routine = open_order(desk, clock, Priority.LIFE_SAFETY), open_order(desk, clock, Priority.MAINTENANCE, 2)
    assert notes(sessions, urgent)[0].next_attempt_at == clock.now
    assert notes(sessions, routine)[0].next_attempt_at == datetime(2026, 11, 25, 23, 0, tzinfo=UTC)  # 07:00 there


def test_an_unacknowledged_life_safety_order_escalates_by_phone_call(world, cloud):
    desk, dispatcher, clock, sessions = world
    order = open_order(desk, clock, Priority.LIFE_SAFETY)
    with desk.unit_of_work() as work:
        from workorders.service import get

        desk.notify(work.session, get(work.session, order), "still unacknowledged", [WANG], clock.now,
                    escalation=True)
    call = notes(sessions, order)[-1]
    assert (call.channel, call.chain[0]) == ("voice", ["sms", "13700137001"])
    dispatcher.send_due()
    assert cloud.accepted["voice"][0]["CalledNumber"] == "13700137001"


def test_a_person_no_channel_reaches_is_undeliverable_at_once(world):
    desk, dispatcher, clock, sessions = world
    nobody = Person(id="zhang", name="SMS only, but no phone", channels=["sms"])
    order = open_order(desk, clock, Priority.LIFE_SAFETY)
    with desk.unit_of_work() as work:
        from workorders.service import get

        desk.notify(work.session, get(work.session, order), "assigned to you", [nobody], clock.now)
    dispatcher.send_due()
    [only] = notes(sessions, order, "zhang")
    assert only.undeliverable and "no configured channel reaches" in only.last_error


def test_operators_see_what_reached_nobody_in_the_api_and_the_counters(alert_service, rules_file, cloud, publisher,
                                                                       unique):
    import time

    import yaml

    from simulator.fleet import Fleet
    from tests.alert_fixtures import OPERATOR, api
    from tests.conftest import wait_for
    from tests.notifications.fake_providers import ALI_ID, ALI_SECRET

    data = yaml.safe_load(rules_file.read_text())
    for person in data["oncall"]["people"]:
        person.update(channels=["sms"], phone="13700137001")
    rules_file.write_text(yaml.safe_dump(data, sort_keys=False))
    cloud.replies["sms"] = ["template"] * 10  # the SMS template is not approved (yet)
    runtime = alert_service(sms_endpoint=f"{cloud.url}/sms/", sms_access_key_id=ALI_ID,
                            sms_access_key_secret=ALI_SECRET, sms_sign_name="物业服务", sms_template_code="SMS_1")
    publisher.publish(Fleet(seed=3, prefix=unique).inject("passengers_trapped", "s1b1-el1",
                                                          now_ms=int(time.time() * 1000)))
    http, staff = api(runtime), {"Authorization": f"Bearer {OPERATOR}"}
    lost = lambda: http.get("/notifications", params={"undeliverable": "true"}, headers=staff).json()  # noqa: E731
    assert wait_for(lambda: len(lost()) >= 1, 20)
    assert lost()[0]["channel"] == "sms" and "isv.SMS_TEMPLATE_ILLEGAL" in lost()[0]["last_error"]
    assert http.get("/stats", headers=staff).json()["notifications_undeliverable"] >= 1
    assert "community_notifications_undeliverable" in http.get("/metrics", headers=staff).text


def test_each_person_is_written_to_in_their_own_language_and_the_office_in_the_sites(world):
    desk, _dispatcher, clock, sessions = world  # the desk's default language: Chinese
    order = open_order(desk, clock, Priority.LIFE_SAFETY)
    english = Person(id="li", name="Li", phone="13700137002", channels=["sms"], language="en")
    with desk.unit_of_work() as work:
        from workorders.service import get

        desk.notify(work.session, get(work.session, order), "assigned to you", [english], clock.now)
    chinese_note, english_note = notes(sessions, order)[0], notes(sessions, order, "li")[0]
    assert chinese_note.subject.startswith("【生命安全】新工单：") and "电梯困人" not in chinese_note.subject
    assert english_note.subject.startswith("[life safety] assigned to you: ")
    assert (chinese_note.body["language"], english_note.body["language"]) == ("zh_CN", "en")
    desk.site_languages["site1"] = "en"  # the register says the site's people read English
    later = open_order(desk, clock, Priority.MAINTENANCE, 2)
    assert notes(sessions, later)[0].subject.startswith("[maintenance] new work order")
