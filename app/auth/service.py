"""Login, tokens, throttling and user management.

Tokens (session cookies and API bearer tokens) are 256-bit random strings; only their SHA-256 is
stored, so a database leak yields no usable credential. Logging out or revoking sets ``revoked_at``.
"""

from __future__ import annotations

import hashlib
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy.orm import Session

from app.audit import service as audit
from app.audit.service import SYSTEM_ACTOR, Actor
from app.auth.context import Caller
from app.auth.models import AuthToken, Organization, User
from app.auth.permissions import Role
from app.auth.repository import AuthRepository
from app.db import utcnow
from app.errors import InvalidInput, TooManyRequests, Unauthorized

if TYPE_CHECKING:
    from app.config import Settings

_hasher = PasswordHasher()
# A real hash to verify against when the e-mail is unknown, so timing does not reveal which exist.
_DUMMY_HASH = _hasher.hash("axisboard-timing-equaliser")
MIN_PASSWORD_LENGTH = 10


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class LoginThrottle:
    """Throttling of failed sign-ins: a growing delay, never a lock-out.

    Failures are counted per (e-mail, client address) pair and per client address over all
    e-mails, over the last ``window_s`` seconds. Once a pair has ``max_failures`` failures (an
    address ``per_address_factor`` times as many), its next attempt must wait
    ``base_delay_s`` × 2^(failures - threshold) seconds after its last failure, at most
    ``max_delay_s``; attempts made while waiting get a 429 with ``Retry-After`` and are not
    counted (no password is checked). Nothing is counted per e-mail over all addresses: that
    would let anyone lock a user out, so the owner of an account signs in from their own address
    whatever others try from theirs. A success clears its pair's failures."""

    max_failures: int
    window_s: int
    base_delay_s: float
    max_delay_s: float
    per_address_factor: int = 4

    @classmethod
    def from_settings(cls, settings: Settings) -> LoginThrottle:
        return cls(
            max_failures=settings.login_max_failures,
            window_s=settings.login_window_s,
            base_delay_s=settings.login_base_delay_s,
            max_delay_s=settings.login_max_delay_s,
        )

    def delay_s(self, failures: int, threshold: int) -> float:
        """How long after the last of ``failures`` failures the next attempt must wait."""
        if failures < threshold:
            return 0.0
        return float(min(self.max_delay_s, self.base_delay_s * 2 ** min(failures - threshold, 60)))


def _throttle_check(
    session: Session, email: str, client_ip: str, throttle: LoginThrottle, now: datetime
) -> None:
    since = now - timedelta(seconds=throttle.window_s)
    repo = AuthRepository(session)
    by_pair = repo.failures(client_ip=client_ip, since=since, email=email)
    by_address = repo.failures(client_ip=client_ip, since=since)
    wait = 0.0
    for (failures, last), threshold in (
        (by_pair, throttle.max_failures),
        (by_address, throttle.max_failures * throttle.per_address_factor),
    ):
        if last is not None:
            ready = last + timedelta(seconds=throttle.delay_s(failures, threshold))
            wait = max(wait, (ready - now).total_seconds())
    if wait > 0:
        seconds = math.ceil(wait)
        raise TooManyRequests(
            f"too many failed sign-ins; try again in {seconds} second{'s' if seconds > 1 else ''}",
            retry_after=seconds,
        )


def authenticate(
    session: Session, email: str, password: str, *, client_ip: str, throttle: LoginThrottle
) -> User:
    """Check credentials; failed attempts are recorded (committed by the caller) and throttled."""
    email = email.strip().lower()
    now = utcnow()
    _throttle_check(session, email, client_ip, throttle, now)
    repo = AuthRepository(session)
    user = repo.user_by_email(email)
    ok = verify_password(user.password_hash if user else _DUMMY_HASH, password)
    if user is None or not ok or not user.is_active:
        repo.add_failure(email=email, client_ip=client_ip, at=now)
        raise Unauthorized("incorrect e-mail or password")
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    repo.clear_failures(email=email, client_ip=client_ip)
    return user


def issue_token(session: Session, user: User, *, kind: str, max_age_s: int) -> str:
    token = secrets.token_urlsafe(32)
    AuthRepository(session).add_token(
        AuthToken(
            user_id=user.id,
            kind=kind,
            token_hash=token_digest(token),
            expires_at=utcnow() + timedelta(seconds=max_age_s),
        )
    )
    return token


def resolve_token(session: Session, token: str, *, kind: str) -> Caller | None:
    """The caller a live token belongs to, or None."""
    row = AuthRepository(session).token_owner(token_digest(token), kind)
    if row is None:
        return None
    tok, user, org = row
    if tok.revoked_at is not None or tok.expires_at <= utcnow() or not user.is_active:
        return None
    return Caller(
        user_id=user.id,
        email=user.email,
        org_id=org.id,
        org_name=org.name,
        role=Role(user.role),
        token_id=tok.id,
    )


def revoke_token(session: Session, token_id: int) -> None:
    tok = AuthRepository(session).token(token_id)
    if tok is not None and tok.revoked_at is None:
        tok.revoked_at = utcnow()
        session.flush()


def get_or_create_org(session: Session, name: str) -> Organization:
    repo = AuthRepository(session)
    org = repo.org_by_name(name)
    if org is None:
        org = repo.add_org(Organization(name=name))
    return org


def create_user(
    session: Session,
    *,
    org_name: str,
    email: str,
    role: str,
    password: str,
    audit_key: bytes,
    actor: Actor = SYSTEM_ACTOR,
) -> User:
    email = email.strip().lower()
    if "@" not in email or len(email) > 254:
        raise InvalidInput("a valid e-mail address is required", field="email")
    try:
        role = Role(role).value
    except ValueError:
        raise InvalidInput(
            f"unknown role '{role}'; allowed: {', '.join(r.value for r in Role)}", field="role"
        ) from None
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(
            f"password must be at least {MIN_PASSWORD_LENGTH} characters", field="password"
        )
    repo = AuthRepository(session)
    if repo.email_taken(email):
        raise InvalidInput(f"a user with e-mail {email} already exists", field="email")
    org = get_or_create_org(session, org_name)
    user = repo.add_user(
        User(org_id=org.id, email=email, role=role, password_hash=hash_password(password))
    )
    audit.record(
        session,
        audit_key,
        actor=actor,
        action="user.create",
        entity_type="user",
        entity_id=user.id,
        org_id=org.id,
        after={"email": email, "role": role, "org": org.name},
    )
    return user
