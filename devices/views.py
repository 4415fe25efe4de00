"""Devices as the registry last saw them."""

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status

from core.deps import SessionsDep
from devices import service
from devices.models import Device, DeviceOut
from people.models import Role
from people.views import Me, require

router = APIRouter(tags=["devices"])


@router.get("/devices", response_model=list[DeviceOut])
def list_devices(me: Me, sessions: SessionsDep, site: str | None = None, kind: str | None = None,
                 limit: Annotated[int, Query(ge=1, le=5000)] = 1000) -> list[Device]:
    require(me, Role.STAFF, Role.TECHNICIAN)
    with sessions() as session:
        return service.list_devices(session, me, site=site, kind=kind, limit=limit)


@router.get("/devices/{device_id}", response_model=DeviceOut)
def get_device(device_id: str, me: Me, sessions: SessionsDep) -> Device:
    require(me, Role.STAFF, Role.TECHNICIAN)
    with sessions() as session:
        device = service.get_device(session, device_id)
    if device is None or not me.may_work_site(device.site):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"device {device_id} not seen yet")
    return device
