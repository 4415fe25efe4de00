"""Log in, and who am I. Also the ``Me`` dependency every other domain's routes use to know the caller."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer, OAuth2PasswordRequestForm
from pydantic import BaseModel

from core.deps import LimitsDep, NowDep, SessionsDep, client_address, too_many
from people.models import Role
from people.service import LoginRefused, Principal, log_in, resolve_principal

router = APIRouter(tags=["auth"])
_bearer = HTTPBearer(auto_error=False)


def _caller(request: Request, sessions: SessionsDep, now: NowDep,
            creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Principal:
    """Resolve the bearer token to a principal; 401 without a valid one."""
    if creds is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "bearer token required",
                            headers={"WWW-Authenticate": "Bearer"})
    me = resolve_principal(sessions, creds.credentials, request.app.state.operator_token, now)
    if me is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "invalid or expired token",
                            headers={"WWW-Authenticate": "Bearer"})
    return me


Me = Annotated[Principal, Depends(_caller)]


def require(me: Principal, *roles: Role) -> None:
    if me.role not in roles:
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"role {me.role.value} may not do this")


def _staff(me: Me) -> Principal:
    if me.role is not Role.STAFF:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "engineering staff only")
    return me


Staff = Annotated[Principal, Depends(_staff)]


def throttle_writes(limits: LimitsDep, me: Me) -> None:
    """A dependency for routes that change things: at most ``limits.writes`` per caller."""
    if not limits.writes.allow(me.username):
        raise too_many(limits.writes.retry_after(me.username), "changes")


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    role: Role
    expires_at: datetime


@router.post("/auth/token", response_model=TokenOut)
def login(request: Request, form: Annotated[OAuth2PasswordRequestForm, Depends()], sessions: SessionsDep,
          limits: LimitsDep, now: NowDep) -> TokenOut:
    """Exchange username and password for a bearer token (12 h). Rate limited per address and username."""
    try:
        token, expires, role = log_in(sessions, limits, client_address(request), form.username, form.password, now)
    except LoginRefused as err:
        if err.retry_after is not None:
            raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, str(err),
                                headers={"Retry-After": str(err.retry_after)}) from None
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(err)) from None
    return TokenOut(access_token=token, role=role, expires_at=expires)


@router.get("/me")
def me(me: Me) -> dict:
    return {"username": me.username, "role": me.role.value, "person_id": me.person_id, "sites": list(me.sites),
            "site": me.site, "building": me.building, "unit": me.unit}
