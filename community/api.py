"""The HTTP face of the service: the app factory. Only the health routes (``/livez``, ``/readyz``, ``/healthz``,
``/metrics``) and the login are open; everything else needs a bearer token
(a user's, from ``POST /auth/token``, or the operator token).

``create_app`` takes its collaborators as arguments and puts them on ``app.state``, where the domains' routes find
them through dependencies (``core.deps``, ``people.views.Me``, ``workorders.views.DeskDep``); tests hand it
exactly what they use.
"""

import base64
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated

from fastapi import FastAPI, Query, Response, status
from fastapi.responses import PlainTextResponse
from fastapi_offline import FastAPIOffline
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import BaseModel
from sqlalchemy.orm import sessionmaker

from alerts import views as alert_views
from alerts.config import AlertConfig
from community.health import Health, Probes, StatsCollector
from core.limits import ApiLimits, BodySizeLimit
from devices import views as device_views
from gateway.deadletter import DeadLetterStore
from intake import views as intake_views
from kpis import views as kpi_views
from notices import views as notice_views
from notifications import views as notification_views
from people import views as people_views
from people.views import Staff
from register import views as register_views
from web import pages
from workorders import views as order_views
from workorders.flows import WorkOrderDesk


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
    probes: Probes | None = None,
    operator_token: str,
    sessions: sessionmaker,
    desk: WorkOrderDesk,
    config: AlertConfig,
    clock: Callable[[], datetime],
    limits: ApiLimits | None = None,
    secure_cookies: bool = False,
    attachments_dir: Path | None = None,
) -> FastAPI:
    # /docs and /redoc from assets shipped in the fastapi-offline package: they work on a site network without
    # internet (the default pages load Swagger UI and ReDoc from a CDN and stay blank there)
    app = FastAPIOffline(title="Smart-community monitoring", version="0.1.0",
                         description="Device health, work orders, alerts and owner notices.")
    limits = limits or ApiLimits()
    app.state.sessions, app.state.clock, app.state.limits = sessions, clock, limits
    app.state.operator_token, app.state.desk, app.state.alert_config = operator_token, desk, config
    app.state.secure_cookies = secure_cookies
    app.state.attachments_dir = attachments_dir or Path("var/attachments")
    app.add_middleware(BodySizeLimit, max_bytes=limits.max_body_bytes, max_upload_bytes=limits.max_upload_bytes)

    probes = probes or Probes(stats, influx_ping, sessions)
    registry = CollectorRegistry(auto_describe=True)
    registry.register(StatsCollector(stats))

    @app.get("/livez", tags=["health"])
    def livez() -> dict[str, str]:
        """The process answers: restart it only when this fails."""
        return {"status": "alive"}

    @app.get("/readyz", response_model=Health, tags=["health"], responses={503: {"model": Health}})
    def readyz(response: Response) -> Health:
        """Can the service do its work? 503 with the problems when the broker, InfluxDB or the work-order database
        is unreachable, or the spool or the alert backlog is past its limit."""
        health = probes.health()
        if health.problems:
            response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        return health

    @app.get("/healthz", response_model=Health, tags=["health"], responses={503: {"model": Health}})
    def healthz(response: Response) -> Health:
        """The same as ``/readyz`` (kept for existing probes)."""
        return readyz(response)

    @app.get("/metrics", tags=["health"], response_class=PlainTextResponse)
    def metrics() -> PlainTextResponse:
        """Prometheus exposition of the counters, backlogs, spool and latencies."""
        return PlainTextResponse(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/stats", tags=["health"])
    def get_stats(_: Staff) -> dict[str, object]:
        """Counters: received, decoded, written, spooled, replayed, dead-lettered, lag, queue depths."""
        return stats()

    @app.get("/dead-letters", response_model=list[DeadLetterOut], tags=["gateway"])
    def list_dead_letters(_: Staff, limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                          offset: Annotated[int, Query(ge=0)] = 0) -> list[DeadLetterOut]:
        return [
            DeadLetterOut(id=row.id, received_at=row.received_at, topic=row.topic, reason=row.reason,
                          payload_size=row.payload_size,
                          payload_text=row.payload.decode("utf-8", "backslashreplace"),
                          payload_base64=base64.b64encode(row.payload).decode())
            for row in dead_letters.latest(limit, offset)
        ]

    for router in (people_views.router, intake_views.router, order_views.router, alert_views.router,
                   notice_views.router, notification_views.router, device_views.router, register_views.router,
                   kpi_views.router,
                   pages.router):
        app.include_router(router)
    return app



