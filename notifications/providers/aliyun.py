"""Aliyun (阿里云) SMS (``SendSms``, 2017-05-25) and voice calls (``SingleCallByTts``, 2017-05-25), RPC style:
every parameter in the query, signed with signature version 1.0: ``StringToSign = "GET&%2F&" +
percent(canonical query)`` and ``Signature = Base64(HMAC-SHA1(key=AccessKeySecret + "&", StringToSign))``. The reply's
``Code`` is ``OK``; throttling is retried, a bad signature, key, number or an unapproved template or signature is
not."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import quote

import httpx

from core.settings import SmsSettings, VoiceSettings
from notifications import messages
from notifications.channels import Undeliverable

RETRY = {"isv.BUSINESS_LIMIT_CONTROL", "Throttling.User", "Throttling", "ServiceUnavailable", "InternalError",
         "isp.RAM_PERMISSION_DENY_RETRY"}


def percent(text: str) -> str:
    """RFC 3986 encoding as Aliyun's POP specifies it (space -> %20, * -> %2A, ~ kept)."""
    return quote(text, safe="~")


def signature(params: dict[str, str], secret: str, method: str = "GET") -> str:
    canonical = "&".join(f"{percent(k)}={percent(v)}" for k, v in sorted(params.items()))
    to_sign = f"{method}&{percent('/')}&{percent(canonical)}"
    return base64.b64encode(hmac.new(f"{secret}&".encode(), to_sign.encode(), hashlib.sha1).digest()).decode()


def common(action: str, key_id: str, region: str, now: datetime, nonce: str) -> dict[str, str]:
    return {"AccessKeyId": key_id, "Action": action, "Format": "JSON", "RegionId": region,
            "SignatureMethod": "HMAC-SHA1", "SignatureNonce": nonce, "SignatureVersion": "1.0",
            "Timestamp": now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "Version": "2017-05-25"}


def signed(params: dict[str, str], secret: str) -> dict[str, str]:
    return {**params, "Signature": signature(params, secret)}


def check(response: httpx.Response, what: str) -> None:
    try:
        reply = response.json()
    except ValueError:
        raise RuntimeError(f"{what} answered HTTP {response.status_code} without JSON") from None
    code = reply.get("Code")
    if code == "OK":
        return
    error = f"{what} {code}: {reply.get('Message')}"
    if code in RETRY or response.status_code >= 500:
        raise RuntimeError(error)
    raise Undeliverable(error)


class _Aliyun:
    def __init__(self, endpoint: str, key_id: str, secret: str, region: str, timeout_s: float,
                 clock: Callable[[], datetime], nonce: Callable[[], str]) -> None:
        self.endpoint, self.key_id, self.secret, self.region = endpoint, key_id, secret, region
        self.clock, self.nonce = clock, nonce
        self._http = httpx.Client(timeout=timeout_s)

    def call(self, action: str, params: dict[str, str], what: str) -> None:
        query = signed(common(action, self.key_id, self.region, self.clock(), self.nonce()) | params, self.secret)
        check(self._http.get(self.endpoint, params=query), what)

    def reaches(self, recipient: str) -> bool:
        return recipient.lstrip("+").isdigit()

    def close(self) -> None:
        self._http.close()


class SmsChannel(_Aliyun):
    """The recipient is a phone number; the text is the approved template filled with the order's variables."""

    name = "sms"

    def __init__(self, settings: SmsSettings, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 nonce: Callable[[], str] = lambda: str(uuid.uuid4())) -> None:
        super().__init__(settings.endpoint, settings.access_key_id or "", settings.access_key_secret or "",
                         settings.region, settings.timeout_s, clock, nonce)
        self.settings = settings

    def send(self, recipient: str, subject: str, body: dict) -> None:
        params = {"PhoneNumbers": recipient, "SignName": self.settings.sign_name or "",
                  "TemplateCode": self.settings.template_code or "",
                  "TemplateParam": json.dumps(messages.sms_params(subject, body), ensure_ascii=False,
                                              separators=(",", ":"))}
        self.call("SendSms", params, "Aliyun SMS")


class VoiceChannel(_Aliyun):
    """A text-to-speech call to a phone number (life-safety escalation)."""

    name = "voice"

    def __init__(self, settings: VoiceSettings, sms: SmsSettings, *,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 nonce: Callable[[], str] = lambda: str(uuid.uuid4())) -> None:
        super().__init__(settings.endpoint, settings.access_key_id or sms.access_key_id or "",
                         settings.access_key_secret or sms.access_key_secret or "", settings.region,
                         settings.timeout_s, clock, nonce)
        self.settings = settings

    def send(self, recipient: str, subject: str, body: dict) -> None:
        params = {"CalledNumber": recipient, "CalledShowNumber": self.settings.called_show_number or "",
                  "TtsCode": self.settings.tts_code or "",
                  "TtsParam": json.dumps(messages.sms_params(subject, body), ensure_ascii=False,
                                         separators=(",", ":"))}
        self.call("SingleCallByTts", params, "Aliyun voice")
