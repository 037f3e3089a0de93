"""Jinja2 environment (with block rendering for htmx fragments) and its filters."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2_fragments.fastapi import Jinja2Blocks

from app import formatting
from app import names as catalog_names
from app.assumption_labels import assumption_rows
from app.config import PROJECT_ROOT
from app.report_format import follow_up
from app.web.assets import static_data_uri, static_url
from app.web.flash import COOKIE as FLASH_COOKIE
from app.web.flash import read_flash
from app.web.htmx import is_htmx

templates = Jinja2Blocks(directory=str(PROJECT_ROOT / "templates"))


def _money(value: Any, digits: int = 0) -> str:
    return formatting.money(value, digits)


# One number formatting (app/formatting.py), registered once for every page.
templates.env.filters["num"] = formatting.fixed  # |num(2): separators, fixed decimals
templates.env.filters["money"] = _money  # |money(2)
templates.env.filters["si"] = formatting.compact  # 15T, 8.03B: token and parameter counts
templates.env.filters["fmt"] = formatting.number  # about 3 significant digits, any magnitude
templates.env.filters["ms"] = formatting.ms  # 50.7 ms
templates.env.filters["pct"] = formatting.pct  # a share as 12.3 %
templates.env.filters["when"] = formatting.when  # 30 Nov 2026, 12:54 UTC
# Catalog names instead of keys (issue 22, item 6): {{ d.gpu_key|gpu_name }}.
templates.env.filters["gpu_name"] = catalog_names.gpu_name
templates.env.filters["model_name"] = catalog_names.model_name
templates.env.filters["axis_name"] = catalog_names.axis_name
templates.env.filters["item_name"] = catalog_names.item_name  # axis/technique
templates.env.filters["catalog_named"] = catalog_names.named  # free text with keys in it
templates.env.filters["follow_up"] = follow_up  # {{ key|follow_up(value) }}
templates.env.filters["assumption_rows"] = assumption_rows  # an estimate's assumptions
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
    response = templates.TemplateResponse(
        request, name, ctx, status_code=status_code, block_name=block_name
    )
    # jinja2_fragments annotates Response; it returns an HTMLResponse (starlette's
    # _TemplateResponse is one) for a page and for a block.
    assert isinstance(response, HTMLResponse)
    response.headers.append("Vary", "HX-Request")
    if message is not None:
        response.delete_cookie(FLASH_COOKIE)
    return response
