"""WeCom (企业微信) group robot: ``POST <url>?key=<key>`` with ``{"msgtype": "markdown", "markdown": {"content":
...}}``; the reply is ``{"errcode": 0, "errmsg": "ok"}`` (45009: sending too often, retried)."""

from __future__ import annotations

import httpx

from notifications import messages
from notifications.providers.robot import RobotChannel, judge

RETRY = {45009, -1}  # too frequent; system busy


def request(key: str, subject: str, body: dict) -> tuple[dict, dict]:
    """(query, JSON body)."""
    return {"key": key}, {"msgtype": "markdown", "markdown": {"content": messages.markdown(subject, body)}}


def check(response: httpx.Response) -> None:
    reply = response.json() if response.status_code < 500 else {}
    judge("WeCom", response, reply.get("errcode"), reply.get("errmsg"), RETRY)


class WecomChannel(RobotChannel):
    name, label = "wecom", "WeCom"

    def send(self, recipient: str, subject: str, body: dict) -> None:
        query, payload = request(self.robot(recipient), subject, body)
        check(self._http.post(self.settings.url, params=query, json=payload))
