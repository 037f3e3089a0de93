"""Pages: the hosted LLM API catalog (an admin edits the organisation's prices) and a
deployment's "self-host or a hosted API?" section (the break-even chart and the alternatives)."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from app.auth.context import Caller
from app.auth.deps import PageCaller
from app.auth.guards import page_requires
from app.auth.permissions import Permission
from app.catalog import hosted
from app.db import SessionDep
from app.errors import AppError
from app.estimators.errors import FieldError
from app.web.deps import SettingsDep
from app.web.flash import flash
from app.web.forms import form_data, form_error
from app.web.htmx import redirect
from app.web.templates import render

router = APIRouter(include_in_schema=False)
NUMBER_FIELDS = ("input_per_m_usd", "cached_input_per_m_usd", "output_per_m_usd")


def _catalog_context(session: SessionDep, caller: PageCaller) -> dict[str, Any]:
    return {
        "caller": caller,
        "models": hosted.effective_models(session, caller.org_id),
        "errors": {},
        "submitted": {},
    }


@router.get("/catalog/hosted-models")
def hosted_models_page(request: Request, session: SessionDep, caller: PageCaller) -> Response:
    return render(request, "catalog/hosted_models.html", _catalog_context(session, caller))


def _parse(form: dict[str, Any]) -> tuple[hosted.HostedPriceChange | None, dict[str, str]]:
    """The form's prices, or an error per field (what was typed stays in the form)."""
    errors: dict[str, str] = {}
    values: dict[str, float | None] = {}
    for name in NUMBER_FIELDS:
        raw = str(form.get(name, "")).strip()
        if not raw and name == "cached_input_per_m_usd":
            values[name] = None
            continue
        try:
            values[name] = float(raw)
        except ValueError:
            errors[name] = "enter a price per million tokens, e.g. 0.25"
    ctx_raw = str(form.get("context_tokens", "")).strip().replace(",", "")
    ctx: int | None = None
    if ctx_raw:
        try:
            ctx = int(ctx_raw)
        except ValueError:
            errors["context_tokens"] = "enter a whole number of tokens, e.g. 128000"
    if errors:
        return None, errors
    inp, out = values["input_per_m_usd"], values["output_per_m_usd"]
    assert inp is not None
    assert out is not None
    return hosted.HostedPriceChange(
        input_per_m_usd=inp,
        cached_input_per_m_usd=values["cached_input_per_m_usd"],
        output_per_m_usd=out,
        context_tokens=ctx,
        provider=str(form.get("provider", "")).strip() or None,
        model=str(form.get("model", "")).strip() or None,
        note=str(form.get("note", "")),
    ), {}


@router.post("/catalog/hosted-models/{model_key}/price")
def set_hosted_price(
    model_key: str,
    request: Request,
    session: SessionDep,
    caller: Annotated[Caller, Depends(page_requires(Permission.catalog_edit))],
    settings: SettingsDep,
    form: Annotated[dict[str, Any], Depends(form_data)],
) -> Response:
    """Set the organisation's own prices for a hosted API ("new": add a model by its key)."""
    key = str(form.get("key", "")).strip() if model_key == "new" else model_key
    change, errors = _parse(form)
    if not errors and model_key == "new" and not re.fullmatch(r"[a-z0-9_]{1,64}", key):
        errors["key"] = "a key of lower-case letters, digits and _ (at most 64), e.g. azure_gpt"
    if change is not None and not errors:
        try:
            hosted.set_org_price(session, caller, key, change, audit_key=settings.audit_hmac_key)
        except (AppError, FieldError) as exc:
            field, message, _ = form_error(exc, statuses=(404, 409, 422))
            errors[field] = message
    if errors:
        ctx = _catalog_context(session, caller)
        ctx.update(errors={model_key: errors}, submitted={model_key: dict(form)})
        return render(request, "catalog/hosted_models.html", ctx, status_code=422)
    resp = redirect(request, "/catalog/hosted-models")
    flash(request, resp, f"Your organisation's prices for {key} saved.")
    return resp


@router.post("/catalog/hosted-models/{model_key}/price/remove")
def remove_hosted_price(
    model_key: str,
    request: Request,
    session: SessionDep,
    caller: Annotated[Caller, Depends(page_requires(Permission.catalog_edit))],
    settings: SettingsDep,
    form: Annotated[dict[str, Any], Depends(form_data)],
) -> Response:
    hosted.remove_org_price(session, caller, model_key, audit_key=settings.audit_hmac_key)
    resp = redirect(request, "/catalog/hosted-models")
    flash(request, resp, f"Your organisation's prices for {model_key} removed.")
    return resp
