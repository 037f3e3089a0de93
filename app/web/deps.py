"""Request dependencies: settings, the authenticated caller (API bearer or page session), paging."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.auth import service as auth_service
from app.auth.context import Caller
from app.config import Settings
from app.db import MAX_ID, SessionDep
from app.errors import Unauthorized


class LoginRequired(Exception):
    """A page needs a logged-in user; the handler redirects to /login."""

    def __init__(self, next_url: str) -> None:
        self.next_url = next_url


def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]

_bearer = HTTPBearer(auto_error=False, description="Token from POST /api/v1/auth/token")


def get_api_caller(
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("missing bearer token")
    caller = auth_service.resolve_token(session, credentials.credentials, kind="api")
    if caller is None:
        raise Unauthorized("invalid or expired token")
    return caller


def get_page_caller(request: Request, session: SessionDep, settings: SettingsDep) -> Caller:
    token = request.cookies.get(settings.session_cookie_name)
    caller = auth_service.resolve_token(session, token, kind="session") if token else None
    if caller is None:
        raise LoginRequired(request.url.path)
    return caller


# An id outside 1..MAX_ID names nothing (and would overflow the query parameter): refused (422)
# before any query runs.
IdPath = Annotated[int, Path(ge=1, le=MAX_ID)]
IdQuery = Annotated[int | None, Query(ge=1, le=MAX_ID)]

ApiCaller = Annotated[Caller, Depends(get_api_caller)]
PageCaller = Annotated[Caller, Depends(get_page_caller)]


class Page:
    def __init__(
        self, limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0, le=10**9)
    ) -> None:
        self.limit = limit
        self.offset = offset


PageDep = Annotated[Page, Depends()]
