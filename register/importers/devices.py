"""Devices (设备): what each device is, where it is and who maintains it. An imported device is ``active`` (a
pending one, heard before it was registered, is accepted by the import); a row may also decommission one.
The device's id, site, building and kind must be those of its MQTT topic."""

from __future__ import annotations

from collections.abc import Callable

from pydantic import field_validator, model_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from devices.kinds import ALL as KINDS
from devices.kinds.base import MEDIA
from devices.models import Device, DeviceStatus
from register.importers._cells import Day, Floor, Id, Phone, RowModel, text
from register.importers.households import check_sites, ensure_buildings
from register.imports import Column, Context, Counts, Importer, Parsed, RowError, upsert

KIND_NAMES = {n.lower(): k.name for k in KINDS for n in (k.name, k.title, k.title_zh)}
METER_NAMES = {"水表": "water", "电表": "electricity", "燃气表": "gas", "气表": "gas", "热表": "heat",
               "热量表": "heat"}
MEDIUM_NAMES = {**{m: m for m in MEDIA}, "水": "water", "电": "electricity", "燃气": "gas", "气": "gas", "热": "heat"}
STATUS_NAMES = {"active": DeviceStatus.ACTIVE, "在用": DeviceStatus.ACTIVE, "正常": DeviceStatus.ACTIVE,
                "decommissioned": DeviceStatus.DECOMMISSIONED, "停用": DeviceStatus.DECOMMISSIONED,
                "已拆除": DeviceStatus.DECOMMISSIONED, "报废": DeviceStatus.DECOMMISSIONED}
FIELDS = ("site", "building", "kind", "medium", "name", "floor", "location", "household", "model", "vendor",
          "contractor", "contractor_phone", "installed_on", "registration_code", "status")


class DeviceRow(RowModel):
    device_id: Id
    site: Id
    building: Id
    kind: str
    medium: str | None = None
    name: text(120) | None = None
    floor: Floor | None = None
    location: text(120) | None = None
    household: text(32) | None = None
    model: text(64) | None = None
    vendor: text(64) | None = None
    contractor: text(120) | None = None
    contractor_phone: Phone | None = None
    installed_on: Day | None = None
    registration_code: text(64) | None = None
    status: str = DeviceStatus.ACTIVE.value

    @model_validator(mode="before")
    @classmethod
    def _meter_names(cls, cells: dict) -> dict:
        """``水表`` is a meter of water."""
        kind = cells.get("kind")
        if kind in METER_NAMES:
            cells = {**cells, "kind": "meter", "medium": cells.get("medium") or METER_NAMES[kind]}
        return cells

    @field_validator("kind")
    @classmethod
    def _kind(cls, value: str) -> str:
        """Kinds as people write them: ``电梯``, ``Elevator``, ``elevator``."""
        kind = KIND_NAMES.get(value.lower())
        if kind is None:
            raise ValueError(f"unknown device kind {value!r}; known: "
                             + ", ".join(f"{k.name} ({k.title_zh})" for k in KINDS))
        return kind

    @field_validator("medium")
    @classmethod
    def _medium(cls, value: str | None) -> str | None:
        if value is None:
            return None
        medium = MEDIUM_NAMES.get(value.lower())
        if medium is None:
            raise ValueError(f"unknown medium {value!r}; known: {', '.join(MEDIA)} (水, 电, 燃气, 热)")
        return medium

    @field_validator("status")
    @classmethod
    def _status(cls, value: str) -> str:
        status = STATUS_NAMES.get(value.lower())
        if status is None:
            raise ValueError(f"unknown status {value!r}: active (在用) or decommissioned (停用)")
        return status.value


class DeviceImporter(Importer):
    what = "devices"
    columns = (
        Column("device_id", "device_id", "设备编号", required=True, aliases=("device", "id")),
        Column("site", "site_id", "小区编号", required=True),
        Column("building", "building_id", "楼栋编号", required=True),
        Column("kind", "kind", "设备类型", required=True, aliases=("type", "类型")),
        Column("medium", "medium", "介质"),
        Column("name", "name", "设备名称"),
        Column("floor", "floor", "楼层"),
        Column("location", "location", "位置", aliases=("安装位置",)),
        Column("household", "household", "所属房号"),
        Column("model", "model", "型号"),
        Column("vendor", "vendor", "厂家", aliases=("manufacturer", "生产厂家")),
        Column("contractor", "contractor", "维保单位"),
        Column("contractor_phone", "contractor_phone", "维保电话"),
        Column("installed_on", "installed_on", "安装日期"),
        Column("registration_code", "registration_code", "注册代码", aliases=("电梯注册代码",)),
        Column("status", "status", "状态"),
    )
    row_model = DeviceRow

    def key(self, row: DeviceRow) -> tuple:
        return (row.device_id,)

    def check(self, session: Session, rows: list[Parsed], header: Callable[[str], str]) -> list[RowError]:
        return check_sites(session, [(p.line, p.row.site) for p in rows], header("site"))

    def apply(self, session: Session, rows: list[DeviceRow], context: Context) -> Counts:
        ensure_buildings(session, {(r.site, r.building): None for r in rows})
        existing = {d.device_id: d for d in session.scalars(select(Device).where(
            Device.device_id.in_([r.device_id for r in rows])))}
        return upsert(session, rows, lambda r: existing.get(r.device_id),
                      lambda r: Device(device_id=r.device_id), FIELDS)

    def export(self, session: Session) -> list[dict]:
        return [{"device_id": d.device_id, **{f: getattr(d, f) for f in FIELDS}}
                for d in session.scalars(select(Device).where(Device.status != DeviceStatus.PENDING.value)
                                         .order_by(Device.device_id))]


IMPORTER = DeviceImporter()
