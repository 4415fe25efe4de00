"""The HTTP face of the service. Only ``/healthz`` is open; everything else needs a bearer token (a user's,
from ``POST /auth/token``, or the operator token).

``create_app`` takes its collaborators as arguments, so tests hand it exactly what they use.
"""


import base64
from collections.abc import Callable
from datetime import datetime
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Query, status
from pydantic import BaseModel
from sqlalchemy.orm import sessionmaker

from alerts.auth import Principal
from alerts.config import AlertConfig
from alerts.models import Role
from alerts.pages import build_pages
from alerts.service import AlertService
from alerts.views import build_router, caller_dependency
from community.limits import ApiLimits, BodySizeLimit
from gateway.deadletter import DeadLetterStore


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
    sessions: sessionmaker,
    service: AlertService,
    config: AlertConfig,
    clock: Callable[[], datetime],
    limits: ApiLimits | None = None,
) -> FastAPI:
    app = FastAPI(title="Smart-community monitoring", version="0.1.0",
                  description="Device health, work orders, alerts and owner notices.")
    limits = limits or ApiLimits()
    app.add_middleware(BodySizeLimit, max_bytes=limits.max_body_bytes)
    caller = caller_dependency(sessions, operator_token, clock)

    def staff(me: Annotated[Principal, Depends(caller)]) -> Principal:
        if me.role is not Role.STAFF:
            raise HTTPException(status.HTTP_403_FORBIDDEN, "engineering staff only")
        return me

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

    @app.get("/stats", tags=["health"], dependencies=[Depends(staff)])
    def get_stats() -> dict[str, object]:
        """Counters: received, decoded, written, spooled, replayed, dead-lettered, lag, queue depths."""
        return stats()

    @app.get("/dead-letters", response_model=list[DeadLetterOut], tags=["gateway"], dependencies=[Depends(staff)])
    def list_dead_letters(limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                          offset: Annotated[int, Query(ge=0)] = 0) -> list[DeadLetterOut]:
        return [
            DeadLetterOut(id=row.id, received_at=row.received_at, topic=row.topic, reason=row.reason,
                          payload_size=row.payload_size,
                          payload_text=row.payload.decode("utf-8", "backslashreplace"),
                          payload_base64=base64.b64encode(row.payload).decode())
            for row in dead_letters.latest(limit, offset)
        ]

    app.include_router(build_router(sessions, service, config, caller, clock, limits))
    app.include_router(build_pages(sessions, service, operator_token, clock, limits))
    return app
