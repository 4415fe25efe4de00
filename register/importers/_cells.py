"""Cell types the importers share: ids that fit an MQTT topic level, phone numbers, dates as spreadsheets write
them, and the base row model (text stripped, unknown fields refused)."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from gateway.topics import SEGMENT
from people.service import normalize_phone


class RowModel(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")


def _id(value: str) -> str:
    if not SEGMENT.match(value):
        raise ValueError(f"{value[:80]!r} is not a valid id: letters, digits, '.', '_' or '-', at most 64, "
                         "starting with a letter or digit (it becomes a level of the device's MQTT topic)")
    return value


def _phone(value: str) -> str:
    phone = normalize_phone(value)
    if phone is None:
        raise ValueError(f"{value[:40]!r} is not a phone number")
    return phone


def _day(value: object) -> object:
    """``2024-03-01``, ``2024/3/1``, ``2024年3月1日`` and Excel's ``2024-03-01 00:00:00`` are all one day."""
    if not isinstance(value, str):
        return value
    match = re.match(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?(?:[ T]00:00(?::00)?)?$", value.strip())
    if not match:
        raise ValueError(f"{value[:40]!r} is not a date like 2024-03-01")
    return date(*map(int, match.groups()))


def _number_text(value: object) -> object:
    """Excel turns 5 into 5.0 on the way out; a floor or a unit number is text."""
    if isinstance(value, str) and re.fullmatch(r"-?\d+\.0", value):
        return value[:-2]
    return value


Id = Annotated[str, AfterValidator(_id)]
Phone = Annotated[str, AfterValidator(_phone)]
Day = Annotated[date, BeforeValidator(_day)]
Floor = Annotated[str, BeforeValidator(_number_text), StringConstraints(max_length=16)]


def text(max_length: int):  # noqa: ANN201 - an Annotated type
    return Annotated[str, BeforeValidator(_number_text), Field(max_length=max_length)]
