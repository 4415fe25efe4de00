"""A small client for InfluxDB's v1 HTTP API (``/ping``, ``/write``, ``/query``).

InfluxDB 1.x serves it natively; 2.x and 3.x serve it as their compatibility API (database = bucket through a
DBRP mapping, token auth). That is why the service speaks it instead of the 2.x-only write API.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx


class InfluxUnavailable(Exception):
    """The server could not be reached or answered 5xx: retry later, keep the data."""


class InfluxRejected(Exception):
    """The server refused the data itself (4xx): retrying the same bytes will not help."""


class InfluxFull(InfluxUnavailable):
    """The server refused new series because of a limit of its own configuration (InfluxDB 1.x:
    ``max-values-per-tag``, 100,000 by default, so the 100,001st device of a kind; ``max-series-per-database``,
    1,000,000). The readings are good: keep them (spooled) until an operator raises the limit. The points of the
    batch it did accept are written; sending them again overwrites them with the same values."""


LIMITS = ("max-values-per-tag limit exceeded", "max-series-per-database limit exceeded")


@dataclass(frozen=True, slots=True)
class InfluxConfig:
    url: str = "http://127.0.0.1:8086"
    database: str = "community"
    retention_policy: str | None = None
    username: str | None = None
    password: str | None = None
    token: str | None = None
    timeout_s: float = 5.0


class InfluxV1Client:
    def __init__(self, config: InfluxConfig) -> None:
        self.config = config
        headers = {"Authorization": f"Token {config.token}"} if config.token else {}
        auth = (config.username, config.password or "") if config.username and not config.token else None
        self._http = httpx.Client(base_url=config.url, headers=headers, auth=auth, timeout=config.timeout_s)

    def close(self) -> None:
        self._http.close()

    def ping(self) -> bool:
        try:
            return self._http.get("/ping").status_code == 204
        except httpx.HTTPError:
            return False

    def ensure_database(self) -> bool:
        """Create the database where the server lets us: ``CREATE DATABASE`` is idempotent on 1.x. InfluxDB 2.x and
        3.x answer "not implemented" (a bucket and its DBRP mapping are the administrator's, docs/operations.md):
        that is no error here, and False says the database is managed elsewhere. Raises ``InfluxUnavailable``."""
        try:
            self.query(f'CREATE DATABASE "{self.config.database}"', method="POST")
        except InfluxRejected as err:
            if "not implemented" in str(err).lower() or "forbidden" in str(err).lower():
                return False
            raise
        return True

    def write_lines(self, lines: list[str]) -> None:
        """Write points (ms precision). Raises InfluxUnavailable or InfluxRejected."""
        params = {"db": self.config.database, "precision": "ms"}
        if self.config.retention_policy:
            params["rp"] = self.config.retention_policy
        body = ("\n".join(lines)).encode("utf-8")
        try:
            response = self._http.post("/write", params=params, content=body)
        except httpx.HTTPError as err:
            raise InfluxUnavailable(f"{type(err).__name__}: {err}") from err
        if response.status_code == 204:
            return
        detail = _error_text(response)
        if response.status_code >= 500 or response.status_code in (401, 403, 404, 429):
            # auth or missing database are deployment problems: keep the data until they are fixed.
            raise InfluxUnavailable(f"HTTP {response.status_code}: {detail}")
        if any(limit in detail for limit in LIMITS):
            raise InfluxFull(f"HTTP {response.status_code}: {detail}")
        raise InfluxRejected(f"HTTP {response.status_code}: {detail}")

    def query(self, q: str, *, method: str = "GET", epoch: str = "ms") -> list[dict[str, Any]]:
        """Run InfluxQL; return the ``series`` of the first statement (empty list when none). A long query (one
        naming hundreds of sites) goes as a POST body: a URL of that length is refused by proxies and servers."""
        params = {"db": self.config.database, "q": q, "epoch": epoch}
        method = "POST" if len(q) > 4000 else method
        try:
            response = (
                self._http.post("/query", data=params) if method == "POST" else self._http.get("/query", params=params)
            )
        except httpx.HTTPError as err:
            raise InfluxUnavailable(f"{type(err).__name__}: {err}") from err
        if response.status_code >= 500:
            raise InfluxUnavailable(f"HTTP {response.status_code}: {_error_text(response)}")
        if response.status_code != 200:
            raise InfluxRejected(f"HTTP {response.status_code}: {_error_text(response)}")
        result = response.json()["results"][0]
        if "error" in result:
            raise InfluxRejected(result["error"])
        return result.get("series", [])

    def count(self, measurement: str, field: str = "seq", where: str = "") -> int:
        """``SELECT count(field)``: handy for operators and tests."""
        series = self.query(f'SELECT count("{field}") FROM "{measurement}" {where}')
        return int(series[0]["values"][0][1]) if series else 0


def _error_text(response: httpx.Response) -> str:
    try:
        return str(response.json().get("error", response.text))[:500]
    except ValueError:
        return response.text[:500]
