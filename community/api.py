"""The HTTP face of the service: health and counters (open), dead letters (operator token).

``create_app`` takes its collaborators as arguments, so tests hand it exactly what they use.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable
from datetime import datetime
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Query, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

from gateway.deadletter import DeadLetterStore

bearer = HTTPBearer(auto_error=False)


class Health(BaseModel):
    status: str  # "ok" or "degraded"
    mqtt_connected: bool
    influx_reachable: bool
    spool_points: int
    problems: list[str]


class DeadLetterOut(BaseModel):
    id: int
    received_at: datetime
    topic: str
    reason: str
    payload_size: int
    payload_text: str
    payload_base64: str


def create_app(
    *,
    stats: Callable[[], dict[str, object]],
    influx_ping: Callable[[], bool],
    dead_letters: DeadLetterStore,
    operator_token: str,
) -> FastAPI:
    app = FastAPI(title="Smart-community monitoring", version="0.1.0")

    def operator(creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> None:
        if creds is None or not secrets.compare_digest(creds.credentials, operator_token):
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "operator bearer token required",
                                headers={"WWW-Authenticate": "Bearer"})

    @app.get("/healthz", response_model=Health, tags=["health"])
    def healthz() -> Health:
        data = stats()
        reachable = influx_ping()
        problems = []
        if not data["mqtt_connected"]:
            problems.append("MQTT broker not connected")
        if not reachable:
            problems.append("InfluxDB not reachable: readings are being spooled")
        return Health(status="degraded" if problems else "ok", mqtt_connected=bool(data["mqtt_connected"]),
                      influx_reachable=reachable, spool_points=int(data["spool_points"]), problems=problems)

    @app.get("/stats", tags=["health"])
    def get_stats() -> dict[str, object]:
        """Counters: received, decoded, written, spooled, replayed, dead-lettered, lag, queue depths."""
        return stats()

    @app.get("/dead-letters", response_model=list[DeadLetterOut], tags=["gateway"],
             dependencies=[Depends(operator)])
    def list_dead_letters(limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                          offset: Annotated[int, Query(ge=0)] = 0) -> list[DeadLetterOut]:
        return [
            DeadLetterOut(id=row.id, received_at=row.received_at, topic=row.topic, reason=row.reason,
                          payload_size=row.payload_size,
                          payload_text=row.payload.decode("utf-8", "backslashreplace"),
                          payload_base64=base64.b64encode(row.payload).decode())
            for row in dead_letters.latest(limit, offset)
        ]

    return app
