"""Reading and writing the spreadsheets people keep: CSV (UTF-8 with or without BOM, or GB18030/GBK as Chinese
Excel saves it) and Excel ``.xlsx``. Every cell is read as text, so ``0502`` stays ``0502`` and the importers decide
what a value means."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd

FORMATS = ("csv", "xlsx")


class TableError(ValueError):
    """The file cannot be read as a table at all (not a row problem)."""


def format_of(filename: str) -> str:
    suffix = Path(filename).suffix.lower().lstrip(".")
    if suffix in ("xlsx", "xlsm"):
        return "xlsx"
    if suffix in ("csv", "txt", ""):
        return "csv"
    raise TableError(f"{filename}: unknown file type .{suffix}; use .csv or .xlsx")


def read_table(data: bytes, filename: str) -> pd.DataFrame:
    """The file's first sheet as text cells (empty cells are ""), headers as written."""
    if format_of(filename) == "xlsx":
        try:
            frame = pd.read_excel(io.BytesIO(data), dtype=str, keep_default_na=False, engine="openpyxl")
        except Exception as err:  # openpyxl raises many kinds for a broken or foreign file
            raise TableError(f"{filename}: not a readable .xlsx workbook ({err})") from None
    else:
        frame = pd.read_csv(io.StringIO(decode_text(data, filename)), dtype=str, keep_default_na=False,
                            skipinitialspace=True)
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def decode_text(data: bytes, filename: str) -> str:
    """UTF-8 (a BOM is dropped) when it decodes as such, else GB18030 (a superset of GBK and GB2312)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError as err:
        raise TableError(f"{filename}: neither UTF-8 nor GB18030/GBK text (byte {err.start})") from None


def write_table(frame: pd.DataFrame, path: Path) -> Path:
    """A file by its name: .xlsx, or CSV with a BOM so Excel opens Chinese text correctly."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(table_bytes(frame, format_of(path.name)))
    return path


def table_bytes(frame: pd.DataFrame, fmt: str) -> bytes:
    """The same, for an HTTP answer."""
    buffer = io.BytesIO()
    if fmt == "xlsx":
        frame.to_excel(buffer, index=False, engine="openpyxl")
    else:
        buffer.write(frame.to_csv(index=False).encode("utf-8-sig"))
    return buffer.getvalue()
