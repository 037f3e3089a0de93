from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote, unquote, urlsplit

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from app.auth import service
from app.auth.api import sign_in
from app.db import SessionDep
from app.errors import TooManyRequests, Unauthorized
from app.web.deps import SettingsDep
from app.web.flash import flash
from app.web.forms import form_data
from app.web.htmx import redirect
from app.web.templates import render

router = APIRouter(include_in_schema=False)


# Characters a path may carry unescaped in the Location header (RFC 3986 pchar, "/", "?" and
# "%"); everything else, non-ASCII included, is percent-encoded so the header is plain ASCII.
_PATH_SAFE = "/?=&;:@!$'()*+,~-._%"
MAX_NEXT_LENGTH = 2000


def _path_problem(url: str) -> bool:
    return (
        not url.startswith("/")
        or url.startswith("//")
        or "\\" in url
        or any(not ch.isprintable() or (ch.isspace() and ch != " ") for ch in url)
    )


def safe_next(url: str | None) -> str:
    """Where to go after signing in: a same-origin path, or ``/``.

    Browsers drop tabs and line breaks from URLs and read ``\\`` as ``/``, so ``/\\t/evil.example``
    or ``/\\evil.example`` would leave the site. Refused: anything but a path starting with a
    single ``/``, and any control character, white space or backslash, typed or percent-encoded
    (``/%09/evil.example``, ``/%5Cevil``, ``/%2F/evil``)."""
    if not url or len(url) > MAX_NEXT_LENGTH or " " in url:
        return "/"
    if _path_problem(url) or _path_problem(unquote(url)):
        return "/"
    parts = urlsplit(url)
    if parts.scheme or parts.netloc:
        return "/"
    return quote(url, safe=_PATH_SAFE + "#")


@router.get("/login")
def login_page(request: Request, next: str | None = None) -> Response:
    return render(request, "auth/login.html", {"next": safe_next(next), "email": "", "error": None})


@router.post("/login")
def login(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    form: Annotated[dict[str, Any], Depends(form_data)],
) -> Response:
    email = str(form.get("email", ""))[:254]
    password = str(form.get("password", ""))[:1024]
    next_url = safe_next(str(form.get("next", "/")))
    try:
        user = sign_in(request, session, settings, email, password)
    except (Unauthorized, TooManyRequests) as exc:
        resp: Response = render(
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
