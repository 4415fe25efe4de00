"""What a message on a phone says about an order: a few short lines (robots, SMS, voice have no room for a JSON
body)."""

from __future__ import annotations

PRIORITY_MARK = {"life_safety": "🔴", "outage": "🟠", "maintenance": "🟡"}


def lines(subject: str, body: dict) -> list[str]:
    order = body.get("work_order") or {}
    out = [subject]
    if body.get("place"):
        out.append(f"{body['place']}" + (f" · {body['location']}" if body.get("location") else ""))
    if order.get("ack_due_at"):
        out.append(f"#{order.get('id')} {order.get('priority', '')} · acknowledge by {order['ack_due_at'][11:16]} UTC")
    if body.get("contractor_phone"):
        out.append(f"{body.get('contractor') or 'contractor'}: {body['contractor_phone']}")
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
        :limit], "title": str(order.get("title") or subject)[:limit]}
