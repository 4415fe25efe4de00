"""What the group robots (WeCom, DingTalk, Feishu) share: one robot per site, and replies with a numeric code."""

from __future__ import annotations

from typing import Any

import httpx

from notifications.channels import Undeliverable


class RobotChannel:
    """The recipient is a site: the robot of its staff group (``settings.robots``)."""

    name = ""
    label = ""

    def __init__(self, settings: Any) -> None:  # noqa: ANN401 - a robots settings section
        self.settings = settings
        self._http = httpx.Client(timeout=settings.timeout_s)

    def reaches(self, recipient: str) -> bool:
        return recipient in self.settings.robots

    def robot(self, site: str) -> Any:  # noqa: ANN401 - the key, or a RobotSecret
        if site not in self.settings.robots:
            raise Undeliverable(f"no {self.label} robot for site {site}")
        return self.settings.robots[site]

    def close(self) -> None:
        self._http.close()


def judge(label: str, response: httpx.Response, code: object, message: object, retry: set) -> None:
    """Code 0 is delivered; a code in ``retry`` (rate limits) or a 5xx is worth retrying; anything else is not."""
    if response.status_code >= 500:
        raise RuntimeError(f"{label} answered HTTP {response.status_code}")
    if code == 0:
        return
    error = f"{label} code {code}: {message}"
    if code in retry or response.status_code == 429:
        raise RuntimeError(error)
    raise Undeliverable(error)
