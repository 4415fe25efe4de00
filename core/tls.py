"""TLS for every MQTT client of ours (the gateway's lanes, the MQTT notification channel, the simulator): the
broker's certificate is verified against a CA file; a client certificate is presented where the broker asks."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt


@dataclass(frozen=True, slots=True)
class MqttTls:
    ca_file: Path | None = None  # None: plain MQTT
    cert_file: Path | None = None
    key_file: Path | None = None

    @property
    def enabled(self) -> bool:
        return self.ca_file is not None

    def apply(self, client: mqtt.Client) -> None:
        """Verify the broker (hostname included) against ``ca_file``; present our certificate if we have one."""
        if not self.enabled:
            return
        client.tls_set(ca_certs=str(self.ca_file), certfile=str(self.cert_file) if self.cert_file else None,
                       keyfile=str(self.key_file) if self.key_file else None, cert_reqs=ssl.CERT_REQUIRED,
                       tls_version=ssl.PROTOCOL_TLS_CLIENT)

    def context(self) -> ssl.SSLContext:
        """The same checks as ``apply``, for a client that opens its own socket (``gateway.transport``)."""
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(self.ca_file))
        if self.cert_file:
            context.load_cert_chain(str(self.cert_file), str(self.key_file) if self.key_file else None)
        return context
