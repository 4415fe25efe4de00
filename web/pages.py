"""Pages: a technician's queue (acknowledge / start / resolve with a note, SLA countdown) and an owner's notices
(mobile-friendly; only their building and unit).

Login sets an HttpOnly, SameSite=Strict cookie holding an API token, so pages and API share one credential store.
No CDN or front-end build: plain HTML, a few lines of inline CSS and JavaScript.
"""

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from core import i18n
from core.deps import LimitsDep, NowDep, SessionsDep, client_address
from core.i18n import N_, _, label, pick
from intake import service as intake
from notices import service as notices
from people.models import Role
from people.service import LoginRefused, Principal, log_in, redeem_invite, resolve_principal, revoke_token
from reports import render
from reports.document import build as build_report
from workorders import service as orders
from workorders.models import REQUEST, Status, WorkOrder
from workorders.service import FIELD_ACTIONS, TRANSITIONS, NotYours, TransitionError
from workorders.views import DeskDep

COOKIE = "community_token"
LANGUAGE_COOKIE = "community_lang"
ACTIONS = {status.value: [a for a in FIELD_ACTIONS if status in TRANSITIONS[a][0]] for status in Status}
templates = Jinja2Templates(directory=str(Path(__file__).with_name("templates")))
templates.env.add_extension("jinja2.ext.i18n")
templates.env.install_gettext_callables(  # the language of the request being rendered (core.i18n)
    gettext=lambda message: i18n.translations(i18n.current()).gettext(message),
    ngettext=lambda singular, plural, n: i18n.translations(i18n.current()).ngettext(singular, plural, n),
    newstyle=True)


async def _language(request: Request) -> None:
    """The page's language: ?lang= (kept in a cookie), the cookie, else for a logged-in person their own setting or
    their site's (``_page``), else the browser's, else the deployment's. Async, so the choice is in the request's
    context when the endpoint runs."""
    chosen = i18n.normalize(request.query_params.get("lang")) or i18n.normalize(request.cookies.get(LANGUAGE_COOKIE))
    request.state.language_chosen = chosen is not None
    i18n.set_language(chosen or i18n.from_accept_language(request.headers.get("accept-language"))
                      or request.app.state.desk.language)


router = APIRouter(prefix="/ui", include_in_schema=False, dependencies=[Depends(_language)])


def sla_of(order: WorkOrder, now: datetime) -> dict:
    what, due = {
        Status.OPEN.value: (_("Acknowledge within"), order.ack_due_at),
        Status.ACKNOWLEDGED.value: (_("Arrive within"), order.arrive_due_at),
    }.get(order.status, (_("Resolve within"), order.resolve_due_at))
    seconds = (due - now).total_seconds()
    minutes = int(abs(seconds) // 60)
    time = _("%(h)sh %(m)sm", h=minutes // 60, m=minutes % 60)
    text = _("%(time)s overdue", time=time) if seconds < 0 else _("%(time)s left", time=time)
    return {"label": what, "due_iso": due.isoformat(), "seconds": seconds, "text": text}


def title_of(order: WorkOrder) -> str:
    """The order's title in the page's language (the rules data's translation, saved on the order)."""
    return pick(order.titles, order.title)


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
    me = context.get("me")
    if me is not None and not request.state.language_chosen:  # their own setting, or their site's
        own = me.language or request.app.state.desk.site_languages.get(me.home_site or "")
        if own:
            i18n.set_language(own)
    lang, title = i18n.current(), _(title)

    def local(at: datetime, site: str | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
        """A time on the clock of the site it concerns (stored in UTC)."""
        return zones.local(at, site).strftime(fmt)

    response = templates.TemplateResponse(request, name, {
        "title": title, "flash": request.query_params.get("flash"), "local": local,
        "error": request.query_params.get("error"), "lang": lang, "languages": i18n.LANGUAGES, "label": label,
        "pick": pick, "title_of": title_of, "building_of": lambda o: _("building %(b)s", b=o.building),
        "notice_text": lambda n: (n.texts or {}).get(lang) or n.text,
        "countdown_words": {"h": _("h"), "m": _("m"), "s": _("s"), "overdue": _("%(time)s overdue"),
                            "left": _("%(time)s left")}, **context})
    if request.query_params.get("lang") and i18n.normalize(request.query_params["lang"]):
        response.set_cookie(LANGUAGE_COOKIE, lang, max_age=365 * 24 * 3600, samesite="lax", path="/")
    return response


@router.get("", response_class=HTMLResponse)
def home(request: Request, sessions: SessionsDep, now: NowDep) -> Response:
    me = _me(request, sessions, now)
    return _to(_home_of(me.role)) if me else _to("/ui/login")


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request) -> Response:
    return _page(request, "login.html", _("Log in"), me=None)


@router.post("/login")
def login(request: Request, username: Annotated[str, Form(max_length=64)],
          password: Annotated[str, Form(max_length=200)], sessions: SessionsDep, limits: LimitsDep,
          now: NowDep) -> Response:
    try:
        token, expires, role = log_in(sessions, limits, client_address(request), username, password, now)
    except LoginRefused as err:
        message = _("Too many attempts: %(reason)s.", reason=err) if err.retry_after is not None else \
            _("Wrong username or password.")
        return _to("/ui/login", error=message)
    response = _to(_home_of(role))
    response.set_cookie(COOKIE, token, httponly=True, samesite="strict", path="/", secure=_secure(request),
                        max_age=int((expires - now).total_seconds()))
    return response


@router.get("/activate", response_class=HTMLResponse)
def activate_form(request: Request) -> Response:
    """A new owner (or anyone staff gave a code) sets their password with the invite code on their letter."""
    return _page(request, "activate.html", _("Set your password"), me=None)


@router.post("/activate")
def activate(request: Request, username: Annotated[str, Form(max_length=64)], code: Annotated[str, Form(max_length=20)],
             password: Annotated[str, Form(max_length=200)], again: Annotated[str, Form(max_length=200)],
             sessions: SessionsDep, limits: LimitsDep, now: NowDep) -> Response:
    if password != again:
        return _to("/ui/activate", error=_("The two passwords differ."))
    address = client_address(request)
    try:
        user = redeem_invite(sessions, limits, address, username, code, password, now)
        token, expires, role = log_in(sessions, limits, address, user.username, password, now)
    except LoginRefused as err:
        return _to("/ui/activate", error=_("%(reason)s.", reason=_(str(err)).capitalize()))
    response = _to(_home_of(role), flash=_("Your password is set."))
    response.set_cookie(COOKIE, token, httponly=True, samesite="strict", path="/", secure=_secure(request),
                        max_age=int((expires - now).total_seconds()))
    return response


@router.post("/logout")
def logout(request: Request, sessions: SessionsDep) -> Response:
    token = request.cookies.get(COOKIE)
    if token:
        with sessions.begin() as session:
            revoke_token(session, token)
    response = _to("/ui/login", flash=_("Logged out."))
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
    return _page(request, "queue.html", N_("Work orders"), me=me,
                 sections=[(_("My open orders"), mine), (_("Other open orders"), others)],
                 slas={o.id: sla_of(o, now) for o in mine + others}, actions=ACTIONS, photos=photos, places=places)


@router.post("/orders/{order_id}")
def act(request: Request, order_id: int, action: Annotated[str, Form()], sessions: SessionsDep,
        limits: LimitsDep, now: NowDep, desk: DeskDep, note: Annotated[str, Form(max_length=2000)] = "") -> Response:
    me = _me(request, sessions, now)
    if me is None:
        return _to("/ui/login")
    if me.role is Role.OWNER or action not in FIELD_ACTIONS:
        return _to("/ui/queue", error=_("Not allowed."))
    with sessions() as session:
        try:
            orders.workable(session, me, order_id)
        except (LookupError, NotYours):
            return _to("/ui/queue", error=_("Work order %(id)s is not yours to work.", id=order_id))
    if not limits.writes.allow(me.username):
        return _to("/ui/queue", error=_("Too many changes in a minute; try again shortly."))
    try:
        desk.transition(order_id, action, me.username, note.strip() or None, person=me.person_id)
    except TransitionError as err:
        return _to("/ui/queue", error=str(err))
    return _to("/ui/queue", flash=_("#%(id)s: %(step)s recorded.", id=order_id, step=label(action)))


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
    return _page(request, "notices.html", N_("Notices"), me=me, notices=rows, requests=requests,
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
        return _to("/ui/notices", error=_("Too many changes in a minute; try again shortly."))
    config = request.app.state.alert_config.intake
    new = intake.NewRequest(site=me.site, building=me.building, unit=me.unit if where == "unit" else None,
                            category=category, description=description, reporter=me.username, reporter_phone=None,
                            channel="app", source="owner")
    uploads = intake.read_uploads(photos, config.max_photo_bytes)
    try:
        order, _created = intake.submit(desk, config, request.app.state.attachments_dir, new, uploads)
    except intake.RequestError as err:
        return _to("/ui/notices", error=_("Not sent: %(reason)s.", reason=err))
    return _to("/ui/notices", flash=_("Request #%(id)s sent: %(promise)s.", id=order.id,
                                      promise=intake.promise(order, now, desk.zones.of(me.site))))


@router.post("/requests/{order_id}/rating")
def rate(request: Request, order_id: int, rating: Annotated[int, Form(ge=1, le=5)], sessions: SessionsDep,
         now: NowDep, desk: DeskDep, comment: Annotated[str, Form(max_length=2000)] = "") -> Response:
    return _owner_action(request, sessions, now, lambda me: intake.rate(desk, me, order_id, rating,
                                                                        comment.strip() or None),
                         _("#%(id)s: thank you for your rating.", id=order_id))


@router.post("/requests/{order_id}/not-fixed")
def not_fixed(request: Request, order_id: int, comment: Annotated[str, Form(min_length=1, max_length=2000)],
              sessions: SessionsDep, now: NowDep, desk: DeskDep) -> Response:
    config = request.app.state.alert_config.intake
    return _owner_action(request, sessions, now, lambda me: intake.not_fixed(desk, config, me, order_id, comment),
                         _("#%(id)s is open again: a technician will come back.", id=order_id))


def _owner_action(request: Request, sessions: SessionsDep, now: datetime, action, done: str) -> Response:  # noqa: ANN001
    me = _me(request, sessions, now)
    if me is None or me.role is not Role.OWNER:
        return _to("/ui/login")
    if not request.app.state.limits.writes.allow(me.username):
        return _to("/ui/notices", error=_("Too many changes in a minute; try again shortly."))
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
            return _to("/ui/queue", error=_("Work order %(id)s is not yours to see.", id=order_id))
        order.events  # noqa: B018 - load the history while the session is open
        photos = intake.photo_ids(session, [order.id]).get(order.id, [])
        place = notices.place(session, order)
    return _page(request, "order.html", _("Work order #%(id)s", id=order.id), me=me, o=order, photos=photos,
                 place=place, sla=sla_of(order, now), actions=ACTIONS.get(order.status, []))


@router.get("/desk", response_class=HTMLResponse)
def desk_page(request: Request, sessions: SessionsDep, now: NowDep) -> Response:
    """Front desk and hotline: record a call or a walk-in for any unit, with the keyboard only."""
    me = _me(request, sessions, now)
    if me is None or me.role is not Role.STAFF:
        return _to("/ui/login" if me is None else "/ui/queue")
    with sessions() as session:
        places = intake.known_places(session)
    return _page(request, "desk.html", N_("Front desk"), me=me, places=places,
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
        return _to("/ui/desk", error=_("Too many changes in a minute; try again shortly."))
    parts = place.strip().split("/")
    if len(parts) not in (2, 3) or not all(parts):
        return _to("/ui/desk", error=_("Not recorded: give the place as site/building/unit or site/building."))
    new = intake.NewRequest(site=parts[0], building=parts[1], unit=parts[2] if len(parts) == 3 else None,
                            category=category, description=description, reporter=reporter.strip(),
                            reporter_phone=reporter_phone.strip() or None, channel=channel, source="front_desk")
    try:
        order, _created = intake.submit(desk, request.app.state.alert_config.intake, request.app.state.attachments_dir,
                                 new)
    except intake.RequestError as err:
        return _to("/ui/desk", error=_("Not recorded: %(reason)s.", reason=err))
    who = order.assignee or _("the office (nobody on call for it)")
    promise = intake.promise(order, now, desk.zones.of(order.site))
    return _to("/ui/desk", flash=_("#%(id)s recorded and dispatched to %(who)s: %(promise)s.", id=order.id, who=who,
                                   promise=promise))


@router.get("/follow-up", response_class=HTMLResponse)
def follow_up_queue(request: Request, sessions: SessionsDep, now: NowDep) -> Response:
    """Resolved orders waiting for their follow-up call, oldest first."""
    me = _me(request, sessions, now)
    if me is None or me.role is not Role.STAFF:
        return _to("/ui/login" if me is None else "/ui/queue")
    with sessions() as session:
        waiting = orders.list_orders(session, me, status=Status.RESOLVED.value, limit=200)
    return _page(request, "followup.html", N_("Follow-up"), me=me,
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
    return _to("/ui/follow-up", flash=_("#%(id)s: follow-up recorded, closed.", id=order_id))


@router.get("/reports/{site}/{day}", response_class=HTMLResponse)
def report_page(request: Request, site: str, day: str, sessions: SessionsDep, now: NowDep) -> Response:
    """A site's daily report in the viewer's language (the link the morning message carries); ``.pdf`` to print."""
    me = _staff_or_tech(request, sessions, now)
    if me is None:
        return _to("/ui/login")
    as_pdf = day.endswith(".pdf")
    try:
        when = date.fromisoformat(day.removesuffix(".pdf"))
    except ValueError:
        return Response(_("Not a day: %(day)s", day=day), status_code=404)
    if not me.may_work_site(site):
        return _to("/ui/queue", error=_("Not allowed."))
    lang = i18n.current()
    if not request.state.language_chosen:
        lang = request.app.state.desk.language_of(site, me.language)
    report = build_report(sessions, desk_zones(request).of(site), site, when)
    if as_pdf:
        return Response(render.to_pdf(report, lang), media_type="application/pdf",
                        headers={"Content-Disposition": f'inline; filename="report-{site}-{when}.pdf"'})
    return HTMLResponse(render.to_html(report, lang))
