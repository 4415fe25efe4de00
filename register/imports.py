"""Bulk import and export of the register: one importer per kind of row (``register/importers/``), one way to run
them (the CLI and the API both call ``run_import``).

A run reads the file (``tables``), maps its headers (English or Chinese, as the templates under
``docs/templates/`` show), checks every row (types, ids, references to sites and households), then applies the
good rows in one transaction. With any bad row nothing is applied unless the caller chose ``apply_good``; a dry run
applies and rolls back, so its counts say exactly what a real run would do. Upserts are keyed on natural ids, so
importing the same file twice changes nothing the second time.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

import pandas as pd
from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session, sessionmaker

from register.tables import TableError, read_table

Progress = Callable[[str, int, int], None]
"""(phase, done, total): called every ``PROGRESS_EVERY`` rows of a long file."""
PROGRESS_EVERY = 1000


@dataclass(frozen=True)
class Column:
    field: str  # the row model's field
    en: str  # the English template's header
    zh: str  # the Chinese template's header
    required: bool = False
    aliases: tuple[str, ...] = ()

    def names(self) -> set[str]:
        return {normalize_header(n) for n in (self.field, self.en, self.zh, *self.aliases)}


@dataclass(frozen=True)
class RowError:
    row: int  # as the spreadsheet numbers it: the header is row 1, the first data row is row 2
    column: str | None  # the header as written in the file
    reason: str

    def __str__(self) -> str:
        return f"row {self.row}" + (f", column {self.column}" if self.column else "") + f": {self.reason}"


@dataclass
class Counts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0


@dataclass
class ImportReport:
    what: str
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)
    applied: bool = False
    dry_run: bool = False
    invites: list[dict] = field(default_factory=list)  # owners: username, name, code, expires_at

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        verb = "would be" if self.dry_run or not self.applied else "were"
        head = (f"{self.what}: {self.rows} rows; {self.created} {verb} created, {self.updated} updated, "
                f"{self.unchanged} unchanged")
        if self.errors:
            head += f"; {len(self.errors)} errors" + ("" if self.applied else ", nothing was applied")
        return head


@dataclass(frozen=True)
class Parsed:
    line: int
    row: Any  # the importer's row model


@dataclass
class Context:
    """What an importer may use while applying: the clock, and where owners' invite codes go."""

    now: datetime
    invites: list[dict] = field(default_factory=list)


class Importer(ABC):
    """One kind of row: its columns, its row model, how it is keyed, checked, applied and exported."""

    what: ClassVar[str]
    columns: ClassVar[tuple[Column, ...]]
    row_model: ClassVar[type[BaseModel]]

    @abstractmethod
    def key(self, row: Any) -> tuple: ...

    def check(self, session: Session, rows: list[Parsed], header: Callable[[str], str]) -> list[RowError]:
        """References to what the database holds (a household's site, an owner's household); ``header`` names a
        field's column as the file wrote it."""
        return []

    @abstractmethod
    def apply(self, session: Session, rows: list[Any], context: Context) -> Counts: ...

    @abstractmethod
    def export(self, session: Session) -> list[dict]: ...


def normalize_header(name: str) -> str:
    """``Device ID *`` / ``device_id`` / ``设备编号（必填）`` compare equal to their column's names."""
    name = re.sub(r"[（(].*?[)）]", "", str(name).lower())
    return re.sub(r"[\s*_\-:：]", "", name)


def discover() -> dict[str, Importer]:
    from register import importers

    found = {}
    for module in pkgutil.iter_modules(importers.__path__):
        if module.name.startswith("_"):
            continue
        importer = getattr(importlib.import_module(f"{importers.__name__}.{module.name}"), "IMPORTER", None)
        if not isinstance(importer, Importer):
            raise ImportError(f"register.importers.{module.name} defines no IMPORTER")
        found[importer.what] = importer
    return found


IMPORTERS: dict[str, Importer] = {}


def importer(what: str) -> Importer:
    if not IMPORTERS:
        IMPORTERS.update(discover())
    try:
        return IMPORTERS[what]
    except KeyError:
        raise LookupError(f"nothing to import as {what!r}; known: {sorted(IMPORTERS)}") from None


def run_import(sessions: sessionmaker, what: str, data: bytes, filename: str, *, now: datetime,
               dry_run: bool = False, apply_good: bool = False, progress: Progress | None = None) -> ImportReport:
    spec = importer(what)
    report = ImportReport(what, dry_run=dry_run)
    try:
        frame = read_table(data, filename)
    except TableError as err:
        report.errors.append(RowError(1, None, str(err)))
        return report
    mapping, report.errors = map_headers(spec, list(frame.columns))
    if report.errors:
        return report
    parsed, report.errors, report.rows = parse_rows(spec, frame, mapping, progress)
    with sessions() as session:
        written = {f: h for h, f in mapping.items()}
        report.errors += spec.check(session, parsed, lambda field: written.get(field, field))
        bad = {e.row for e in report.errors}
        good = [p.row for p in parsed if p.line not in bad]
        context = Context(now)
        counts = Counts()
        for start in range(0, len(good), PROGRESS_EVERY * 5):
            chunk = spec.apply(session, good[start:start + PROGRESS_EVERY * 5], context)
            counts.created, counts.updated = counts.created + chunk.created, counts.updated + chunk.updated
            counts.unchanged += chunk.unchanged
            session.flush()
            if progress and len(good) > PROGRESS_EVERY:
                progress("applied", min(start + PROGRESS_EVERY * 5, len(good)), len(good))
        report.created, report.updated, report.unchanged = counts.created, counts.updated, counts.unchanged
        if dry_run or (report.errors and not apply_good):
            session.rollback()
        else:
            session.commit()
            report.applied, report.invites = True, context.invites
    report.errors.sort(key=lambda e: e.row)
    return report


def map_headers(spec: Importer, headers: list[str]) -> tuple[dict[str, str], list[RowError]]:
    """Header as written -> field; unknown and missing columns are errors of row 1 (the header row)."""
    by_name = {name: column for column in spec.columns for name in column.names()}
    mapping, errors = {}, []
    for header in headers:
        column = by_name.get(normalize_header(header))
        if column is None:
            if header and not header.lower().startswith("unnamed:"):
                known = ", ".join(f"{c.en} / {c.zh}" for c in spec.columns)
                errors.append(RowError(1, header, f"unknown column; {spec.what} files have: {known}"))
        elif column.field in mapping.values():
            errors.append(RowError(1, header, f"a second column for {column.en}"))
        else:
            mapping[header] = column.field
    for column in spec.columns:
        if column.required and column.field not in mapping.values():
            errors.append(RowError(1, column.en, f"required column missing (header {column.en} or {column.zh})"))
    return mapping, errors


def parse_rows(spec: Importer, frame: pd.DataFrame, mapping: dict[str, str],
               progress: Progress | None) -> tuple[list[Parsed], list[RowError], int]:
    """The rows as the importer's models, the bad rows' errors, and how many rows were not empty."""
    header_of = {f: h for h, f in mapping.items()}
    parsed, errors, first_line, rows = [], [], {}, 0
    total = len(frame)
    for index, values in enumerate(frame[list(mapping)].itertuples(index=False, name=None)):
        line = index + 2
        cells = {mapping[h]: (str(v).strip() or None) for h, v in zip(mapping, values, strict=True)}
        if progress and index and index % PROGRESS_EVERY == 0:
            progress("checked", index, total)
        if not any(cells.values()):
            continue  # an empty line
        rows += 1
        try:
            row = spec.row_model.model_validate(cells)
        except ValidationError as err:
            for problem in err.errors():
                name = str(problem["loc"][0]) if problem["loc"] else None
                errors.append(RowError(line, header_of.get(name, name), _reason(problem)))
            continue
        key = spec.key(row)
        if key in first_line:
            errors.append(RowError(line, None, f"the same {'/'.join(map(str, key))} as row {first_line[key]}"))
            continue
        first_line[key] = line
        parsed.append(Parsed(line, row))
    return parsed, errors, rows


def _reason(problem: dict) -> str:
    message = problem["msg"].removeprefix("Value error, ")
    if problem["type"] == "missing" or problem.get("input", "") is None:
        return "required, but empty"
    return message


def upsert(session: Session, rows: list, find: Callable[[Any], Any], make: Callable[[Any], Any],
           fields: tuple[str, ...]) -> Counts:
    """Create what is new, change what differs, count what already matched (``find``: the existing object or None;
    ``make``: a new one with its key set)."""
    counts = Counts()
    for row in rows:
        target = find(row)
        if target is None:
            target = make(row)
            session.add(target)
            counts.created += 1
        elif all(getattr(target, f) == getattr(row, f) for f in fields):
            counts.unchanged += 1
            continue
        else:
            counts.updated += 1
        for f in fields:
            setattr(target, f, getattr(row, f))
    return counts


def export_frame(what: str, session: Session, *, lang: str = "en") -> pd.DataFrame:
    """The register as a table with the template's headers, importable as it is."""
    spec = importer(what)
    rows = spec.export(session)
    headers = {c.field: (c.zh if lang == "zh" else c.en) for c in spec.columns}
    frame = pd.DataFrame(rows, columns=[c.field for c in spec.columns])
    return frame.rename(columns=headers)
