"""Request dependencies for the logged-in user: the API's bearer caller, the pages' session
caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.auth import service as auth_service
from app.auth.context import Caller
from app.auth.permissions import Permission, has_permission
from app.db import SessionDep
from app.errors import Unauthorized
from app.web.deps import LoginRequired, SettingsDep
from app.web.templates import templates

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


ApiCaller = Annotated[Caller, Depends(get_api_caller)]
PageCaller = Annotated[Caller, Depends(get_page_caller)]


# Pages show what the caller's role may do ({% if has_permission(caller.role, Permission.x) %}):
# registered here, with the caller dependencies every page uses, as the web layer knows no roles.
templates.env.globals["Permission"] = Permission
templates.env.globals["has_permission"] = has_permission
