"""Log in, and who am I. Also the ``Me`` dependency every other domain's routes use to know the caller."""

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer, OAuth2PasswordRequestForm
from pydantic import BaseModel, Field

from core.deps import LimitsDep, NowDep, SessionsDep, client_address, too_many
from people import service
from people.models import ActivateIn, InviteOut, Role, User, UserIn, UserOut, UserPatch
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


def _refused(err: LoginRefused) -> HTTPException:
    if err.retry_after is not None:
        return HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, str(err), headers={"Retry-After": str(err.retry_after)})
    return HTTPException(status.HTTP_401_UNAUTHORIZED, str(err))


@router.post("/auth/token", response_model=TokenOut)
def login(request: Request, form: Annotated[OAuth2PasswordRequestForm, Depends()], sessions: SessionsDep,
          limits: LimitsDep, now: NowDep) -> TokenOut:
    """Exchange username (owners: their phone number) and password for a bearer token (12 h). Rate limited per
    address and username."""
    try:
        token, expires, role = log_in(sessions, limits, client_address(request), form.username, form.password, now)
    except LoginRefused as err:
        raise _refused(err) from None
    return TokenOut(access_token=token, role=role, expires_at=expires)


@router.post("/auth/activate", response_model=TokenOut)
def activate(request: Request, body: ActivateIn, sessions: SessionsDep, limits: LimitsDep, now: NowDep) -> TokenOut:
    """Set a password with a one-time invite code (a new owner's first, or one after a reset), and log in."""
    address = client_address(request)
    try:
        user = service.redeem_invite(sessions, limits, address, body.username, body.code, body.password, now)
        token, expires, role = log_in(sessions, limits, address, user.username, body.password, now)
    except LoginRefused as err:
        raise _refused(err) from None
    return TokenOut(access_token=token, role=role, expires_at=expires)


@router.get("/users", response_model=list[UserOut])
def list_users(me: Staff, sessions: SessionsDep, role: Role | None = None) -> list[User]:
    """Staff: everyone with an account (owners included)."""
    with sessions() as session:
        return service.list_users(session, role)


@router.post("/users", response_model=InviteOut | UserOut, status_code=status.HTTP_201_CREATED,
             dependencies=[Depends(throttle_writes)])
def create_user(body: UserIn, me: Staff, sessions: SessionsDep, now: NowDep) -> InviteOut | User:
    """Staff: create (or replace) an account. Without a password, the answer is the invite code to hand over."""
    try:
        with sessions.begin() as session:
            user = service.create_user(session, body.username, body.password, body.role, person_id=body.person_id,
                                       sites=body.sites, site=body.site, building=body.building, unit=body.unit,
                                       name=body.name, phone=body.phone)
            user.language = body.language
            if body.password:
                return UserOut.model_validate(user)
            code, expires = service.create_invite(session, user.username, now)
            return InviteOut(username=user.username, code=code, expires_at=expires)
    except ValueError as err:
        raise HTTPException(422, str(err)) from None


@router.patch("/users/{username}", response_model=UserOut, dependencies=[Depends(throttle_writes)])
def update_user(username: str, body: UserPatch, me: Staff, sessions: SessionsDep) -> UserOut:
    """Staff: change role, sites, person id, name, phone; ``disabled: true`` also ends their sessions."""
    try:
        with sessions.begin() as session:
            return UserOut.model_validate(service.update_user(session, username, body.model_dump(exclude_unset=True)))
    except LookupError as err:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(err)) from None


@router.post("/users/{username}/invite", response_model=InviteOut, dependencies=[Depends(throttle_writes)])
def invite(username: str, me: Staff, sessions: SessionsDep, now: NowDep) -> InviteOut:
    """Staff: a new one-time code for this user to set a password (a reset; older codes stop working)."""
    with sessions.begin() as session:
        if session.get(User, username) is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no user {username!r}")
        code, expires = service.create_invite(session, username, now)
    return InviteOut(username=username, code=code, expires_at=expires)


@router.get("/me")
def me(me: Me) -> dict:
    return {"username": me.username, "role": me.role.value, "person_id": me.person_id, "sites": list(me.sites),
            "site": me.site, "building": me.building, "unit": me.unit, "language": me.language}


class LanguageIn(BaseModel):
    language: Literal["zh_CN", "en"] | None = Field(description="None: their site's language")


@router.put("/me/language")
def set_my_language(body: LanguageIn, me: Me, sessions: SessionsDep) -> dict:
    """Anyone: the language of their pages and of what is sent to them."""
    with sessions.begin() as session:
        user = session.get(User, me.username)
        if user is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "the operator token has no settings")
        user.language = body.language
    return {"language": body.language}
