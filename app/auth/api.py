from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from pydantic import BaseModel
from sqlalchemy.orm import Session

from app.auth import service
from app.auth.deps import ApiCaller
from app.auth.models import User
from app.config import Settings
from app.db import SessionDep
from app.errors import TooManyRequests, Unauthorized
from app.web.deps import SettingsDep

router = APIRouter(tags=["auth"])


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret
    expires_in: int


class MeOut(BaseModel):
    id: int
    email: str
    role: str
    organization: str


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def sign_in(
    request: Request, session: Session, settings: Settings, email: str, password: str
) -> User:
    """Check the credentials of a sign-in (page or token). A refused attempt (wrong credentials,
    or throttled) is committed before the error propagates: it is its own unit of work, kept
    although the request fails, because throttling counts it."""
    try:
        return service.authenticate(
            session,
            email,
            password,
            client_ip=client_ip(request),
            throttle=service.LoginThrottle.from_settings(settings),
        )
    except (Unauthorized, TooManyRequests):
        session.commit()
        raise


@router.post("/auth/token", response_model=TokenOut)
def issue_token(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    username: Annotated[str, Form(min_length=1, max_length=254, description="E-mail address")],
    password: Annotated[str, Form(min_length=1, max_length=1024)],
) -> TokenOut:
    """OAuth2 password flow: form fields ``username`` (e-mail) and ``password``."""
    user = sign_in(request, session, settings, username, password)
    token = service.issue_token(session, user, kind="api", max_age_s=settings.api_token_max_age_s)
    return TokenOut(access_token=token, expires_in=settings.api_token_max_age_s)


@router.post("/auth/revoke", status_code=204)
def revoke_token(session: SessionDep, caller: ApiCaller) -> None:
    """Revoke the bearer token used for this request."""
    service.revoke_token(session, caller.token_id)


@router.get("/auth/me", response_model=MeOut)
def me(caller: ApiCaller) -> MeOut:
    return MeOut(
        id=caller.user_id, email=caller.email, role=caller.role, organization=caller.org_name
    )
