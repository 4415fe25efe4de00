"""Users, roles and bearer tokens: who is calling, and what they may see (functions over a session).

Passwords are stored as PBKDF2-SHA256 hashes; API tokens are random, stored only as their SHA-256, and expire.
Three roles: engineering ``staff`` (everything), ``technician`` (orders of their sites), ``owner`` (notices of
their building and unit). The operator token from the settings acts as a staff member named ``operator``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Select, delete
from sqlalchemy.orm import Session, sessionmaker

from core.limits import ApiLimits
from people.models import ApiToken, Role, User

ITERATIONS = 200_000


@dataclass(frozen=True)
class Principal:
    username: str
    role: Role
    person_id: str | None = None
    sites: tuple[str, ...] = ()
    site: str | None = None
    building: str | None = None
    unit: str | None = None

    def only_my_sites(self, query: Select, site_column: ColumnElement) -> Select:
        """Narrow a query to a technician's sites (staff, and technicians without a site list, see all)."""
        if self.role is Role.TECHNICIAN and self.sites:
            return query.where(site_column.in_(self.sites))
        return query

    def may_work_site(self, site: str) -> bool:
        if self.role is Role.STAFF:
            return True
        return self.role is Role.TECHNICIAN and (not self.sites or site in self.sites)


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, ITERATIONS)
    return f"pbkdf2_sha256${ITERATIONS}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        _scheme, iterations, salt, digest = stored.split("$")
    except ValueError:
        return False
    candidate = hashlib.pbkdf2_hmac("sha256", password.encode(), bytes.fromhex(salt), int(iterations))
    return hmac.compare_digest(candidate.hex(), digest)


def create_user(session: Session, username: str, password: str, role: Role, *, person_id: str | None = None,
                sites: list[str] | None = None, site: str | None = None, building: str | None = None,
                unit: str | None = None) -> User:
    if len(password) < 8:
        raise ValueError("password must have at least 8 characters")
    if role is Role.OWNER and not (site and building):
        raise ValueError("an owner needs a site and a building (and usually a unit)")
    user = session.get(User, username) or User(username=username)
    user.role, user.password_hash, user.person_id = role.value, hash_password(password), person_id
    user.sites, user.site, user.building, user.unit = list(sites or []), site, building, unit
    session.add(user)
    return user


def principal(user: User) -> Principal:
    return Principal(user.username, Role(user.role), user.person_id, tuple(user.sites or ()), user.site,
                     user.building, user.unit)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(session: Session, username: str, now: datetime,
                ttl: timedelta = timedelta(hours=12)) -> tuple[str, datetime]:
    session.execute(delete(ApiToken).where(ApiToken.expires_at < now))
    token = secrets.token_urlsafe(32)
    expires = now + ttl
    session.add(ApiToken(token_hash=token_digest(token), username=username, expires_at=expires))
    return token, expires


def user_for_token(session: Session, token: str, now: datetime) -> User | None:
    row = session.get(ApiToken, token_digest(token))
    if row is None or row.expires_at < now:
        return None
    return session.get(User, row.username)


def revoke_token(session: Session, token: str) -> None:
    session.execute(delete(ApiToken).where(ApiToken.token_hash == token_digest(token)))


class LoginRefused(Exception):
    """Wrong credentials (``retry_after`` is None) or too many attempts (seconds to wait)."""

    def __init__(self, reason: str, retry_after: int | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


def check_login_rate(limits: ApiLimits, address: str, username: str) -> None:
    """Refuse when this address tries too often, or this user failed too often *from this address*."""
    if not limits.login_attempts.allow(address):
        retry = limits.login_attempts.retry_after(address)
        raise LoginRefused(f"too many login attempts from this address; retry in {retry} s", retry)
    retry = limits.login_failures.retry_after(_pair(username, address))
    if retry:
        raise LoginRefused(f"too many failed logins for this user from this address; retry in {retry} s", retry)


def _pair(username: str, address: str) -> str:
    return f"{username}\x00{address}"


def log_in(sessions: sessionmaker, limits: ApiLimits, address: str, username: str, password: str,
           now: datetime) -> tuple[str, datetime, Role]:
    """The one login both the API and the pages use: rate limits, password check, a new token."""
    check_login_rate(limits, address, username)
    with sessions.begin() as session:
        user = session.get(User, username)
        if user is None or not verify_password(password, user.password_hash):
            limits.login_failures.failed(_pair(username, address))
            raise LoginRefused("wrong username or password")
        limits.login_failures.succeeded(_pair(username, address))
        token, expires = issue_token(session, user.username, now)
        return token, expires, Role(user.role)


def resolve_principal(sessions: sessionmaker, token: str | None, operator_token: str,
                      now: datetime) -> Principal | None:
    """The caller behind a bearer token or page cookie, or None."""
    if not token:
        return None
    if secrets.compare_digest(token, operator_token):
        return Principal("operator", Role.STAFF)
    with sessions() as session:
        user = user_for_token(session, token, now)
        return principal(user) if user else None
