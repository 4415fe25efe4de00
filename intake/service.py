"""Requests from people: checked in full before anything is stored, then one work order in the same loop as device
faults (``workorders.flows.WorkOrderDesk``), with photos kept as files beside the database."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from pathlib import Path

from PIL import Image, UnidentifiedImageError
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.i18n import _
from devices.models import Device
from intake.models import Attachment, IntakeConfig
from notices.models import Scope
from people.models import Role, User
from people.service import Principal
from workorders import service as orders
from workorders.flows import NewOrder, WorkOrderDesk
from workorders.models import REQUEST, Status, WorkOrder

FORMATS = {"JPEG": ("image/jpeg", "jpg"), "PNG": ("image/png", "png"), "WEBP": ("image/webp", "webp")}
MAX_PIXELS = 40_000_000  # a decompression bomb is refused, not decoded


class RequestError(ValueError):
    """Bad input: the message says what to fix (the API answers 4xx with it)."""


class NotYourRequest(PermissionError):
    pass


@dataclass(frozen=True)
class Photo:
    data: bytes
    content_type: str
    extension: str


def read_uploads(files: Iterable[object], limit: int) -> list[bytes]:
    """The bytes of uploaded files (FastAPI ``UploadFile``s), at most ``limit`` + 1 of each, so an oversized one is
    still recognised as such; empty file fields, as a form sends them, are skipped."""
    data = (getattr(upload, "file", upload).read(limit + 1) for upload in files)
    return [raw for raw in data if raw]


def clean_photo(raw: bytes, limit: int) -> Photo:
    """A JPEG, PNG or WebP image, decoded in full and encoded again: that drops EXIF (locations, camera data) and
    anything hidden after the image. Anything else is refused with the reason."""
    if len(raw) > limit:
        raise RequestError(f"a photo is larger than {limit // 1024} KiB")
    try:
        with Image.open(io.BytesIO(raw)) as image:
            if image.format not in FORMATS:
                raise RequestError(f"a photo must be JPEG, PNG or WebP, not {image.format or 'unknown'}")
            if image.width * image.height > MAX_PIXELS:
                raise RequestError("a photo has too many pixels")
            image.load()
            content_type, extension = FORMATS[image.format]
            out = io.BytesIO()
            clean = image.convert("RGB") if image.format == "JPEG" and image.mode not in ("RGB", "L") else image
            clean.save(out, format=image.format)
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError, ValueError) as err:
        if isinstance(err, RequestError):
            raise
        raise RequestError("a photo is not a readable JPEG, PNG or WebP image") from None
    return Photo(out.getvalue(), content_type, extension)


@dataclass(frozen=True)
class NewRequest:
    site: str
    building: str
    unit: str | None
    category: str
    description: str
    reporter: str
    reporter_phone: str | None
    channel: str
    source: str  # owner | front_desk | integration


def submit(desk: WorkOrderDesk, intake: IntakeConfig, attachments_dir: Path, request: NewRequest,
           photos: list[bytes] = (), request_key: str | None = None) -> tuple[WorkOrder, bool]:
    """Open the work order of a request; returns (order, created). A repeated ``request_key`` returns the order it
    made the first time. Everything is checked before anything is written."""
    category = _check(intake, request, photos)
    cleaned = [clean_photo(raw, intake.max_photo_bytes) for raw in photos]
    if request_key is not None:
        existing = _by_key(desk, request_key)
        if existing is not None:
            return existing, False
    stored = _store(attachments_dir, cleaned)
    now = desk.clock()
    try:
        with desk.unit_of_work() as work:
            order = desk.open(work, NewOrder(
                key=None, rule_id=f"request_{request.category}", device_id=request.unit or "common area",
                kind=REQUEST, site=request.site, building=request.building, unit=request.unit, title=category.title,
                priority=category.priority, skill=category.skill, scope=_scope(request, category),
                detail=request.description[:500], service=category.service,
                individual=request.unit is not None, titles=category.titles), now)
            order.source, order.channel, order.category = request.source, request.channel, request.category
            order.description, order.reporter = request.description, request.reporter
            order.reporter_phone, order.request_key = request.reporter_phone, request_key
            for (name, photo) in stored:
                work.session.add(Attachment(work_order_id=order.id, stored_as=name, content_type=photo.content_type,
                                            size=len(photo.data), created_at=now))
        return order, True
    except IntegrityError:  # the same key, sent twice at once: the other one won
        _unstore(attachments_dir, stored)
        existing = _by_key(desk, request_key) if request_key else None
        if existing is None:
            raise
        return existing, False
    except Exception:
        _unstore(attachments_dir, stored)
        raise


def _scope(request: NewRequest, category) -> Scope:  # noqa: ANN001 - a Category
    """Who hears of it: the unit that asked; for a shared facility (``where: building``) the whole building; a
    common-area complaint, nobody but the staff."""
    if request.unit:
        return Scope.UNIT
    return Scope.BUILDING if category.where == "building" else Scope.NONE


def _check(intake: IntakeConfig, request: NewRequest, photos: list[bytes]):  # noqa: ANN202 - a Category
    try:
        category = intake.category(request.category)
    except ValueError as err:
        raise RequestError(str(err)) from None
    if category.where == "unit" and not request.unit:
        raise RequestError(f"{category.title!r} is reported for a unit: give the unit")
    if category.where == "building" and request.unit:
        raise RequestError(f"{category.title!r} concerns a common area: give no unit")
    if len(request.description.strip()) < 3:
        raise RequestError("describe the problem (at least 3 characters)")
    if len(photos) > intake.max_photos:
        raise RequestError(f"at most {intake.max_photos} photos")
    return category


def _by_key(desk: WorkOrderDesk, key: str) -> WorkOrder | None:
    with desk.sessions() as session:
        return session.scalar(select(WorkOrder).where(WorkOrder.request_key == key))


def _store(directory: Path, photos: list[Photo]) -> list[tuple[str, Photo]]:
    directory.mkdir(parents=True, exist_ok=True)
    stored = []
    for photo in photos:
        name = f"{uuid.uuid4().hex}.{photo.extension}"
        (directory / name).write_bytes(photo.data)
        stored.append((name, photo))
    return stored


def _unstore(directory: Path, stored: list[tuple[str, Photo]]) -> None:
    for name, _photo in stored:
        (directory / name).unlink(missing_ok=True)


# --- what an owner may see and do ---
def owner_may_see(me: Principal, order: WorkOrder) -> bool:
    """An owner's own requests, and requests the front desk recorded for their unit."""
    return (me.role is Role.OWNER and order.kind == REQUEST and order.site == me.site
            and order.building == me.building and (order.reporter == me.username
                                                  or (order.unit is not None and order.unit == me.unit)))


def may_view(me: Principal, order: WorkOrder) -> bool:
    """A request (and its photos) is for its owner, staff, and the technicians of its site."""
    return owner_may_see(me, order) or (me.role in (Role.STAFF, Role.TECHNICIAN) and me.may_work_site(order.site))


def mine(session: Session, me: Principal, limit: int = 50) -> list[WorkOrder]:
    unit = WorkOrder.unit == me.unit if me.unit else WorkOrder.unit.is_(None)
    query = (select(WorkOrder).where(WorkOrder.kind == REQUEST, WorkOrder.site == me.site,
                                     WorkOrder.building == me.building,
                                     or_(WorkOrder.reporter == me.username, unit))
             .order_by(WorkOrder.id.desc()).limit(limit))
    if not me.unit:
        query = query.where(WorkOrder.reporter == me.username)
    return list(session.scalars(query))


def owned(session: Session, me: Principal, order_id: int) -> WorkOrder:
    order = orders.get(session, order_id)
    if not owner_may_see(me, order):
        raise NotYourRequest(f"request {order_id} is not yours")
    return order


def not_fixed(desk: WorkOrderDesk, intake: IntakeConfig, me: Principal, order_id: int, comment: str) -> WorkOrder:
    """The owner says the problem is still there: reopen, within the window after it was resolved."""
    with desk.sessions() as session:
        order = owned(session, me, order_id)
    if order.status not in (Status.RESOLVED.value, Status.CLOSED.value) or order.resolved_at is None:
        raise orders.TransitionError(f"request {order_id} is {order.status}: it can be reopened once resolved")
    if desk.clock() - order.resolved_at > timedelta(hours=intake.reopen_window_h):
        raise orders.TransitionError(f"request {order_id} was resolved more than {intake.reopen_window_h:.0f} h "
                                     "ago: report a new problem")
    return desk.reopen(order_id, me.username, f"not fixed: {comment}")


def rate(desk: WorkOrderDesk, me: Principal, order_id: int, rating: int, comment: str | None) -> WorkOrder:
    """The owner's own rating: recorded as the follow-up, and it closes a resolved order."""
    with desk.sessions() as session:
        owned(session, me, order_id)
    return desk.follow_up(order_id, me.username, rating, comment)


def photo_ids(session: Session, order_ids: list[int]) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    if order_ids:
        for order_id, photo_id in session.execute(select(Attachment.work_order_id, Attachment.id).where(
                Attachment.work_order_id.in_(order_ids)).order_by(Attachment.id)).all():
            out.setdefault(order_id, []).append(photo_id)
    return out


def photo_for(session: Session, me: Principal, order_id: int, photo_id: int) -> tuple[str, str] | None:
    """(stored file name, content type) of a request's photo, if this viewer may see it: its owner, staff, or a
    technician of its site; None otherwise (or when there is none)."""
    order = session.get(WorkOrder, order_id)
    if order is None:
        return None
    allowed = may_view(me, order)
    row = session.scalar(select(Attachment).where(Attachment.id == photo_id, Attachment.work_order_id == order_id))
    return (row.stored_as, row.content_type) if allowed and row is not None else None


def known_places(session: Session) -> list[str]:
    """``site/building/unit`` of every owner account and ``site/building`` of every building with devices: what the
    front desk's unit search offers."""
    units = {f"{u.site}/{u.building}/{u.unit}" for u in session.scalars(select(User).where(
        User.role == Role.OWNER.value, User.unit.is_not(None)))}
    buildings = {f"{s}/{b}" for s, b in session.execute(select(Device.site, Device.building).distinct()).all()}
    buildings |= {p.rsplit("/", 1)[0] for p in units}
    return sorted(units | buildings)


def promise(order: WorkOrder, now: datetime, tz: tzinfo | None = None) -> str:
    """What the owner is told to expect (clock times in ``tz``, the site's zone)."""
    if order.status == Status.OPEN.value:
        return _("a technician answers by %(time)s", time=f"{order.ack_due_at.astimezone(tz):%H:%M}")
    if order.status in (Status.ACKNOWLEDGED.value, Status.IN_PROGRESS.value):
        return _("fixed by %(time)s", time=f"{order.resolve_due_at.astimezone(tz):%Y-%m-%d %H:%M}")
    if order.status == Status.RESOLVED.value:
        return _("resolved: please rate it, or tell us it is not fixed")
    return _("closed")
