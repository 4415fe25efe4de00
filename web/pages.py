"""Pages: a technician's queue (acknowledge / start / resolve with a note, SLA countdown) and an owner's notices
(mobile-friendly; only their building and unit).

Login sets an HttpOnly, SameSite=Strict cookie holding an API token, so pages and API share one credential store.
No CDN or front-end build: plain HTML, a few lines of inline CSS and JavaScript.
"""

from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from core.deps import LimitsDep, NowDep, SessionsDep, client_address
from intake import service as intake
from notices import service as notices
from people.models import Role
from people.service import LoginRefused, Principal, log_in, redeem_invite, resolve_principal, revoke_token
from workorders import service as orders
from workorders.models import REQUEST, Status, WorkOrder
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


def desk_zones(request: Request):  # noqa: ANN201 - core.zones.Zones
    return request.app.state.desk.zones


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
    zones = desk_zones(request)

    def local(at: datetime, site: str | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
        """A time on the clock of the site it concerns (stored in UTC)."""
        return zones.local(at, site).strftime(fmt)

    return templates.TemplateResponse(request, name, {
        "title": title, "flash": request.query_params.get("flash"), "local": local,
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


@router.get("/activate", response_class=HTMLResponse)
def activate_form(request: Request) -> Response:
    """A new owner (or anyone staff gave a code) sets their password with the invite code on their letter."""
    return _page(request, "activate.html", "Set your password", me=None)


@router.post("/activate")
def activate(request: Request, username: Annotated[str, Form(max_length=64)], code: Annotated[str, Form(max_length=20)],
             password: Annotated[str, Form(max_length=200)], again: Annotated[str, Form(max_length=200)],
             sessions: SessionsDep, limits: LimitsDep, now: NowDep) -> Response:
    if password != again:
        return _to("/ui/activate", error="The two passwords differ.")
    address = client_address(request)
    try:
        user = redeem_invite(sessions, limits, address, username, code, password, now)
        token, expires, role = log_in(sessions, limits, address, user.username, password, now)
    except LoginRefused as err:
        return _to("/ui/activate", error=f"{str(err).capitalize()}.")
    response = _to(_home_of(role), flash="Your password is set.")
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
        photos = intake.photo_ids(session, [o.id for o in mine + others if o.kind == REQUEST])
        places = {o.id: notices.place(session, o) for o in mine + others}
    return _page(request, "queue.html", "Work orders", me=me,
                 sections=[("My open orders", mine), ("Other open orders", others)],
                 slas={o.id: sla_of(o, now) for o in mine + others}, actions=ACTIONS, photos=photos, places=places)


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
        desk.transition(order_id, action, me.username, note.strip() or None, person=me.person_id)
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
    config = request.app.state.alert_config.intake
    with sessions() as session:
        rows = notices.latest(session, me, 50)
        requests = intake.mine(session, me)
    window = timedelta(hours=config.reopen_window_h)
    zones = desk_zones(request)
    return _page(request, "notices.html", "Notices", me=me, notices=rows, requests=requests,
                 promises={r.id: intake.promise(r, now, zones.of(r.site)) for r in requests},
                 categories=config.categories, max_photos=config.max_photos,
                 reopenable={r.id: bool(r.resolved_at and now - r.resolved_at <= window) for r in requests})


@router.post("/requests")
def report(request: Request, sessions: SessionsDep, limits: LimitsDep, now: NowDep, desk: DeskDep,
           category: Annotated[str, Form(max_length=32)], description: Annotated[str, Form(max_length=4000)],
           where: Annotated[str, Form(pattern="^(unit|common)$")] = "unit",
           photos: Annotated[list[UploadFile], File()] = ()) -> Response:  # noqa: B006 - FastAPI reads the default
    me = _me(request, sessions, now)
    if me is None or me.role is not Role.OWNER:
        return _to("/ui/login")
    if not limits.writes.allow(me.username):
        return _to("/ui/notices", error="Too many changes in a minute; try again shortly.")
    config = request.app.state.alert_config.intake
    new = intake.NewRequest(site=me.site, building=me.building, unit=me.unit if where == "unit" else None,
                            category=category, description=description, reporter=me.username, reporter_phone=None,
                            channel="app", source="owner")
    uploads = intake.read_uploads(photos, config.max_photo_bytes)
    try:
        order, _ = intake.submit(desk, config, request.app.state.attachments_dir, new, uploads)
    except intake.RequestError as err:
        return _to("/ui/notices", error=f"Not sent: {err}.")
    return _to("/ui/notices", flash=f"Request #{order.id} sent: {intake.promise(order, now, desk.zones.of(me.site))}.")


@router.post("/requests/{order_id}/rating")
def rate(request: Request, order_id: int, rating: Annotated[int, Form(ge=1, le=5)], sessions: SessionsDep,
         now: NowDep, desk: DeskDep, comment: Annotated[str, Form(max_length=2000)] = "") -> Response:
    return _owner_action(request, sessions, now, lambda me: intake.rate(desk, me, order_id, rating,
                                                                        comment.strip() or None),
                         f"#{order_id}: thank you for your rating.")


@router.post("/requests/{order_id}/not-fixed")
def not_fixed(request: Request, order_id: int, comment: Annotated[str, Form(min_length=1, max_length=2000)],
              sessions: SessionsDep, now: NowDep, desk: DeskDep) -> Response:
    config = request.app.state.alert_config.intake
    return _owner_action(request, sessions, now, lambda me: intake.not_fixed(desk, config, me, order_id, comment),
                         f"#{order_id} is open again: a technician will come back.")


def _owner_action(request: Request, sessions: SessionsDep, now: datetime, action, done: str) -> Response:  # noqa: ANN001
    me = _me(request, sessions, now)
    if me is None or me.role is not Role.OWNER:
        return _to("/ui/login")
    if not request.app.state.limits.writes.allow(me.username):
        return _to("/ui/notices", error="Too many changes in a minute; try again shortly.")
    try:
        action(me)
    except (LookupError, intake.NotYourRequest, TransitionError) as err:
        return _to("/ui/notices", error=str(err))
    return _to("/ui/notices", flash=done)


@router.get("/requests/{order_id}/photos/{photo_id}")
def photo(request: Request, order_id: int, photo_id: int, sessions: SessionsDep, now: NowDep) -> Response:
    """A request's photo for the page's viewer (cookie): its owner, staff, technicians of its site."""
    me = _me(request, sessions, now)
    if me is None:
        return _to("/ui/login")
    with sessions() as session:
        found = intake.photo_for(session, me, order_id, photo_id)
    if found is None:
        return Response(status_code=404)
    stored_as, content_type = found
    return FileResponse(request.app.state.attachments_dir / stored_as, media_type=content_type)


def _staff_or_tech(request: Request, sessions: SessionsDep, now: datetime) -> Principal | None:
    me = _me(request, sessions, now)
    return me if me is not None and me.role in (Role.STAFF, Role.TECHNICIAN) else None


@router.get("/orders/{order_id}", response_class=HTMLResponse)
def order_page(request: Request, order_id: int, sessions: SessionsDep, now: NowDep) -> Response:
    """An order in full: where, who reported it and how to reach them, photos, the SLA and the whole history."""
    me = _staff_or_tech(request, sessions, now)
    if me is None:
        return _to("/ui/login")
    with sessions() as session:
        try:
            order = orders.workable(session, me, order_id)
        except (LookupError, NotYours):
            return _to("/ui/queue", error=f"Work order {order_id} is not yours to see.")
        order.events  # noqa: B018 - load the history while the session is open
        photos = intake.photo_ids(session, [order.id]).get(order.id, [])
        place = notices.place(session, order)
    return _page(request, "order.html", f"Work order #{order.id}", me=me, o=order, photos=photos, place=place,
                 sla=sla_of(order, now), actions=ACTIONS.get(order.status, []))


@router.get("/desk", response_class=HTMLResponse)
def desk_page(request: Request, sessions: SessionsDep, now: NowDep) -> Response:
    """Front desk and hotline: record a call or a walk-in for any unit, with the keyboard only."""
    me = _me(request, sessions, now)
    if me is None or me.role is not Role.STAFF:
        return _to("/ui/login" if me is None else "/ui/queue")
    with sessions() as session:
        places = intake.known_places(session)
    return _page(request, "desk.html", "Front desk", me=me, places=places,
                 categories=request.app.state.alert_config.intake.categories,
                 channels=("phone", "walk_in", "wechat", "app", "email"))


@router.post("/desk")
def desk_record(request: Request, sessions: SessionsDep, limits: LimitsDep, now: NowDep, desk: DeskDep,
                place: Annotated[str, Form(max_length=200)], reporter: Annotated[str, Form(max_length=64)],
                category: Annotated[str, Form(max_length=32)], description: Annotated[str, Form(max_length=4000)],
                channel: Annotated[str, Form(pattern="^(phone|walk_in|wechat|app|email)$")] = "phone",
                reporter_phone: Annotated[str, Form(max_length=32)] = "") -> Response:
    me = _me(request, sessions, now)
    if me is None or me.role is not Role.STAFF:
        return _to("/ui/login")
    if not limits.writes.allow(me.username):
        return _to("/ui/desk", error="Too many changes in a minute; try again shortly.")
    parts = place.strip().split("/")
    if len(parts) not in (2, 3) or not all(parts):
        return _to("/ui/desk", error="Not recorded: give the place as site/building/unit or site/building.")
    new = intake.NewRequest(site=parts[0], building=parts[1], unit=parts[2] if len(parts) == 3 else None,
                            category=category, description=description, reporter=reporter.strip(),
                            reporter_phone=reporter_phone.strip() or None, channel=channel, source="front_desk")
    try:
        order, _ = intake.submit(desk, request.app.state.alert_config.intake, request.app.state.attachments_dir,
                                 new)
    except intake.RequestError as err:
        return _to("/ui/desk", error=f"Not recorded: {err}.")
    who = order.assignee or "the office (nobody on call for it)"
    promise = intake.promise(order, now, desk.zones.of(order.site))
    return _to("/ui/desk", flash=f"#{order.id} recorded and dispatched to {who}: {promise}.")


@router.get("/follow-up", response_class=HTMLResponse)
def follow_up_queue(request: Request, sessions: SessionsDep, now: NowDep) -> Response:
    """Resolved orders waiting for their follow-up call, oldest first."""
    me = _me(request, sessions, now)
    if me is None or me.role is not Role.STAFF:
        return _to("/ui/login" if me is None else "/ui/queue")
    with sessions() as session:
        waiting = orders.list_orders(session, me, status=Status.RESOLVED.value, limit=200)
    return _page(request, "followup.html", "Follow-up", me=me,
                 orders=sorted(waiting, key=lambda o: o.resolved_at))


@router.post("/follow-up/{order_id}")
def follow_up_record(request: Request, order_id: int, sessions: SessionsDep, now: NowDep, desk: DeskDep,
                     outcome: Annotated[str, Form(pattern="^([1-5]|no_answer)$")],
                     comment: Annotated[str, Form(max_length=2000)] = "") -> Response:
    me = _me(request, sessions, now)
    if me is None or me.role is not Role.STAFF:
        return _to("/ui/login")
    rating = None if outcome == "no_answer" else int(outcome)
    try:
        desk.follow_up(order_id, me.username, rating, comment.strip() or None)
    except (LookupError, TransitionError) as err:
        return _to("/ui/follow-up", error=str(err))
    return _to("/ui/follow-up", flash=f"#{order_id}: follow-up recorded, closed.")
