"""The dispatcher: a thread that drains the outbox.

Work orders and notices write ``Notification`` rows in their own transaction; this thread sends pending ones,
retries failures with exponential backoff within the row's retry window (by priority: minutes for life safety,
hours for routine work), and records each outcome. A channel that fails for good (the window or ``max_attempts``
is used up, or the provider's reply says retrying cannot help) hands over to the next link of the person's chain;
a message that failed on its last channel is **undeliverable**: counted, logged, and listed for operators
(``GET /notifications?undeliverable=true``, the overview dashboard). Sending never happens on the ingest path and a
hanging endpoint only holds the dispatcher for its timeout.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from notifications.channels import Channel, Undeliverable
from notifications.models import Notification
from notifications.service import NOBODY, enqueue

log = logging.getLogger(__name__)
LEASE_S = 120  # longer than any channel's timeout


@dataclass
class DispatchStats:
    sent: int = 0
    failed_attempts: int = 0
    given_up: int = 0  # a channel failed for good (its next link, if any, takes over)
    fell_back: int = 0
    undeliverable: int = 0  # failed on every channel of the chain


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
        with self.sessions.begin() as session:
            # Claimed: locked (SKIP LOCKED) and leased for LEASE_S, so dispatchers of several alert engines sharing
            # the outbox never send one message twice; a claim left by a crash is retried when its lease ends.
            due = session.scalars(select(Notification).where(
                Notification.status == "pending", Notification.next_attempt_at <= now)
                .order_by(Notification.id).limit(limit).with_for_update(skip_locked=True)).all()
            claimed = [(n.id, n.channel, n.recipient, n.subject, n.body, n.attempts) for n in due]
            for note in due:
                note.next_attempt_at = now + timedelta(seconds=LEASE_S)
        for claim in claimed:
            self._send_one(*claim)
        return len(claimed)

    def _send_one(self, note_id: int, channel_name: str, recipient: str, subject: str, body: dict,
                  attempts: int) -> None:
        channel = self.channels.get(channel_name)
        error: str | None = None
        final = channel is None
        if channel_name == NOBODY:
            error = "no configured channel reaches this person (their channels, phone and addresses)"
        elif channel is None:
            error = f"channel {channel_name!r} is not configured"
        else:
            try:
                channel.send(recipient, subject, body)
            except Undeliverable as err:
                error, final = f"{type(err).__name__}: {err}"[:500], True
            except Exception as err:  # noqa: BLE001 - any failure is recorded, never raised
                error = f"{type(err).__name__}: {err}"[:500]
        with self.sessions.begin() as session:
            note = session.get(Notification, note_id)
            if note is None:
                return
            self._record(session, note, attempts + 1, error, final, self.clock())

    def _record(self, session, note: Notification, attempts: int, error: str | None, final: bool,  # noqa: ANN001
                now: datetime) -> None:
        note.attempts = attempts
        if error is None:
            note.status, note.sent_at, note.last_error = "sent", now, None
            self.stats.sent += 1
            return
        note.last_error = error
        self.stats.failed_attempts += 1
        backoff = timedelta(seconds=self.base_backoff_s * 2 ** (attempts - 1))
        window_over = note.give_up_at is not None and now >= note.give_up_at
        if not (final or attempts >= self.max_attempts or window_over):
            note.next_attempt_at = min(now + backoff, note.give_up_at) if note.give_up_at else now + backoff
            log.warning("notification %s to %s failed (attempt %s): %s", note.id, note.recipient, attempts, error)
            return
        note.status = "failed"
        self.stats.given_up += 1
        if note.chain:
            (channel, recipient), rest = note.chain[0], note.chain[1:]
            following = enqueue(session, channel, recipient, note.subject, note.body, now,
                                work_order_id=note.work_order_id, chain=[tuple(link) for link in rest],
                                person_id=note.person_id, priority=note.priority, window_s=note.window_s)
            session.flush()
            note.fell_back_to = following.id
            self.stats.fell_back += 1
            log.warning("notification %s: %s to %s failed for good (%s); trying %s", note.id, note.channel,
                        note.recipient, error, channel)
            self._wake.set()
            return
        self.stats.undeliverable += 1
        log.error("notification %s for %s failed on every channel: %s", note.id, note.person_id or note.recipient,
                  error)
