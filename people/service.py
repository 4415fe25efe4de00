"""Users, roles and bearer tokens: who is calling, and what they may see (functions over a session).

Passwords are stored as PBKDF2-SHA256 hashes; API tokens are random, stored only as their SHA-256, and expire.
Three roles: engineering ``staff`` (everything), ``technician`` (orders of their sites), ``owner`` (notices of
their building and unit). The operator token from the settings acts as a staff member named ``operator``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Select, delete, select
from sqlalchemy.orm import Session, sessionmaker

from core.i18n import N_
from core.limits import ApiLimits
from people.models import ApiToken, Invite, Role, User

ITERATIONS = 200_000
INVITE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L: read aloud or typed from paper
INVITE_TTL = timedelta(days=30)


@dataclass(frozen=True)
class Principal:
    username: str
    role: Role
    person_id: str | None = None
    sites: tuple[str, ...] = ()
    site: str | None = None
    building: str | None = None
    unit: str | None = None
    language: str | None = None  # their own setting (None: their site's, else the deployment's)

    @property
    def home_site(self) -> str | None:
        return self.site or (self.sites[0] if self.sites else None)

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


def create_user(session: Session, username: str, password: str | None, role: Role, *, person_id: str | None = None,
                sites: list[str] | None = None, site: str | None = None, building: str | None = None,
                unit: str | None = None, name: str | None = None, phone: str | None = None) -> User:
    """Create or replace a user. Without a password the account waits for its invite code (``create_invite``)."""
    if password is not None and len(password) < 8:
        raise ValueError("password must have at least 8 characters")
    if role is Role.OWNER and not (site and building):
        raise ValueError("an owner needs a site and a building (and usually a unit)")
    user = session.get(User, username) or User(username=username)
    user.role, user.person_id = role.value, person_id
    user.password_hash = hash_password(password) if password else ""
    user.sites, user.site, user.building, user.unit = list(sites or []), site, building, unit
    user.name, user.phone, user.disabled = name, phone, False
    session.add(user)
    return user


def list_users(session: Session, role: Role | None = None) -> list[User]:
    query = select(User).order_by(User.role, User.username)
    return list(session.scalars(query.where(User.role == role.value) if role else query))


def update_user(session: Session, username: str, changes: dict) -> User:
    """Change role, sites, person id, name or phone; ``disabled`` also ends the user's sessions."""
    user = session.get(User, username)
    if user is None:
        raise LookupError(f"no user {username!r}")
    for name, value in changes.items():
        setattr(user, name, value.value if isinstance(value, Role) else value)
    if changes.get("disabled"):
        session.execute(delete(ApiToken).where(ApiToken.username == username))
    return user


def create_invite(session: Session, username: str, now: datetime, ttl: timedelta = INVITE_TTL) -> tuple[str, datetime]:
    """A one-time code (``ABCD-EFGH``) with which this user sets a password: their first one, or a new one after
    staff reset it. Older codes of the user stop working; only the code's hash is kept."""
    return create_invites(session, [username], now, ttl)[username]


def create_invites(session: Session, usernames: list[str], now: datetime,
                   ttl: timedelta = INVITE_TTL) -> dict[str, tuple[str, datetime]]:
    """``create_invite`` for many users at once (an import of owners): one statement clears their old codes."""
    session.execute(delete(Invite).where(Invite.username.in_(usernames) | (Invite.expires_at < now)))
    codes = {}
    for username in usernames:
        code = "".join(secrets.choice(INVITE_ALPHABET) for _ in range(8))
        codes[username] = (f"{code[:4]}-{code[4:]}", now + ttl)
        session.add(Invite(code_hash=_invite_digest(username, codes[username][0]), username=username,
                           expires_at=now + ttl))
    return codes


def _invite_digest(username: str, code: str) -> str:
    return hashlib.sha256(f"{username}\x00{code.strip().upper().replace(' ', '')}".encode()).hexdigest()


def redeem_invite(sessions: sessionmaker, limits: ApiLimits, address: str, username: str, code: str,
                  password: str, now: datetime) -> User:
    """Set a password with an invite code (rate limited like a login: a code is short)."""
    username = login_name(username)
    check_login_rate(limits, address, username)
    if len(password) < 8:
        raise LoginRefused(N_("the password needs at least 8 characters"))
    with sessions.begin() as session:
        invite = session.get(Invite, _invite_digest(username, code))
        user = session.get(User, username)
        if invite is None or invite.expires_at < now or user is None or user.disabled:
            limits.login_failures.failed(_pair(username, address))
            raise LoginRefused(N_("wrong or expired invite code"))
        limits.login_failures.succeeded(_pair(username, address))
        user.password_hash = hash_password(password)
        session.execute(delete(Invite).where(Invite.username == username))
        session.execute(delete(ApiToken).where(ApiToken.username == username))
        return user


def login_name(text: str) -> str:
    """Owners log in with their phone number, written any way (``138 0013 8000``, ``+86...``)."""
    text = text.strip()
    phone = normalize_phone(text) if re.fullmatch(r"[+\d\s\-()]+", text) else None
    return phone or text


def principal(user: User) -> Principal:
    return Principal(user.username, Role(user.role), user.person_id, tuple(user.sites or ()), user.site,
                     user.building, user.unit, user.language)


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
    user = session.get(User, row.username)
    return None if user is None or user.disabled else user


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
    username = login_name(username)
    check_login_rate(limits, address, username)
    with sessions.begin() as session:
        user = session.get(User, username)
        if user is None or user.disabled or not verify_password(password, user.password_hash):
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


def normalize_phone(text: str) -> str | None:
    """``+86 138-0013-8000``, ``0086 13800138000`` and ``13800138000`` are one number: digits only, without
    China's country code on a mobile number. None when it is not a phone number at all."""
    digits = re.sub(r"[\s\-()（）.]", "", text)
    plus = digits.startswith("+")
    digits = digits.lstrip("+")
    if not digits.isdigit() or not 5 <= len(digits) <= 20:
        return None
    for prefix in ("0086", "86"):
        if (plus or prefix == "0086") and digits.startswith(prefix) and len(digits) == len(prefix) + 11:
            return digits[len(prefix):]
    return digits
