"""Writing outbox rows (in the caller's transaction: a crash can never leave a change without its messages)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy.orm import Session

from notifications.models import Notification
from people.oncall import Person


def enqueue(session: Session, channel: str, recipient: str, subject: str, body: dict, now: datetime, *,
            work_order_id: int | None = None) -> None:
    session.add(Notification(work_order_id=work_order_id, channel=channel, recipient=recipient, subject=subject,
                             body=body, status="pending", attempts=0, created_at=now, next_attempt_at=now))


def targets(people: Iterable[Person], office_webhooks: Iterable[str], feed_topic: str) -> list[tuple[str, str]]:
    """(channel, recipient) for each person's e-mail and webhook, the office webhooks, and the site's order feed."""
    out: list[tuple[str, str]] = []
    for person in people:
        if person.email:
            out.append(("email", person.email))
        if person.webhook:
            out.append(("webhook", person.webhook))
    out += [("webhook", url) for url in office_webhooks]
    out.append(("mqtt", feed_topic))
    return out
