"""Durable local spool for batches InfluxDB could not take.

One file per batch (``<sequence>.lp``, line protocol), written to a temporary name, fsynced, then renamed, so a
crash leaves either a whole batch or none. Replay goes oldest first and deletes a file only after InfluxDB took
it. Because a point's identity in InfluxDB is (series, timestamp), replaying a batch twice after a crash is
harmless: the second write overwrites the first with the same values.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path


class DurableSpool:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        for stale in self.directory.glob("*.tmp"):  # an append that crashed before its rename
            stale.unlink()
        files = self._files()
        self._next = int(files[-1].stem) + 1 if files else 1
        self._points = sum(_count_lines(f) for f in files)

    def _files(self) -> list[Path]:
        return sorted(self.directory.glob("*.lp"))

    @property
    def pending_points(self) -> int:
        return self._points

    def __len__(self) -> int:
        return len(self._files())

    def append(self, lines: list[str]) -> Path:
        """Store one batch durably; returns its file."""
        with self._lock:
            path = self.directory / f"{self._next:012d}.lp"
            self._next += 1
            tmp = path.with_suffix(".tmp")
            with open(tmp, "w", encoding="utf-8") as handle:
                handle.write("\n".join(lines))
                handle.write("\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
            _fsync_dir(self.directory)
            self._points += len(lines)
            return path

    def batches(self) -> Iterator[tuple[Path, list[str]]]:
        """Oldest batch first."""
        for path in self._files():
            text = path.read_text(encoding="utf-8")
            yield path, [ln for ln in text.split("\n") if ln]

    def remove(self, path: Path, points: int) -> None:
        with self._lock:
            path.unlink(missing_ok=True)
            self._points = max(0, self._points - points)


def _count_lines(path: Path) -> int:
    with open(path, "rb") as handle:
        return sum(1 for ln in handle if ln.strip())


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
