"""DingTalk (钉钉) custom robot with signing: ``POST <url>?access_token=<token>&timestamp=<ms>&sign=<sign>`` where
``sign`` is Base64(HMAC-SHA256(key=secret, message="<timestamp>\\n<secret>")), URL-encoded; body
``{"msgtype": "markdown", "markdown": {"title", "text"}, "at": {"atMobiles": [...]}}``; reply ``{"errcode": 0}``
(130101: sending too fast, retried; 310000: signature, keyword or IP refused)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

import httpx

from core.settings import DingtalkSettings, RobotSecret
from notifications import messages
from notifications.providers.robot import RobotChannel, judge

RETRY = {130101, -1}


def sign(timestamp_ms: int, secret: str) -> str:
    """The ``sign`` parameter before URL encoding (httpx encodes it)."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def request(robot: RobotSecret, subject: str, body: dict, timestamp_ms: int) -> tuple[dict, dict]:
    phones = [body["mention_phone"]] if body.get("mention_phone") else []
    text = messages.markdown(subject, body, mention=" ".join(f"@{p}" for p in phones) or None)
    query = {"access_token": robot.token, "timestamp": str(timestamp_ms), "sign": sign(timestamp_ms, robot.secret)}
    return query, {"msgtype": "markdown", "markdown": {"title": subject[:60], "text": text},
                   "at": {"atMobiles": phones, "isAtAll": False}}


def check(response: httpx.Response) -> None:
    reply = response.json() if response.status_code < 500 else {}
    judge("DingTalk", response, reply.get("errcode"), reply.get("errmsg"), RETRY)


class DingtalkChannel(RobotChannel):
    name, label = "dingtalk", "DingTalk"

    def __init__(self, settings: DingtalkSettings, clock_ms=lambda: int(time.time() * 1000)) -> None:  # noqa: ANN001
        super().__init__(settings)
        self.clock_ms = clock_ms

    def send(self, recipient: str, subject: str, body: dict) -> None:
        query, payload = request(self.robot(recipient), subject, body, self.clock_ms())
        check(self._http.post(self.settings.url, params=query, json=payload))
