"""Jinja2 environment (with block rendering for htmx fragments) and its filters."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2_fragments.fastapi import Jinja2Blocks

from app.auth.permissions import Permission, has_permission
from app.config import PROJECT_ROOT
from app.web.assets import static_data_uri, static_url
from app.web.flash import COOKIE as FLASH_COOKIE
from app.web.flash import read_flash
from app.web.htmx import is_htmx

templates = Jinja2Blocks(directory=str(PROJECT_ROOT / "templates"))


def _num(value: float | int | str | None, digits: int = 0) -> str:
    """Thousands separators and fixed digits; form values arrive as strings (shown as given when
    they are not numbers, and Jinja escapes them)."""
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return value
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    return f"{value:,.{digits}f}"


def _money(value: float | None, digits: int = 0) -> str:
    return "—" if value is None else "$" + _num(value, digits)


def _si(value: float | int | None, unit: str = "") -> str:
    if value is None or not math.isfinite(value):
        return "—"
    if abs(value) >= 1e15:  # FLOP counts and the like: scientific, 3 significant digits
        return f"{value:.3g}".replace("e+", "e") + unit
    for factor, prefix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:,.2f}{prefix}{unit}"
    return f"{value:,.0f}{unit}"


templates.env.filters["num"] = _num
templates.env.filters["money"] = _money
templates.env.filters["si"] = _si
templates.env.globals["Permission"] = Permission
templates.env.globals["has_permission"] = has_permission
templates.env.globals["static_url"] = static_url
templates.env.globals["static_data_uri"] = static_data_uri


def csrf_token(request: Request) -> str:
    fn = request.scope.get("csrftoken")
    return fn() if callable(fn) else ""


templates.env.globals["csrf_token"] = csrf_token


def render(
    request: Request,
    name: str,
    context: Mapping[str, Any],
    *,
    block: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """Render a page, or only ``block`` when htmx asked for a fragment."""
    message = read_flash(request)
    ctx = {"request": request, "flash": message, **context}
    block_name = block if (block and is_htmx(request)) else None
    response: HTMLResponse = templates.TemplateResponse(
        request, name, ctx, status_code=status_code, block_name=block_name
    )
    response.headers.append("Vary", "HX-Request")
    if message is not None:
        response.delete_cookie(FLASH_COOKIE)
    return response
