"""Request limits for the HTTP API: a sliding-window rate limiter and a maximum body size (pure ASGI)."""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field


class RateLimiter:
    """At most ``limit`` hits per ``window_s`` per key; memory is bounded by pruning idle keys."""

    def __init__(self, limit: int, window_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.window_s, self.clock = limit, window_s, clock
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()
        self._last_prune = clock()

    def allow(self, key: str) -> bool:
        now = self.clock()
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            while hits and now - hits[0] >= self.window_s:
                hits.popleft()
            if len(hits) >= self.limit:
                return False
            hits.append(now)
            if now - self._last_prune > self.window_s:
                self._prune(now)
            return True

    def blocked(self, key: str) -> bool:
        """Would the next hit be refused? (Does not count as a hit.)"""
        now = self.clock()
        with self._lock:
            hits = self._hits.get(key)
            return bool(hits) and sum(1 for h in hits if now - h < self.window_s) >= self.limit

    def retry_after(self, key: str) -> int:
        with self._lock:
            hits = self._hits.get(key)
            if not hits:
                return 0
            return max(1, int(self.window_s - (self.clock() - hits[0])) + 1)

    def _prune(self, now: float) -> None:
        for key in [k for k, v in self._hits.items() if not v or now - v[-1] >= self.window_s]:
            del self._hits[key]
        self._last_prune = now


class Lockout:
    """Failed logins counted per key (a user *and* the address they try from): ``limit`` failures within
    ``window_s`` lock that key for ``lock_s``, doubling with each further lockout up to ``max_lock_s``; a success
    clears it. Keyed by address too, so nobody can lock a colleague out by guessing their password from elsewhere."""

    def __init__(self, limit: int = 5, window_s: float = 300, lock_s: float = 60, max_lock_s: float = 3600,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.window_s, self.lock_s, self.max_lock_s, self.clock = limit, window_s, lock_s, max_lock_s, clock
        self._failures: dict[str, deque[float]] = {}
        self._locked_until: dict[str, float] = {}
        self._lockouts: dict[str, int] = {}
        self._lock = threading.Lock()

    def retry_after(self, key: str) -> int:
        """Seconds until this key may try again; 0 when it may now."""
        with self._lock:
            left = self._locked_until.get(key, 0.0) - self.clock()
            return max(1, int(left) + 1) if left > 0 else 0

    def failed(self, key: str) -> None:
        now = self.clock()
        with self._lock:
            failures = self._failures.setdefault(key, deque())
            failures.append(now)
            while failures and now - failures[0] >= self.window_s:
                failures.popleft()
            if len(failures) >= self.limit:
                count = self._lockouts[key] = self._lockouts.get(key, 0) + 1
                self._locked_until[key] = now + min(self.lock_s * 2 ** (count - 1), self.max_lock_s)
                failures.clear()
            if len(self._failures) > 10_000:  # bounded memory under a spray of usernames
                self._prune(now)

    def succeeded(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)
            self._locked_until.pop(key, None)
            self._lockouts.pop(key, None)

    def _prune(self, now: float) -> None:
        for key in [k for k, v in self._failures.items() if not v or now - v[-1] >= self.window_s]:
            del self._failures[key]
        for key in [k for k, until in self._locked_until.items() if until <= now - self.max_lock_s]:
            self._locked_until.pop(key, None)
            self._lockouts.pop(key, None)


@dataclass
class ApiLimits:
    """The API's limits, one object so tests can pass tighter ones."""

    login_attempts: RateLimiter = field(default_factory=lambda: RateLimiter(20, 60))  # per client address
    login_failures: Lockout = field(default_factory=Lockout)  # per (username, address), with backoff
    writes: RateLimiter = field(default_factory=lambda: RateLimiter(120, 60))  # per caller
    max_body_bytes: int = 64 * 1024
    max_upload_bytes: int = 16 * 1024 * 1024  # requests with photos (UPLOAD_PATHS)


UPLOAD_PATHS = ("/requests", "/ui/requests", "/register/import")  # bodies with photos or register files


class BodySizeLimit:
    """Answer 413 to a request whose body is larger than ``max_bytes``, declared or streamed. The body (at most
    ``max_bytes``) is read here first and handed on in one piece."""

    def __init__(self, app, max_bytes: int, *, max_upload_bytes: int | None = None,  # noqa: ANN001 - ASGI app
                 upload_paths: tuple[str, ...] = UPLOAD_PATHS) -> None:
        self.app, self.max_bytes = app, max_bytes
        self.max_upload_bytes, self.upload_paths = max_upload_bytes or max_bytes, upload_paths

    async def __call__(self, scope, receive, send) -> None:  # noqa: ANN001
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        limit = self.max_upload_bytes if path.startswith(self.upload_paths) and scope.get("method") == "POST" \
            else self.max_bytes
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._reject(send, limit)
            return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > limit:
                await self._reject(send, limit)
                return
            if not message.get("more_body"):
                break
        body, delivered = b"".join(chunks), False

        async def replay():  # noqa: ANN202
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _reject(self, send, limit: int) -> None:  # noqa: ANN001
        body = json.dumps({"detail": f"request body larger than {limit} bytes"}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
