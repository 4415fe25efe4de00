"""What a message on a phone says about an order: a few short lines (robots, SMS, voice have no room for a JSON
body)."""

from __future__ import annotations

from core import i18n
from core.i18n import _

PRIORITY_MARK = {"life_safety": "🔴", "outage": "🟠", "maintenance": "🟡"}


def lines(subject: str, body: dict) -> list[str]:
    """In the language the message was written for (``body["language"]``)."""
    order = body.get("work_order") or {}
    out = [subject]
    with i18n.using(body.get("language")):
        if body.get("place"):
            out.append(f"{body['place']}" + (f" · {body['location']}" if body.get("location") else ""))
        if order.get("ack_due_at"):
            out.append(_("#%(id)s %(priority)s · acknowledge by %(time)s UTC", id=order.get("id"),
                         priority=i18n.label(order.get("priority")), time=order["ack_due_at"][11:16]))
        if body.get("contractor_phone"):
            who = body.get("contractor") or _("contractor")
            out.append(f"{who}: {body['contractor_phone']}")
        if body.get("to"):
            out.append(_("for %(person)s", person=body["to"]))
    out += body.get("lines", [])
    if body.get("link"):
        out.append(body["link"])
    return out


def markdown(subject: str, body: dict, *, mention: str | None = None) -> str:
    """WeCom / DingTalk markdown: the subject in bold, the rest as quoted lines."""
    order = body.get("work_order") or {}
    first, *rest = lines(subject, body)
    text = f"{PRIORITY_MARK.get(order.get('priority', ''), '')}**{first}**\n" + "".join(f"> {line}\n" for line in rest)
    return text + (f"\n{mention}" if mention else "")


def sms_params(subject: str, body: dict, limit: int = 35) -> dict[str, str]:
    """An SMS template's variables (Aliyun caps each variable's length)."""
    order = body.get("work_order") or {}
    return {"order": f"#{order.get('id', '')}"[:limit], "place": str(body.get("place") or order.get("device") or "")[
        :limit], "title": str(body.get("title") or order.get("title") or subject)[:limit]}
