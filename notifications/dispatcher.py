"""The dispatcher: a thread that drains the outbox.

Work orders and notices write ``Notification`` rows in their own transaction; this thread sends pending ones,
retries failures with exponential backoff, and records each outcome (sent, or failed with the reason after
``max_attempts``). Sending never happens on the ingest path and a hanging endpoint only holds the dispatcher for its
timeout.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from notifications.channels import Channel
from notifications.models import Notification

log = logging.getLogger(__name__)


@dataclass
class DispatchStats:
    sent: int = 0
    failed_attempts: int = 0
    given_up: int = 0


class Dispatcher:
    def __init__(self, sessions: sessionmaker, channels: list[Channel], *, clock: Callable[[], datetime],
                 max_attempts: int = 6, base_backoff_s: float = 1.0, poll_s: float = 0.2) -> None:
        self.sessions = sessions
        self.channels = {c.name: c for c in channels}
        self.clock = clock
        self.max_attempts = max_attempts
        self.base_backoff_s = base_backoff_s
        self.poll_s = poll_s
        self.stats = DispatchStats()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="notify-dispatcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join(15)

    def wake(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.send_due()
            except Exception:  # the database may be away; try again next round
                log.exception("notification dispatch round failed")
            self._wake.wait(self.poll_s)
            self._wake.clear()

    def send_due(self, limit: int = 100) -> int:
        """Send what is due now; returns how many were attempted."""
        now = self.clock()
        with self.sessions() as session:
            due = session.scalars(select(Notification).where(
                Notification.status == "pending", Notification.next_attempt_at <= now)
                .order_by(Notification.id).limit(limit)).all()
        for note in due:
            self._send_one(note.id, note.channel, note.recipient, note.subject, note.body, note.attempts)
        return len(due)

    def _send_one(self, note_id: int, channel_name: str, recipient: str, subject: str, body: dict,
                  attempts: int) -> None:
        channel = self.channels.get(channel_name)
        error: str | None = None
        if channel is None:
            error = f"channel {channel_name!r} is not configured"
        else:
            try:
                channel.send(recipient, subject, body)
            except Exception as err:  # noqa: BLE001 - any failure is recorded, never raised
                error = f"{type(err).__name__}: {err}"[:500]
        now = self.clock()
        with self.sessions.begin() as session:
            note = session.get(Notification, note_id)
            if note is None:
                return
            note.attempts = attempts + 1
            if error is None:
                note.status, note.sent_at, note.last_error = "sent", now, None
                self.stats.sent += 1
                return
            note.last_error = error
            self.stats.failed_attempts += 1
            if note.attempts >= self.max_attempts or channel is None:
                note.status = "failed"
                self.stats.given_up += 1
                log.error("notification %s to %s failed for good: %s", note_id, recipient, error)
            else:
                note.next_attempt_at = now + timedelta(seconds=self.base_backoff_s * 2 ** (note.attempts - 1))
                log.warning("notification %s to %s failed (attempt %s): %s", note_id, recipient, note.attempts, error)
