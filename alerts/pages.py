"""Server-rendered pages for people who do not live in Grafana: a technician's queue (acknowledge / start /
resolve with a note, SLA countdown) and an owner's notices (mobile-friendly; only their building and unit).

Login sets an HttpOnly, SameSite=Strict cookie holding an API token, so pages and API share one credential store.
No CDN or front-end build: plain HTML, a few lines of inline CSS and JavaScript.
"""

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import and_, delete, or_, select
from sqlalchemy.orm import sessionmaker

from alerts.auth import Principal, issue_token, token_digest, verify_password
from alerts.models import ApiToken, Notice, Role, Status, User, WorkOrder
from alerts.service import TRANSITIONS, AlertService, TransitionError
from alerts.views import check_login, resolve_principal
from community.limits import ApiLimits

COOKIE = "community_token"
OPEN = [Status.OPEN.value, Status.ACKNOWLEDGED.value, Status.IN_PROGRESS.value]
ACTIONS = {status.value: [a for a in ("acknowledge", "start", "resolve") if status in TRANSITIONS[a][0]]
           for status in Status}
templates = Jinja2Templates(directory=str(Path(__file__).with_name("templates")))


def sla_of(order: WorkOrder, now: datetime) -> dict:
    label, due = {
        Status.OPEN.value: ("Acknowledge within", order.ack_due_at),
        Status.ACKNOWLEDGED.value: ("Arrive within", order.arrive_due_at),
    }.get(order.status, ("Resolve within", order.resolve_due_at))
    seconds = (due - now).total_seconds()
    minutes = int(abs(seconds) // 60)
    text = f"{minutes // 60}h {minutes % 60}m " + ("overdue" if seconds < 0 else "left")
    return {"label": label, "due_iso": due.isoformat(), "seconds": seconds, "text": text}


def build_pages(sessions: sessionmaker, service: AlertService, operator_token: str,
                clock: Callable[[], datetime], limits: ApiLimits) -> APIRouter:
    router = APIRouter(prefix="/ui", include_in_schema=False)

    def me_of(request: Request) -> Principal | None:
        return resolve_principal(sessions, request.cookies.get(COOKIE), operator_token, clock)

    def to(path: str, **query: str) -> RedirectResponse:
        suffix = "&".join(f"{k}={quote(v)}" for k, v in query.items())
        return RedirectResponse(path + (f"?{suffix}" if suffix else ""), status_code=303)

    def home_of(me: Principal) -> str:
        return "/ui/notices" if me.role is Role.OWNER else "/ui/queue"

    def page(request: Request, name: str, title: str, **context: object) -> HTMLResponse:
        return templates.TemplateResponse(request, name, {
            "title": title, "flash": request.query_params.get("flash"),
            "error": request.query_params.get("error"), **context})

    @router.get("", response_class=HTMLResponse)
    def home(request: Request) -> Response:
        me = me_of(request)
        return to(home_of(me)) if me else to("/ui/login")

    @router.get("/login", response_class=HTMLResponse)
    def login_form(request: Request) -> Response:
        return page(request, "login.html", "Log in", me=None)

    @router.post("/login")
    def login(request: Request, username: Annotated[str, Form(max_length=64)],
              password: Annotated[str, Form(max_length=200)]) -> Response:
        try:
            check_login(limits, request.client.host if request.client else "-", username)
        except HTTPException as err:
            return to("/ui/login", error=f"Too many attempts: {err.detail}.")
        with sessions.begin() as session:
            user = session.get(User, username)
            if user is None or not verify_password(password, user.password_hash):
                limits.login_failures.allow(username)
                return to("/ui/login", error="Wrong username or password.")
            token, expires = issue_token(session, user.username, clock())
            role = Role(user.role)
        response = to("/ui/notices" if role is Role.OWNER else "/ui/queue")
        response.set_cookie(COOKIE, token, httponly=True, samesite="strict", path="/",
                            max_age=int((expires - clock()).total_seconds()))
        return response

    @router.post("/logout")
    def logout(request: Request) -> Response:
        token = request.cookies.get(COOKIE)
        if token:
            with sessions.begin() as session:
                session.execute(delete(ApiToken).where(ApiToken.token_hash == token_digest(token)))
        response = to("/ui/login", flash="Logged out.")
        response.delete_cookie(COOKIE, path="/")
        return response

    @router.get("/queue", response_class=HTMLResponse)
    def queue(request: Request) -> Response:
        me = me_of(request)
        if me is None:
            return to("/ui/login")
        if me.role is Role.OWNER:
            return to("/ui/notices")
        query = select(WorkOrder).where(WorkOrder.status.in_(OPEN)).order_by(WorkOrder.ack_due_at)
        query = me.only_my_sites(query, WorkOrder.site)
        with sessions() as session:
            orders = list(session.scalars(query))
        mine = [o for o in orders if me.person_id and o.assignee == me.person_id]
        others = [o for o in orders if o not in mine]
        now = clock()
        return page(request, "queue.html", "Work orders", me=me,
                    sections=[("My open orders", mine), ("Other open orders", others)],
                    slas={o.id: sla_of(o, now) for o in orders}, actions=ACTIONS)

    @router.post("/orders/{order_id}")
    def act(request: Request, order_id: int, action: Annotated[str, Form()],
            note: Annotated[str, Form(max_length=2000)] = "") -> Response:
        me = me_of(request)
        if me is None:
            return to("/ui/login")
        if me.role is Role.OWNER or action not in ("acknowledge", "start", "resolve"):
            return to("/ui/queue", error="Not allowed.")
        with sessions() as session:
            order = session.get(WorkOrder, order_id)
        if order is None or not me.may_work_site(order.site):
            return to("/ui/queue", error=f"Work order {order_id} is not yours to work.")
        if not limits.writes.allow(me.username):
            return to("/ui/queue", error="Too many changes in a minute; try again shortly.")
        try:
            service.transition(order_id, action, me.username, note.strip() or None)
        except TransitionError as err:
            return to("/ui/queue", error=str(err))
        return to("/ui/queue", flash=f"#{order_id}: {action} recorded.")

    @router.get("/notices", response_class=HTMLResponse)
    def notices(request: Request) -> Response:
        me = me_of(request)
        if me is None:
            return to("/ui/login")
        if me.role is not Role.OWNER:
            return to("/ui/queue")
        unit = Notice.unit.is_(None) if me.unit is None else or_(Notice.unit.is_(None), Notice.unit == me.unit)
        query = (select(Notice).where(and_(Notice.site == me.site, Notice.building == me.building), unit)
                 .order_by(Notice.id.desc()).limit(50))
        with sessions() as session:
            rows = list(session.scalars(query))
        return page(request, "notices.html", "Notices", me=me, notices=rows)

    return router
