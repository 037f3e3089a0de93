"""Platform operators: maintain the shipped catalog for every organisation (default GPU prices).

An operator is created by the CLI only (``axisboard operators create``), belongs to no
organisation and has no organisation role. It calls the operator API with its own bearer token
(shown once by the CLI; only the SHA-256 is stored): organisation tokens are refused there (403),
and an operator token is no organisation user's token, so every organisation route refuses it
(401).
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from app.auth import service as auth_service
from app.auth.models import PlatformOperator
from app.auth.repository import AuthRepository
from app.db import SessionDep
from app.errors import Forbidden, InvalidInput, NotFound, Unauthorized

_bearer = HTTPBearer(auto_error=False, description="A platform operator's token (CLI)")


def _normalise(email: str) -> str:
    email = email.strip().lower()
    if "@" not in email or len(email) > 254:
        raise InvalidInput("a valid e-mail address is required", field="email")
    return email


def by_email(session: Session, email: str) -> PlatformOperator | None:
    return AuthRepository(session).operator_by_email(_normalise(email))


def create(session: Session, email: str) -> tuple[PlatformOperator, str]:
    """A new operator and its API token (returned once)."""
    email = _normalise(email)
    if by_email(session, email) is not None:
        raise InvalidInput(f"an operator with e-mail {email} already exists", field="email")
    token = secrets.token_urlsafe(32)
    op = AuthRepository(session).add_operator(
        PlatformOperator(email=email, token_hash=auth_service.token_digest(token))
    )
    return op, token


def rotate_token(session: Session, email: str) -> str:
    op = by_email(session, email)
    if op is None:
        raise NotFound(f"no operator {email}")
    token = secrets.token_urlsafe(32)
    op.token_hash = auth_service.token_digest(token)
    session.flush()
    return token


def resolve(session: Session, token: str) -> PlatformOperator | None:
    op = AuthRepository(session).operator_by_token_hash(auth_service.token_digest(token))
    return op if op is not None and op.is_active else None


def get_operator(
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> PlatformOperator:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("missing bearer token")
    op = resolve(session, credentials.credentials)
    if op is not None:
        return op
    if auth_service.resolve_token(session, credentials.credentials, kind="api") is not None:
        raise Forbidden(
            "only a platform operator may change the shipped catalog; your organisation's own "
            "prices are set with PUT /api/v1/gpus/{key}/price"
        )
    raise Unauthorized("invalid or expired token")


OperatorDep = Annotated[PlatformOperator, Depends(get_operator)]
