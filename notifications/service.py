"""Writing outbox rows (in the caller's transaction: a crash can never leave a change without its messages), and
whom each channel reaches: a person's chain of channels, first choice first."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from notifications.models import Notification
from people.oncall import Person

ROBOTS = frozenset({"wecom", "dingtalk", "feishu"})  # a site's staff group: the recipient is the site
NOBODY = "none"  # the channel of a message no configured channel can carry: the dispatcher records it undeliverable


@dataclass(frozen=True)
class Reach:
    """The configured channels, and whom each reaches (a robot: the sites that have a group for it)."""

    by_name: Mapping[str, Callable[[str], bool]] = field(default_factory=dict)

    @classmethod
    def of(cls, names: Iterable[str]) -> Reach:
        return cls({name: lambda _recipient: True for name in names})

    def __contains__(self, name: object) -> bool:
        return name in self.by_name

    def reaches(self, name: str, recipient: str) -> bool:
        return name in self.by_name and self.by_name[name](recipient)


def enqueue(session: Session, channel: str, recipient: str, subject: str, body: dict, now: datetime, *,
            work_order_id: int | None = None, chain: list[tuple[str, str]] | None = None,
            person_id: str | None = None, priority: str | None = None, window_s: float | None = None,
            not_before: datetime | None = None) -> Notification:
    start = max(now, not_before) if not_before else now
    note = Notification(work_order_id=work_order_id, channel=channel, recipient=recipient, subject=subject,
                        body=body, status="pending", attempts=0, created_at=now, next_attempt_at=start,
                        chain=[list(link) for link in chain or []], person_id=person_id, priority=priority,
                        give_up_at=start + timedelta(seconds=window_s) if window_s else None, window_s=window_s)
    session.add(note)
    return note


def chain_for(person: Person, site: str, names: Iterable[str], reach: Reach) -> list[tuple[str, str]]:
    """The (channel, recipient) links that can reach this person, in the order given: a robot posts to the site's
    group, SMS and voice need their phone, e-mail and webhook their address."""
    addresses = {"sms": person.phone, "voice": person.phone, "email": person.email, "webhook": person.webhook}
    links = []
    for name in dict.fromkeys(names):
        recipient = site if name in ROBOTS else addresses.get(name)
        if recipient and reach.reaches(name, recipient):
            links.append((name, recipient))
    return links


def notify_person(session: Session, person: Person, links: list[tuple[str, str]], subject: str, body: dict,
                  now: datetime, *, work_order_id: int | None, priority: str, window_s: float,
                  not_before: datetime | None = None) -> Notification:
    """The first link now (or after the person's quiet hours); the others wait for it to fail. A person no channel
    reaches is recorded as undeliverable at once, for an operator to see."""
    body = {**body, "to": person.name, "mention_phone": person.phone}
    if not links:
        return enqueue(session, NOBODY, person.id, subject, body, now, work_order_id=work_order_id,
                       person_id=person.id, priority=priority)
    (channel, recipient), rest = links[0], links[1:]
    return enqueue(session, channel, recipient, subject, body, now, work_order_id=work_order_id, chain=rest,
                   person_id=person.id, priority=priority, window_s=window_s, not_before=not_before)


def addresses(person: Person) -> list[tuple[str, str]]:
    """(channel, recipient) for a person's e-mail and webhook."""
    return [(c, r) for c, r in (("email", person.email), ("webhook", person.webhook)) if r]


def targets(people: Iterable[Person], office_webhooks: Iterable[str], feed_topic: str) -> list[tuple[str, str]]:
    """(channel, recipient) for each person's e-mail and webhook, the office webhooks, and the site's order feed."""
    out: list[tuple[str, str]] = [pair for person in people for pair in addresses(person)]
    out += [("webhook", url) for url in office_webhooks]
    out.append(("mqtt", feed_topic))
    return out
