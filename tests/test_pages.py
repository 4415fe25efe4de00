"""The technician and owner pages, driven in headless Chromium (Debian's chromium, via Playwright) against the
service on real servers. Screenshots are kept under test-artifacts/."""

import threading
import time
from pathlib import Path

import pytest
import uvicorn

from community.cli import app_for
from devtools.localservices import free_port
from simulator.fleet import Fleet
from tests.alert_fixtures import OPERATOR, add_people
from tests.conftest import wait_for

pytestmark = pytest.mark.integration
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
ARTIFACTS.mkdir(exist_ok=True)  # screenshots land here whichever test runs first


def orders(runtime) -> list:
    from sqlalchemy import text

    with runtime.sessions() as session:
        return session.execute(text("SELECT id FROM work_orders")).all()


def serve(runtime) -> tuple[uvicorn.Server, threading.Thread, int]:  # noqa: ANN001 - a Runtime
    """The service's HTTP app on a free port, started on a thread: (server, thread, port)."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app_for(runtime, OPERATOR), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    assert wait_for(lambda: server.started, 10)
    return server, thread, port


@pytest.fixture
def site(alert_service, publisher, unique):
    runtime = alert_service()
    add_people(runtime)
    server, thread, port = serve(runtime)
    fleet = Fleet(seed=14, prefix=unique)
    now = int(time.time() * 1000)
    publisher.publish([fleet.telemetry(d, now) for d in fleet.devices])
    publisher.publish(fleet.inject("passengers_trapped", "s1b1-el1", now_ms=now + 1))
    meter = next(d for d in fleet.devices if d.medium == "water" and d.building == "b1")
    publisher.publish(fleet.inject("continuous_flow", meter.device_id, now_ms=now + 1))
    assert wait_for(lambda: len(orders(runtime)) == 2), (orders(runtime), runtime.stats())
    yield runtime, f"http://127.0.0.1:{port}", meter
    server.should_exit = True
    thread.join(10)


def login(page, base: str, username: str, password: str) -> None:
    page.goto(f"{base}/ui/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


def test_technician_works_an_order_and_the_owner_sees_the_notice_change(site, browser):
    runtime, base, _meter = site
    ARTIFACTS.mkdir(exist_ok=True)
    tech = browser.new_page(viewport={"width": 1000, "height": 900})
    login(tech, base, "wang", "tech-password")
    tech.wait_for_url(f"{base}/ui/queue")
    tech.wait_for_selector("article[data-status=open]")
    card = tech.locator("article", has_text="passengers trapped")
    assert "life safety" in card.inner_text()
    assert "Acknowledge within" in card.locator(".sla").inner_text()
    tech.screenshot(path=str(ARTIFACTS / "technician-queue.png"), full_page=True)

    owner = browser.new_page(viewport={"width": 390, "height": 844})  # a phone
    login(owner, base, "owner_b1", "owner-password")
    owner.wait_for_url(f"{base}/ui/notices")
    assert "passengers trapped" in owner.inner_text("main")
    assert "fixed at" not in owner.inner_text("main")

    for action in ("acknowledge", "start", "resolve"):
        card = tech.locator("article", has_text="passengers trapped")
        card.locator("input[name=note]").fill(f"{action} from the page")
        card.locator(f"button[value={action}]").click()
        tech.wait_for_selector(f"text={action} recorded")
    assert tech.locator("article", has_text="passengers trapped").count() == 0  # resolved: off the queue
    with runtime.sessions() as session:
        from sqlalchemy import text

        notes = session.execute(text("SELECT actor, action, note FROM work_order_events WHERE actor = 'wang' "
                                     "AND action <> 'assigned' ORDER BY id")).all()
    # (when the rota had li on duty this week, wang's acknowledging also assigned the order to him: not counted)
    assert [tuple(n) for n in notes] == [("wang", a, f"{a} from the page") for a in ("acknowledge", "start",
                                                                                     "resolve")]
    owner.reload()
    assert "fixed at" in owner.inner_text("main")
    owner.screenshot(path=str(ARTIFACTS / "owner-notices.png"), full_page=True)


def test_owner_never_sees_another_units_notice_and_pages_need_a_login(site, browser):
    _runtime, base, meter = site
    page = browser.new_page()
    page.goto(f"{base}/ui/queue")
    assert page.url.endswith("/ui/login")  # no cookie: back to the login page
    login(page, base, "owner_b1", "wrong-password")
    assert "Wrong username or password" in page.inner_text("main")
    login(page, base, "owner_b1", "owner-password")  # unit 0201 of building b1
    page.wait_for_url(f"{base}/ui/notices")
    text = page.inner_text("main")
    assert "passengers trapped" in text and f"Unit {meter.unit}" not in text
    page.goto(f"{base}/ui/queue")
    assert page.url.endswith("/ui/notices")  # owners have no queue
    other = browser.new_page()
    login(other, base, "owner_b1_0101", "owner-password")
    other.wait_for_url(f"{base}/ui/notices")
    assert f"Unit {meter.unit}" in other.inner_text("main")
    neighbour = browser.new_page()
    login(neighbour, base, "owner_b2", "owner-password")
    neighbour.wait_for_url(f"{base}/ui/notices")
    assert "No notices" in neighbour.inner_text("main")


def test_an_owner_reports_a_leak_with_a_photo_a_technician_works_it_and_the_owner_rates_or_reopens(site, browser,
                                                                                                  tmp_path):
    """The closed loop for people, in the browser: report (phone) -> queue (technician) -> rating -> closed; and a
    second request the owner says is not fixed, which comes back to the queue."""
    import io

    from PIL import Image

    runtime, base, _meter = site
    photo = tmp_path / "leak.jpg"
    Image.new("RGB", (64, 48), (30, 90, 200)).save(photo, "JPEG")
    owner = browser.new_page(viewport={"width": 390, "height": 844})
    login(owner, base, "owner_b1_0101", "owner-password")
    owner.wait_for_url(f"{base}/ui/notices")

    def report(description: str) -> None:
        owner.locator("#report summary").click() if not owner.locator("#report[open]").count() else None
        owner.select_option("select[name=category]", "unit_repair")
        owner.select_option("select[name=where]", "unit")
        owner.fill("textarea[name=description]", description)
        owner.set_input_files("input[name=photos]", str(photo))
        owner.click("#report button[type=submit]")
        owner.wait_for_selector("text=sent: a technician answers by")

    report("water drips from the bathroom ceiling")
    report("the kitchen tap will not stop")
    assert owner.locator("article.request").count() == 2
    ARTIFACTS.mkdir(exist_ok=True)
    owner.screenshot(path=str(ARTIFACTS / "owner-report.png"), full_page=True)

    tech = browser.new_page(viewport={"width": 1000, "height": 900})
    login(tech, base, "wang", "tech-password")
    tech.wait_for_url(f"{base}/ui/queue")
    card = tech.locator("article", has_text="water drips from the bathroom ceiling")
    assert "reported by owner_b1_0101 (app)" in card.inner_text()
    with tech.expect_response(lambda r: "/photos/" in r.url) as seen:
        tech.evaluate("url => fetch(url)", card.locator("a", has_text="photo 1").get_attribute("href"))
    assert seen.value.status == 200 and Image.open(io.BytesIO(seen.value.body())).format == "JPEG"
    tech.screenshot(path=str(ARTIFACTS / "technician-request.png"), full_page=True)
    for description in ("water drips from the bathroom ceiling", "the kitchen tap will not stop"):
        for action in ("acknowledge", "start", "resolve"):
            tech.locator("article", has_text=description).locator(f"button[value={action}]").click()
            tech.wait_for_selector(f"text={action} recorded")

    owner.reload()
    first = owner.locator("article.request", has_text="bathroom ceiling")
    first.locator("select[name=rating]").select_option("4")
    first.locator("button", has_text="Rate").click()
    owner.wait_for_selector("text=thank you for your rating")
    assert owner.locator("article.request", has_text="bathroom ceiling").get_attribute("data-status") == "closed"
    second = owner.locator("article.request", has_text="kitchen tap")
    second.locator("input[name=comment][required]").fill("it drips again")
    second.locator("button", has_text="Not fixed").click()
    owner.wait_for_selector("text=is open again")
    assert owner.locator("article.request", has_text="kitchen tap").get_attribute("data-status") == "open"
    owner.screenshot(path=str(ARTIFACTS / "owner-requests-after.png"), full_page=True)
    tech.reload()
    assert "reopened 1× (not fixed)" in tech.locator("article", has_text="kitchen tap").inner_text()
    with runtime.sessions() as session:
        from sqlalchemy import text

        rows = session.execute(text("SELECT description, status, rating FROM work_orders WHERE kind = 'request' "
                                    "ORDER BY id")).all()
    assert [tuple(r) for r in rows] == [("water drips from the bathroom ceiling", "closed", 4),
                                        ("the kitchen tap will not stop", "open", None)]


def test_the_front_desk_records_a_call_for_the_right_technician_who_sees_it_all_and_staff_follow_it_up(site,
                                                                                                      browser):
    """A call, typed with the keyboard only, becomes an order for the on-call plumber; the order page shows the
    caller's phone and the history; after the repair the follow-up call is recorded and the order closes."""
    runtime, base, _meter = site
    desk = browser.new_page(viewport={"width": 1000, "height": 900})
    login(desk, base, "staff1", "staff-password")
    desk.goto(f"{base}/ui/desk")
    assert "site1/b2/0101" in desk.inner_html("datalist#places")  # the unit search knows the owners' units
    desk.keyboard.type("site1/b2/0101")  # the place field has the focus
    for text in ("Ms Liu", "+86 138 0000 0000"):
        desk.keyboard.press("Tab")
        desk.keyboard.type(text)
    desk.select_option("select[name=category]", "water_electricity")
    desk.fill("textarea[name=description]", "no water in the kitchen since 8 am")
    desk.keyboard.press("Tab")
    desk.keyboard.press("Enter")
    desk.wait_for_selector("text=recorded and dispatched to chen.tech")
    ARTIFACTS.mkdir(exist_ok=True)
    desk.screenshot(path=str(ARTIFACTS / "front-desk.png"), full_page=True)
    with runtime.sessions() as session:
        from sqlalchemy import text

        order_id, assignee, skill, channel = session.execute(text(
            "SELECT id, assignee, skill, channel FROM work_orders WHERE kind = 'request'")).one()
    assert (assignee, skill, channel) == ("chen.tech", "plumbing", "phone")

    tech = browser.new_page(viewport={"width": 390, "height": 844})
    login(tech, base, "wang", "tech-password")
    tech.wait_for_url(f"{base}/ui/queue")
    tech.click(f"a[href='/ui/orders/{order_id}']")
    tech.wait_for_url(f"{base}/ui/orders/{order_id}")
    page = tech.inner_text("main")
    assert "no water in the kitchen" in page and "+86 138 0000 0000" in page and "Ms Liu (phone)" in page
    assert "routine-basic-individual" in page or "urgent-basic-individual" in page
    for action in ("start", "resolve"):
        tech.goto(f"{base}/ui/orders/{order_id}")
        tech.click(f"button[value={action}]")
        tech.wait_for_selector(f"text={action} recorded")
    tech.goto(f"{base}/ui/orders/{order_id}")
    history = tech.inner_text("ol.history")
    assert "created" in history and "start" in history and "resolve" in history
    tech.screenshot(path=str(ARTIFACTS / "order-detail.png"), full_page=True)

    desk.goto(f"{base}/ui/follow-up")
    card = desk.locator(f"#order-{order_id}")
    card.locator("select[name=outcome]").select_option("no_answer")
    card.locator("button").click()
    desk.wait_for_selector("text=follow-up recorded, closed")
    with runtime.sessions() as session:
        from sqlalchemy import text

        assert session.execute(text(f"SELECT status FROM work_orders WHERE id = {order_id}")).scalar() == "closed"


def test_a_missed_resolve_timer_escalates_and_shows_on_the_order_page(alert_service, browser):
    """A request nobody resolves in time: the next rota level is told, and the order page says so."""
    from tests.alert_fixtures import FakeClock

    clock = FakeClock()
    runtime = alert_service(clock=clock)
    add_people(runtime)
    server, thread, port = serve(runtime)
    try:
        from intake.service import NewRequest, submit

        order, _ = submit(runtime.orders, runtime.alert_config.intake, runtime.settings.data_dir / "attachments",
                          NewRequest(site="site1", building="b1", unit="0201", category="unit_repair",
                                     description="the heating does not work", reporter="Mr Zhao",
                                     reporter_phone=None, channel="walk_in", source="front_desk"))
        runtime.orders.transition(order.id, "start", "chen", person="chen.tech")
        clock.advance(hours=25)  # routine-basic: resolve within 24 h
        with runtime.sessions() as session:
            from sqlalchemy import text

            def escalated() -> bool:
                return bool(session.execute(text(
                    f"SELECT 1 FROM work_order_events WHERE work_order_id = {order.id} "
                    "AND action = 'escalated_resolve'")).first())

            assert wait_for(escalated, 20)
        page = browser.new_page()
        login(page, f"http://127.0.0.1:{port}", "staff1", "staff-password")
        page.goto(f"http://127.0.0.1:{port}/ui/orders/{order.id}")
        history = page.inner_text("ol.history")
        assert "escalated: not resolved in time" in history and "told sun.lead" in history
        assert "overdue" in page.inner_text(".sla")
        page.screenshot(path=str(ARTIFACTS / "order-escalated.png"), full_page=True)
    finally:
        server.should_exit = True
        thread.join(10)


def test_a_new_owner_sets_a_password_with_the_invite_code_on_their_phone(alert_service, browser):
    from people.models import Role
    from people.service import create_invite, create_user

    runtime = alert_service()
    with runtime.sessions.begin() as session:
        create_user(session, "13700137001", None, Role.OWNER, site="site1", building="b1", unit="1-0101",
                    name="王芳", phone="13700137001")
        code, _ = create_invite(session, "13700137001", runtime.clock())
    server, thread, port = serve(runtime)
    base = f"http://127.0.0.1:{port}"
    try:
        page = browser.new_page(viewport={"width": 390, "height": 844})
        page.goto(f"{base}/ui/login")
        page.click("text=Set your password with your invite code")
        page.fill("input[name=username]", "137 0013 7001")
        page.fill("input[name=code]", "WRON-GCOD")
        page.fill("input[name=password]", "wang-fang-2026")
        page.fill("input[name=again]", "wang-fang-2026")
        page.click("button[type=submit]")
        assert "Wrong or expired invite code." in page.content()
        page.fill("input[name=username]", "137 0013 7001")
        page.fill("input[name=code]", code.lower())
        page.fill("input[name=password]", "wang-fang-2026")
        page.fill("input[name=again]", "wang-fang-2026")
        page.screenshot(path=str(ARTIFACTS / "owner-activate.png"), full_page=True)
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/ui/notices*")
        assert "Your password is set." in page.content()
        login(page, base, "+86 137-0013-7001", "wang-fang-2026")  # the phone, written any way
        page.wait_for_url(f"{base}/ui/notices*")
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.mark.parametrize("locale", ["zh-CN", "en-US"])
def test_the_pages_in_both_languages_follow_the_browser_and_the_switch(site, browser, locale):
    runtime, base, _meter = site
    chinese = locale == "zh-CN"
    context = browser.new_context(locale=locale, viewport={"width": 390, "height": 844})
    tech = context.new_page()
    login(tech, base, "wang", "tech-password")
    tech.wait_for_url(f"{base}/ui/queue")
    text = tech.inner_text("body")
    assert ("我的待办工单" in text and "电梯困人" in text and "生命安全" in text) if chinese else \
        ("My open orders" in text and "passengers trapped" in text and "life safety" in text)
    tech.screenshot(path=str(ARTIFACTS / f"queue-{locale}.png"), full_page=True)
    tech.click("article a[href^='/ui/orders/']")
    body = tech.inner_text("body")
    assert ("处理记录" in body and "确认时限" in body) if chinese else \
        ("History" in body and "Acknowledge within" in body)
    tech.screenshot(path=str(ARTIFACTS / f"order-{locale}.png"), full_page=True)
    owner = context.new_page()
    login(owner, base, "owner_b1", "owner-password")
    owner.wait_for_url(f"{base}/ui/notices")
    notices = owner.inner_text("body")
    assert ("我要报事" in notices and "电梯困人" in notices and "出发" in notices) if chinese else \
        ("Report a problem" in notices and "passengers trapped" in notices and "dispatched at" in notices)
    owner.screenshot(path=str(ARTIFACTS / f"owner-notices-{locale}.png"), full_page=True)
    other = "English" if chinese else "中文"
    owner.click(f"text={other}")  # the switch, remembered in a cookie
    owner.wait_for_load_state()
    switched = owner.inner_text("body")
    assert ("Report a problem" in switched) if chinese else ("我要报事" in switched)
    owner.goto(f"{base}/ui/notices")
    assert ("Report a problem" in owner.inner_text("body")) if chinese else ("我要报事" in owner.inner_text("body"))
    context.close()


def test_the_daily_report_reads_in_both_languages_on_a_phone(site, browser, tmp_path):
    from datetime import datetime

    from dashboards.kpi_report import build

    runtime, _base, _meter = site
    zones = runtime.orders.zones
    report = build(runtime.sessions, datetime.now(zones.of("site1")).date(), zones)  # today on the site's clock
    page = browser.new_page(viewport={"width": 390, "height": 844})
    for lang, expected in (("zh_CN", ("每日KPI报告", "设施完好率", "新建工单")),
                           ("en", ("Daily KPI report", "Facility intact rate", "orders opened"))):
        _csv, html = report.write(tmp_path / lang, lang)
        page.goto(html.as_uri())
        text = page.inner_text("body")
        assert all(word in text for word in expected), (lang, text[:300])
        page.screenshot(path=str(ARTIFACTS / f"report-{lang}.png"), full_page=True)


def test_the_api_docs_work_without_internet(alert_service, browser):
    runtime = alert_service()
    server, thread, port = serve(runtime)
    base = f"http://127.0.0.1:{port}"
    outside: list[str] = []
    try:
        page = browser.new_page(viewport={"width": 1280, "height": 900})

        def offline(route) -> None:  # noqa: ANN001 - a site network: nothing but the service answers
            if route.request.url.startswith(base):
                route.continue_()
            else:
                outside.append((route.request.resource_type, route.request.url))
                route.abort()

        page.route("**/*", offline)
        for path, marker in (("/docs", "/work-orders"), ("/redoc", "work-orders")):
            page.goto(f"{base}{path}")
            page.wait_for_selector(f"text={marker}", timeout=15_000)
            page.screenshot(path=str(ARTIFACTS / f"api{path.replace('/', '-')}.png"))
        # no script, style or font from a CDN (ReDoc's "powered by" logo may try, and is just not shown)
        assert [url for kind, url in outside if kind != "image"] == []
    finally:
        server.should_exit = True
        thread.join(10)
