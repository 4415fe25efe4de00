"""What the register knows, as the rest of the service asks it: where a device is in words people use, and each
site's time zone."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.i18n import _, current
from devices import kinds
from devices.models import Device
from register.models import Building, Site


@dataclass(frozen=True)
class Place:
    device: str  # its name in the register, else kind and id ("Elevator s1b1-el1", "电梯 s1b1-el1")
    building: str  # the building's name in the register, else "Building b1" (the current language)
    where: str  # the device's name when it has one (it names its building), else device and building
    location: str | None = None  # shaft, entrance, room
    contractor: str | None = None
    contractor_phone: str | None = None


def building_name(session: Session, site: str, building: str) -> str:
    """Its name in the register, else "Building b1" in the current language."""
    with session.no_autoflush:  # a lookup: rows the caller is adding wait for its commit, in one go
        row = session.get(Building, (site, building))
    return row.name if row and row.name else _("Building %(id)s", id=building)


def kind_title(kind: str) -> str:
    """A device kind as people call it, in the current language (the kind module's titles)."""
    try:
        spec = kinds.kind(kind)
    except kinds.UnknownKind:
        return kind.replace("_", " ")
    return spec.title_zh if current() == "zh_CN" else spec.title


def place_of(session: Session, kind: str, device_id: str, site: str, building: str) -> Place:
    """A device's place; a device the register does not know yet is named by kind, id and building."""
    building_name_ = building_name(session, site, building)
    with session.no_autoflush:
        device = session.get(Device, device_id)
    fallback = _("%(kind)s %(id)s", kind=kind_title(kind), id=device_id)
    if device is None or not device.name:
        where = _("%(device)s, %(building)s", device=fallback, building=building_name_)
        if device and device.floor:
            where = _("%(device)s, %(building)s, floor %(floor)s", device=fallback, building=building_name_,
                      floor=device.floor)
        return Place(fallback, building_name_, where, *_maintenance(device))
    return Place(device.name, building_name_, device.name, *_maintenance(device))


def _maintenance(device: Device | None) -> tuple[str | None, str | None, str | None]:
    return (device.location, device.contractor, device.contractor_phone) if device else (None, None, None)


def site_ids(session: Session) -> list[str]:
    return list(session.scalars(select(Site.site_id)))


def site_zones(session: Session) -> dict[str, str]:
    """Sites whose time zone the register sets."""
    return {site: tz for site, tz in session.execute(select(Site.site_id, Site.timezone)) if tz}


def site_languages(session: Session) -> dict[str, str]:
    """Sites whose people read another language than the deployment's default."""
    return {site: lang for site, lang in session.execute(select(Site.site_id, Site.language)) if lang}
