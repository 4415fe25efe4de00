"""A job the service runs every few seconds on a thread of its own (the KPI watch, the morning report), stopped
cleanly; an error is logged and the job runs again next time (the database may be away)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class Periodic:
    def __init__(self, name: str, job: Callable[[], object], every_s: Callable[[], float], *,
                 first_at_once: bool = False) -> None:
        self.name, self.job, self.every_s, self.first_at_once = name, job, every_s, first_at_once
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def halt(self) -> None:
        """Ask the job to stop without waiting for it (``stop`` waits)."""
        self._stop.set()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(15)

    def _run(self) -> None:
        if self.first_at_once:
            self._once()
        while not self._stop.wait(self.every_s()):
            self._once()

    def _once(self) -> None:
        try:
            self.job()
        except Exception:  # noqa: BLE001 - judged again next time
            if self._stop.is_set():  # cut short by the service stopping (e.g. its offload child ended)
                log.info("%s round cut short by the stop", self.name)
            else:
                log.exception("%s round failed", self.name)
