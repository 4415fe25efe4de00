"""Notification channels behind one interface (``Channel``): webhook, SMTP e-mail, MQTT. Each raises on failure;
the dispatcher (``notifications.dispatcher``) records the reason and retries."""

from __future__ import annotations

import json
import smtplib
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol

import httpx
import paho.mqtt.client as mqtt

from core.tls import MqttTls


class Undeliverable(Exception):
    """A reply that retrying cannot fix (a bad signature or key, no robot for the site, a template not approved):
    the dispatcher tries the next channel of the chain at once."""


class Channel(Protocol):
    name: str

    def send(self, recipient: str, subject: str, body: dict) -> None:
        """Deliver or raise (``Undeliverable``: do not retry); the exception text is recorded as the reason."""


class WebhookChannel:
    name = "webhook"

    def __init__(self, timeout_s: float = 5.0) -> None:
        self._http = httpx.Client(timeout=timeout_s)

    def send(self, recipient: str, subject: str, body: dict) -> None:
        response = self._http.post(recipient, json={"subject": subject, **body})
        if response.status_code >= 300:
            raise RuntimeError(f"webhook answered HTTP {response.status_code}: {response.text[:200]}")

    def close(self) -> None:
        self._http.close()


class EmailChannel:
    name = "email"

    def __init__(self, host: str, port: int, sender: str, *, username: str | None = None,
                 password: str | None = None, starttls: bool = False, timeout_s: float = 10.0) -> None:
        self.host, self.port, self.sender = host, port, sender
        self.username, self.password, self.starttls, self.timeout_s = username, password, starttls, timeout_s

    def send(self, recipient: str, subject: str, body: dict) -> None:
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = self.sender, recipient, subject
        message.set_content(_email_text(subject, body))
        for attachment in body.get("attachments", []):  # e.g. the daily report's PDF
            path = Path(attachment)
            message.add_attachment(path.read_bytes(), maintype="application",
                                   subtype="pdf" if path.suffix == ".pdf" else "octet-stream", filename=path.name)
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout_s) as smtp:
            if self.starttls:
                smtp.starttls()
            if self.username:
                smtp.login(self.username, self.password or "")
            smtp.send_message(message)


class MqttChannel:
    """Publishes JSON at QoS 1 on the recipient topic (owner notices for community apps, order feeds)."""

    name = "mqtt"

    def __init__(self, host: str, port: int, *, client_id: str, username: str | None = None,
                 password: str | None = None, timeout_s: float = 5.0, tls: MqttTls = MqttTls()) -> None:
        self.timeout_s = timeout_s
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        if username:
            self.client.username_pw_set(username, password)
        tls.apply(self.client)
        self.client.reconnect_delay_set(1, 30)
        self.client.connect_async(host, port, keepalive=30)
        self.client.loop_start()

    def send(self, recipient: str, subject: str, body: dict) -> None:
        if not self.client.is_connected():
            raise RuntimeError("MQTT broker not connected")
        info = self.client.publish(recipient, json.dumps({"subject": subject, **body}, ensure_ascii=False), qos=1)
        info.wait_for_publish(self.timeout_s)
        if not info.is_published():
            raise RuntimeError("MQTT publish not acknowledged in time")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _email_text(subject: str, body: dict) -> str:
    order = body.get("work_order") or {}
    lines = [subject, ""] + [f"{k}: {v}" for k, v in order.items()] + body.get("lines", [])
    if body.get("link"):
        lines += ["", body["link"]]
    return "\n".join(lines) + "\n"
