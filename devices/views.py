"""Devices as the registry last saw them."""

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, status
from pydantic import BaseModel

from core.deps import SessionsDep
from devices import service
from devices.models import Device, DeviceOut, DeviceStatus
from people.models import Role
from people.views import Me, Staff, require, throttle_writes

router = APIRouter(tags=["devices"])


@router.get("/devices", response_model=list[DeviceOut])
def list_devices(me: Me, sessions: SessionsDep, site: str | None = None, kind: str | None = None,
                 status: DeviceStatus | None = None,
                 limit: Annotated[int, Query(ge=1, le=5000)] = 1000) -> list[Device]:
    """Devices in service (pending and active); ``status=pending`` lists those heard from but not registered."""
    require(me, Role.STAFF, Role.TECHNICIAN)
    with sessions() as session:
        return service.list_devices(session, me, site=site, kind=kind, status=status, limit=limit)


@router.get("/devices/{device_id}", response_model=DeviceOut)
def get_device(device_id: str, me: Me, sessions: SessionsDep) -> Device:
    require(me, Role.STAFF, Role.TECHNICIAN)
    with sessions() as session:
        device = service.get_device(session, device_id)
    if device is None or not me.may_work_site(device.site):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"device {device_id} not seen yet")
    return device


class StatusIn(BaseModel):
    status: DeviceStatus


@router.put("/devices/{device_id}/status", response_model=DeviceOut, dependencies=[Depends(throttle_writes)])
def set_status(device_id: str, body: StatusIn, me: Staff, sessions: SessionsDep) -> Device:
    """Staff: accept a pending device (``active``), ``rejected`` it, or ``decommissioned`` it (rules stop)."""
    try:
        with sessions.begin() as session:
            device = service.set_status(session, device_id, body.status)
            session.flush()
            return DeviceOut.model_validate(device)
    except LookupError as err:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(err)) from None
