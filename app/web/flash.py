"""One-shot flash messages carried in a short-lived signed cookie."""

from __future__ import annotations

from fastapi import Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

COOKIE = "axisboard_flash"


def _signer(request: Request) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(request.app.state.settings.secret_key, salt="flash")


def flash(request: Request, response: Response, message: str, level: str = "success") -> None:
    response.set_cookie(
        COOKIE,
        _signer(request).dumps({"m": message[:300], "l": level}),
        max_age=60,
        httponly=True,
        samesite="lax",
        secure=request.app.state.settings.cookie_secure,
    )


def read_flash(request: Request) -> dict[str, str] | None:
    """The pending message, if any; the caller deletes the cookie on its response."""
    raw = request.cookies.get(COOKIE)
    if not raw:
        return None
    try:
        data = _signer(request).loads(raw, max_age=60)
    except BadSignature:
        return None
    return {"message": str(data.get("m", "")), "level": str(data.get("l", "info"))}
