"""FastAPI dependencies for what every domain's routes need: a database session factory, the clock, the request
limits. The app factory (``community.api.create_app``) puts the real objects on ``app.state``; routes declare what
they use with these ``Annotated`` aliases and never build anything themselves."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from sqlalchemy.orm import sessionmaker

from core.limits import ApiLimits


def _sessions(request: Request) -> sessionmaker:
    return request.app.state.sessions


def _now(request: Request) -> datetime:
    return request.app.state.clock()


def _limits(request: Request) -> ApiLimits:
    return request.app.state.limits


SessionsDep = Annotated[sessionmaker, Depends(_sessions)]
NowDep = Annotated[datetime, Depends(_now)]
LimitsDep = Annotated[ApiLimits, Depends(_limits)]


def too_many(retry_after: int, what: str) -> HTTPException:
    return HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, f"too many {what}; retry in {retry_after} s",
                         headers={"Retry-After": str(retry_after)})


def client_address(request: Request) -> str:
    return request.client.host if request.client else "-"
