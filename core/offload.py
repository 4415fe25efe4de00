"""Heavy periodic work in a child process, so the interpreter that judges faults never waits for it.

The analytics rules (an InfluxDB query over every meter, then pandas), the KPI watch (pandas over every device and
order of the sites) and the morning report (thirty days of orders in pandas, charts and a PDF by matplotlib) hold
Python's GIL for seconds at a time. On a thread of the alert engine's process that is seconds during which a
trapped-passenger event waits for the interpreter
(measured, docs/performance.md: every one of the slowest of 1,000 faults came in the second the analytics first
ran). In a child process the operating system shares the cores between the two instead, and the engine thread
keeps its interpreter; and the child runs at a lower CPU priority (``NICE``), so when the cores are busy the
engine goes first. It ends by itself when its parent is gone.

One child per service process, started on first use with ``spawn`` (forking a process that runs threads is
unsafe), kept for later calls, started again if it died. Functions sent to it must be importable module-level
functions of picklable arguments; they open their own clients there: ``call_on_database`` hands a function
sessions on the database's URL (a pool per process, ``core.db.sessions_for``), ``alerts.analytics.run_remote``
keeps an InfluxDB client.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar

from core.db import sessions_for

log = logging.getLogger(__name__)
T = TypeVar("T")
NICE = 10
"""The child's CPU priority below its parent's: when the cores are busy, judging faults goes first."""
PARENT_CHECK_S = 1.0


def _child_start(parent: int) -> None:
    """In the child: yield the cores to the parent, and end when the parent is gone. A parent killed outright
    (SIGKILL, out of memory) never says so, and the child would wait for calls forever: it holds both ends of its
    own call queue, so it never sees the pipe close."""
    os.nice(NICE)
    threading.Thread(target=_end_with, args=(parent,), name="offload-parent-watch", daemon=True).start()


def _end_with(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_S)
    os._exit(0)  # nothing of the child's is worth keeping: the parent owns every result


def _on_database(fn: Callable[..., T], database_url: str, *args: object) -> T:
    return fn(sessions_for(database_url), *args)


class Offload:
    """Runs one call at a time in a child process; callers on several threads queue for it."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.calls = 0
        self.restarts = 0
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        self._closed = False

    def call(self, fn: Callable[..., T], /, *args: object) -> T:
        """``fn(*args)`` in the child; its exception is raised here. A child that died (killed, out of memory)
        is replaced once and the call tried again there."""
        for attempt in (1, 2):
            pool = self._ensure()
            try:
                result = pool.submit(fn, *args).result()
            except BrokenProcessPool:
                if self._closed or attempt == 2:
                    raise
                log.warning("%s: the child process died; starting another", self.name)
                self._replace(pool)
                continue
            with self._lock:
                self.calls += 1
            return result
        raise AssertionError("unreachable")

    def call_on_database(self, database_url: str, fn: Callable[..., T], /, *args: object) -> T:
        """``fn(sessions, *args)`` in the child, ``sessions`` on ``database_url`` (the parent's pool stays here)."""
        return self.call(_on_database, fn, database_url, *args)

    def _ensure(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._closed:
                raise RuntimeError(f"{self.name} is closed")
            if self._pool is None:
                self._pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                                                 initializer=_child_start, initargs=(os.getpid(),))
            return self._pool

    def _replace(self, broken: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._pool is broken:
                broken.shutdown(wait=False, cancel_futures=True)
                self._pool = None
                self.restarts += 1

    def close(self) -> None:
        """Stop the child without waiting for a long call: a caller waiting on it gets ``BrokenProcessPool``."""
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
        if pool is None:
            return
        workers = list(getattr(pool, "_processes", {}).values())  # no public way to end a running call (3.14 has)
        pool.shutdown(wait=False, cancel_futures=True)
        for process in workers:
            process.terminate()
        for process in workers:
            process.join(5)
