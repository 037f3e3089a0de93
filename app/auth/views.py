from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from app.auth import service
from app.auth.api import client_ip
from app.db import SessionDep
from app.errors import TooManyRequests, Unauthorized
from app.web.deps import SettingsDep
from app.web.flash import flash
from app.web.forms import form_data
from app.web.htmx import redirect
from app.web.templates import render

router = APIRouter(include_in_schema=False)


def _safe_next(url: str | None) -> str:
    if not url or not url.startswith("/") or url.startswith("//") or "\\" in url:
        return "/"
    return url


@router.get("/login")
def login_page(request: Request, next: str | None = None) -> Response:
    return render(
        request, "auth/login.html", {"next": _safe_next(next), "email": "", "error": None}
    )


@router.post("/login")
def login(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    form: Annotated[dict[str, Any], Depends(form_data)],
) -> Response:
    email = str(form.get("email", ""))[:254]
    password = str(form.get("password", ""))[:1024]
    next_url = _safe_next(str(form.get("next", "/")))
    try:
        user = service.authenticate(
            session,
            email,
            password,
            client_ip=client_ip(request),
            max_failures=settings.login_max_failures,
            window_s=settings.login_window_s,
        )
    except (Unauthorized, TooManyRequests) as exc:
        # The failed attempt must be kept (throttling), so commit it before answering.
        session.commit()
        resp = render(
            request,
            "auth/login.html",
            {"next": next_url, "email": email, "error": exc.message},
            status_code=exc.status_code,
        )
        if isinstance(exc, TooManyRequests):
            resp.headers["Retry-After"] = str(exc.retry_after)
        return resp
    # A fresh token on every login: an old cookie planted before login is never promoted.
    old = request.cookies.get(settings.session_cookie_name)
    if old:
        stale = service.resolve_token(session, old, kind="session")
        if stale:
            service.revoke_token(session, stale.token_id)
    token = service.issue_token(session, user, kind="session", max_age_s=settings.session_max_age_s)
    resp = redirect(request, next_url)
    resp.set_cookie(
        settings.session_cookie_name,
        token,
        max_age=settings.session_max_age_s,
        httponly=True,
        samesite="lax",
        secure=settings.cookie_secure,
        path="/",
    )
    return resp


@router.post("/logout")
def logout(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    token = request.cookies.get(settings.session_cookie_name)
    if token:
        caller = service.resolve_token(session, token, kind="session")
        if caller:
            service.revoke_token(session, caller.token_id)
    resp = redirect(request, "/login")
    resp.delete_cookie(settings.session_cookie_name, path="/")
    flash(request, resp, "You are signed out.", "info")
    return resp
