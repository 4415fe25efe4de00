"""Requests over HTTP: owners report and follow their own (``/requests``), front-desk staff and integrations record
one for any unit (``POST /work-orders``, idempotent with an ``Idempotency-Key`` header)."""

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Header, HTTPException, Request, Response, UploadFile, status
from fastapi.responses import FileResponse
from sqlalchemy import select

from core.deps import LimitsDep, SessionsDep
from intake import service
from intake.models import Attachment, IntakeConfig, NotFixedIn, RatingIn, RequestIn
from intake.service import NewRequest, NotYourRequest, RequestError
from people.models import Role
from people.views import Me, require, throttle_writes
from workorders import service as orders
from workorders.models import WorkOrder, WorkOrderOut
from workorders.service import TransitionError
from workorders.views import DeskDep

router = APIRouter(tags=["requests"])


def _intake(request: Request) -> IntakeConfig:
    return request.app.state.alert_config.intake


def _attachments(request: Request) -> Path:
    return request.app.state.attachments_dir


IntakeDep = Annotated[IntakeConfig, Depends(_intake)]
AttachmentsDep = Annotated[Path, Depends(_attachments)]


def submitted(response: Response, result: tuple[WorkOrder, bool]) -> WorkOrder:
    order, created = result
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return order


def bad_request(err: RequestError) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(err))


@router.post("/requests", response_model=WorkOrderOut, status_code=status.HTTP_201_CREATED)
def report(response: Response, me: Me, limits: LimitsDep, desk: DeskDep, intake: IntakeDep, folder: AttachmentsDep,
           category: Annotated[str, Form(max_length=32)], description: Annotated[str, Form(max_length=4000)],
           where: Annotated[str, Form(pattern="^(unit|common)$")] = "unit",
           photos: Annotated[list[UploadFile], File()] = ()) -> WorkOrder:  # noqa: B006 - FastAPI reads the default
    """An owner reports a problem in their unit (``where=unit``) or a common area of their building, with up to 3
    photos (JPEG, PNG or WebP). They hear back on their notices and see it under ``GET /requests``."""
    require(me, Role.OWNER)
    throttle_writes(limits, me)
    unit = me.unit if where == "unit" else None
    if where == "unit" and not me.unit:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "your account has no unit: report a common area")
    new = NewRequest(site=me.site, building=me.building, unit=unit, category=category, description=description,
                     reporter=me.username, reporter_phone=None, channel="app", source="owner")
    try:
        uploads = service.read_uploads(photos, intake.max_photo_bytes)
        return submitted(response, service.submit(desk, intake, folder, new, uploads))
    except RequestError as err:
        raise bad_request(err) from None


@router.post("/work-orders", response_model=WorkOrderOut, status_code=status.HTTP_201_CREATED,
             responses={200: {"description": "the order made earlier with this Idempotency-Key"}})
def record(body: RequestIn, response: Response, me: Me, limits: LimitsDep, desk: DeskDep, intake: IntakeDep,
           folder: AttachmentsDep,
           idempotency_key: Annotated[str | None, Header(max_length=100, pattern=r"^[\x21-\x7e]+$")] = None,
           ) -> WorkOrder:
    """Front desk, hotline or an integration records a request for any unit (staff). With an ``Idempotency-Key``
    header a retried call returns the order the first call made (200) instead of making another (201)."""
    require(me, Role.STAFF)
    throttle_writes(limits, me)
    new = NewRequest(site=body.site, building=body.building, unit=body.unit, category=body.category,
                     description=body.description, reporter=body.reporter, reporter_phone=body.reporter_phone,
                     channel=body.channel, source="integration" if body.channel == "api" else "front_desk")
    key = f"{me.username}:{idempotency_key}" if idempotency_key else None
    try:
        return submitted(response, service.submit(desk, intake, folder, new, request_key=key))
    except RequestError as err:
        raise bad_request(err) from None


@router.get("/requests", response_model=list[WorkOrderOut])
def my_requests(me: Me, sessions: SessionsDep) -> list[WorkOrder]:
    """An owner's requests (and those the front desk recorded for their unit), newest first."""
    require(me, Role.OWNER)
    with sessions() as session:
        return service.mine(session, me)


def _owned_action(action):  # noqa: ANN001, ANN202
    try:
        return action()
    except LookupError as err:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(err)) from None
    except NotYourRequest as err:
        raise HTTPException(status.HTTP_403_FORBIDDEN, str(err)) from None
    except TransitionError as err:
        raise HTTPException(status.HTTP_409_CONFLICT, str(err)) from None


@router.post("/requests/{order_id}/rating", response_model=WorkOrderOut)
def rate(order_id: int, body: RatingIn, me: Me, limits: LimitsDep, desk: DeskDep) -> WorkOrder:
    """The owner rates a resolved request (1-5): that is its follow-up, and it closes the order."""
    require(me, Role.OWNER)
    throttle_writes(limits, me)
    return _owned_action(lambda: service.rate(desk, me, order_id, body.rating, body.comment))


@router.post("/requests/{order_id}/not-fixed", response_model=WorkOrderOut)
def not_fixed(order_id: int, body: NotFixedIn, me: Me, limits: LimitsDep, desk: DeskDep,
              intake: IntakeDep) -> WorkOrder:
    """The owner says it is still broken (within ``intake.reopen_window_h`` of the resolution): the order reopens."""
    require(me, Role.OWNER)
    throttle_writes(limits, me)
    return _owned_action(lambda: service.not_fixed(desk, intake, me, order_id, body.comment))


@router.get("/requests/{order_id}/photos/{photo_id}", response_class=FileResponse)
def photo(order_id: int, photo_id: int, me: Me, sessions: SessionsDep, folder: AttachmentsDep) -> FileResponse:
    """A request's photo: for its owner, staff, and technicians of its site."""
    with sessions() as session:
        order = _owned_action(lambda: orders.get(session, order_id))
        if not service.may_view(me, order):
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"request {order_id} is not yours")
        row = session.scalar(select(Attachment).where(Attachment.id == photo_id,
                                                      Attachment.work_order_id == order_id))
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no photo {photo_id} on request {order_id}")
    return FileResponse(folder / row.stored_as, media_type=row.content_type)

