"""Pages: a technician's queue (acknowledge / start / resolve with a note, SLA countdown) and an owner's notices
(mobile-friendly; only their building and unit).

Login sets an HttpOnly, SameSite=Strict cookie holding an API token, so pages and API share one credential store.
No CDN or front-end build: plain HTML, a few lines of inline CSS and JavaScript.
"""

from datetime import datetime
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from core.deps import LimitsDep, NowDep, SessionsDep, client_address
from notices import service as notices
from people.models import Role
from people.service import LoginRefused, Principal, log_in, resolve_principal, revoke_token
from workorders import service as orders
from workorders.models import Status, WorkOrder
from workorders.service import FIELD_ACTIONS, TRANSITIONS, NotYours, TransitionError
from workorders.views import DeskDep

COOKIE = "community_token"
ACTIONS = {status.value: [a for a in FIELD_ACTIONS if status in TRANSITIONS[a][0]] for status in Status}
templates = Jinja2Templates(directory=str(Path(__file__).with_name("templates")))
router = APIRouter(prefix="/ui", include_in_schema=False)


def sla_of(order: WorkOrder, now: datetime) -> dict:
    label, due = {
        Status.OPEN.value: ("Acknowledge within", order.ack_due_at),
        Status.ACKNOWLEDGED.value: ("Arrive within", order.arrive_due_at),
    }.get(order.status, ("Resolve within", order.resolve_due_at))
    seconds = (due - now).total_seconds()
    minutes = int(abs(seconds) // 60)
    text = f"{minutes // 60}h {minutes % 60}m " + ("overdue" if seconds < 0 else "left")
    return {"label": label, "due_iso": due.isoformat(), "seconds": seconds, "text": text}


def _me(request: Request, sessions: SessionsDep, now: NowDep) -> Principal | None:
    return resolve_principal(sessions, request.cookies.get(COOKIE), request.app.state.operator_token, now)


def _secure(request: Request) -> bool:
    """Cookies only over HTTPS in production (TLS ends at the reverse proxy in front of the service)."""
    return bool(getattr(request.app.state, "secure_cookies", False))


def _to(path: str, **query: str) -> RedirectResponse:
    suffix = "&".join(f"{k}={quote(v)}" for k, v in query.items())
    return RedirectResponse(path + (f"?{suffix}" if suffix else ""), status_code=303)


def _home_of(role: Role) -> str:
    return "/ui/notices" if role is Role.OWNER else "/ui/queue"


def _page(request: Request, name: str, title: str, **context: object) -> HTMLResponse:
    return templates.TemplateResponse(request, name, {
        "title": title, "flash": request.query_params.get("flash"),
        "error": request.query_params.get("error"), **context})


@router.get("", response_class=HTMLResponse)
def home(request: Request, sessions: SessionsDep, now: NowDep) -> Response:
    me = _me(request, sessions, now)
    return _to(_home_of(me.role)) if me else _to("/ui/login")


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request) -> Response:
    return _page(request, "login.html", "Log in", me=None)


@router.post("/login")
def login(request: Request, username: Annotated[str, Form(max_length=64)],
          password: Annotated[str, Form(max_length=200)], sessions: SessionsDep, limits: LimitsDep,
          now: NowDep) -> Response:
    try:
        token, expires, role = log_in(sessions, limits, client_address(request), username, password, now)
    except LoginRefused as err:
        message = f"Too many attempts: {err}." if err.retry_after is not None else "Wrong username or password."
        return _to("/ui/login", error=message)
    response = _to(_home_of(role))
    response.set_cookie(COOKIE, token, httponly=True, samesite="strict", path="/", secure=_secure(request),
                        max_age=int((expires - now).total_seconds()))
    return response


@router.post("/logout")
def logout(request: Request, sessions: SessionsDep) -> Response:
    token = request.cookies.get(COOKIE)
    if token:
        with sessions.begin() as session:
            revoke_token(session, token)
    response = _to("/ui/login", flash="Logged out.")
    response.delete_cookie(COOKIE, path="/", secure=_secure(request), httponly=True, samesite="strict")
    return response


@router.get("/queue", response_class=HTMLResponse)
def queue(request: Request, sessions: SessionsDep, now: NowDep) -> Response:
    me = _me(request, sessions, now)
    if me is None:
        return _to("/ui/login")
    if me.role is Role.OWNER:
        return _to("/ui/notices")
    with sessions() as session:
        mine, others = orders.open_queue(session, me)
    return _page(request, "queue.html", "Work orders", me=me,
                 sections=[("My open orders", mine), ("Other open orders", others)],
                 slas={o.id: sla_of(o, now) for o in mine + others}, actions=ACTIONS)


@router.post("/orders/{order_id}")
def act(request: Request, order_id: int, action: Annotated[str, Form()], sessions: SessionsDep,
        limits: LimitsDep, now: NowDep, desk: DeskDep, note: Annotated[str, Form(max_length=2000)] = "") -> Response:
    me = _me(request, sessions, now)
    if me is None:
        return _to("/ui/login")
    if me.role is Role.OWNER or action not in FIELD_ACTIONS:
        return _to("/ui/queue", error="Not allowed.")
    with sessions() as session:
        try:
            orders.workable(session, me, order_id)
        except (LookupError, NotYours):
            return _to("/ui/queue", error=f"Work order {order_id} is not yours to work.")
    if not limits.writes.allow(me.username):
        return _to("/ui/queue", error="Too many changes in a minute; try again shortly.")
    try:
        desk.transition(order_id, action, me.username, note.strip() or None)
    except TransitionError as err:
        return _to("/ui/queue", error=str(err))
    return _to("/ui/queue", flash=f"#{order_id}: {action} recorded.")


@router.get("/notices", response_class=HTMLResponse)
def owner_notices(request: Request, sessions: SessionsDep, now: NowDep) -> Response:
    me = _me(request, sessions, now)
    if me is None:
        return _to("/ui/login")
    if me.role is not Role.OWNER:
        return _to("/ui/queue")
    with sessions() as session:
        rows = notices.latest(session, me, 50)
    return _page(request, "notices.html", "Notices", me=me, notices=rows)
