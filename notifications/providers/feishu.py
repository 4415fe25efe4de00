"""Feishu (飞书) custom bot with signature verification: ``POST <url><token>`` with ``{"timestamp": "<s>", "sign":
<sign>, "msg_type": "text", "content": {"text": ...}}`` where ``sign`` is Base64(HMAC-SHA256(key="<timestamp>\\n
<secret>", message="")); reply ``{"code": 0}`` (19021: bad signature; 9499 / 11232: too many requests, retried)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

import httpx

from core.settings import FeishuSettings, RobotSecret
from notifications import messages
from notifications.providers.robot import RobotChannel, judge

RETRY = {9499, 11232, 11233}


def sign(timestamp_s: int, secret: str) -> str:
    return base64.b64encode(hmac.new(f"{timestamp_s}\n{secret}".encode(), b"", hashlib.sha256).digest()).decode()


def request(robot: RobotSecret, subject: str, body: dict, timestamp_s: int) -> dict:
    return {"timestamp": str(timestamp_s), "sign": sign(timestamp_s, robot.secret), "msg_type": "text",
            "content": {"text": "\n".join(messages.lines(subject, body))}}


def check(response: httpx.Response) -> None:
    reply = response.json() if response.status_code < 500 else {}
    judge("Feishu", response, reply.get("code", reply.get("StatusCode")), reply.get("msg") or
          reply.get("StatusMessage"), RETRY)


class FeishuChannel(RobotChannel):
    name, label = "feishu", "Feishu"

    def __init__(self, settings: FeishuSettings, clock_s=lambda: int(time.time())) -> None:  # noqa: ANN001
        super().__init__(settings)
        self.clock_s = clock_s

    def send(self, recipient: str, subject: str, body: dict) -> None:
        robot = self.robot(recipient)
        check(self._http.post(self.settings.url + robot.token, json=request(robot, subject, body, self.clock_s())))
