from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from app.auth.context import Caller
from app.auth.deps import PageCaller
from app.auth.guards import page_requires
from app.auth.permissions import Permission
from app.catalog import charts, service
from app.catalog.hosted_views import router as hosted_views
from app.catalog.models import PRICE_KINDS
from app.catalog.repository import CatalogRepo, CatalogRepository
from app.db import SessionDep
from app.errors import AppError, NotFound
from app.estimators.errors import FieldError
from app.estimators.quality import figures_from_dicts, headline
from app.rules.matrix import SCALE_ENDS
from app.web.deps import IdQuery, SettingsDep
from app.web.flash import flash
from app.web.forms import form_data, form_error
from app.web.htmx import redirect
from app.web.templates import render

router = APIRouter(include_in_schema=False)


def matrix_context(
    session: SessionDep, repo: CatalogRepository, org_id: int, version: int | None
) -> dict[str, Any]:
    matrix = service.current_matrix(session, org_id, version)
    axes = [(a.key, a.name) for a in repo.axes()]
    suit = service.suitability(session, matrix)
    return {
        "matrix": matrix,
        "axes": repo.axes(),
        "dimensions": repo.dimensions(),
        "profiles": repo.profiles(),
        "suitability": suit,
        "versions": repo.matrix_versions(org_id),
        "heatmap": charts.matrix_heatmap(axes, matrix.levels, matrix.wording),
        "suitability_chart": charts.suitability_bars(axes, suit),
        "scale_ends": SCALE_ENDS,
    }


@router.get("/matrix")
def matrix_page(
    request: Request,
    session: SessionDep,
    catalog: CatalogRepo,
    caller: PageCaller,
    version: IdQuery = None,
) -> Response:
    ctx = matrix_context(session, catalog, caller.org_id, version)
    return render(request, "catalog/matrix.html", {"caller": caller, **ctx})


@router.get("/axes/{key}")
def axis_page(
    key: str, request: Request, session: SessionDep, catalog: CatalogRepo, caller: PageCaller
) -> Response:
    repo = catalog
    axis = repo.axis(key)
    if axis is None:
        raise NotFound(f"axis {key} not found")
    matrix = service.current_matrix(session, caller.org_id)
    suit = service.suitability(session, matrix)
    return render(
        request,
        "catalog/axis.html",
        {
            "caller": caller,
            "axis": axis,
            "matrix": matrix,
            "dimensions": repo.dimensions(),
            "suitability": {p: suit[p][key] for p in suit},
            "techniques": repo.techniques(key),
            "evidence": repo.evidence(key),
            "failure_modes": [f for f in repo.failure_modes() if key in f.axes],
        },
    )


@router.get("/profiles")
def profiles_page(
    request: Request, session: SessionDep, catalog: CatalogRepo, caller: PageCaller
) -> Response:
    ctx = matrix_context(session, catalog, caller.org_id, None)
    return render(request, "catalog/profiles.html", {"caller": caller, **ctx})


@router.get("/catalog/failure-modes")
def failure_modes_page(
    request: Request, session: SessionDep, catalog: CatalogRepo, caller: PageCaller
) -> Response:
    repo = catalog
    return render(
        request,
        "catalog/failure_modes.html",
        {
            "caller": caller,
            "failure_modes": repo.failure_modes(),
            "techniques": repo.techniques(),
            "axes": {a.key: a for a in repo.axes()},
        },
    )


def _gpus_context(session: SessionDep, caller: PageCaller) -> dict[str, Any]:
    return {
        "caller": caller,
        "gpus": service.effective_prices(session, caller.org_id),
        "kinds": PRICE_KINDS,
        "errors": {},
        "submitted": {},
    }


@router.get("/catalog/gpus")
def gpus_page(request: Request, session: SessionDep, caller: PageCaller) -> Response:
    return render(request, "catalog/gpus.html", _gpus_context(session, caller))


@router.post("/catalog/gpus/{key}/price")
def set_gpu_price(
    key: str,
    request: Request,
    session: SessionDep,
    caller: Annotated[Caller, Depends(page_requires(Permission.catalog_edit))],
    settings: SettingsDep,
    form: Annotated[dict[str, Any], Depends(form_data)],
) -> Response:
    """Set the organisation's own price for a GPU (the shipped default is the operator's)."""
    raw = str(form.get("price_per_hour_usd", "")).strip()
    kind = str(form.get("kind", "")).strip()
    note = str(form.get("note", ""))
    errors: dict[str, str] = {}
    price = 0.0
    try:
        price = float(raw)
    except ValueError:
        errors[key] = "enter a number, e.g. 2.49"
    if not errors:
        try:
            service.set_org_price(
                session, caller, key, price, kind, note, audit_key=settings.audit_hmac_key
            )
        except (AppError, FieldError) as exc:
            errors[key] = form_error(exc)[1]
    if errors:
        ctx = _gpus_context(session, caller)
        ctx.update(errors=errors, submitted={key: {"price": raw, "kind": kind, "note": note}})
        return render(request, "catalog/gpus.html", ctx, status_code=422)
    resp = redirect(request, "/catalog/gpus")
    flash(request, resp, f"Your organisation's price for {key} saved.")
    return resp


@router.post("/catalog/gpus/{key}/price/remove")
def remove_gpu_price(
    key: str,
    request: Request,
    session: SessionDep,
    caller: Annotated[Caller, Depends(page_requires(Permission.catalog_edit))],
    settings: SettingsDep,
    form: Annotated[dict[str, Any], Depends(form_data)],
) -> Response:
    """Drop the organisation's own price: the shipped default applies again."""
    service.remove_org_price(session, caller, key, audit_key=settings.audit_hmac_key)
    resp = redirect(request, "/catalog/gpus")
    flash(
        request, resp, f"Your organisation's price for {key} removed; the shipped default applies."
    )
    return resp


@router.get("/catalog/models")
def models_page(
    request: Request, session: SessionDep, catalog: CatalogRepo, caller: PageCaller
) -> Response:
    models = [
        (m, service.model_counts(m), headline(figures_from_dicts(m.quality)))
        for m in catalog.models()
    ]
    return render(request, "catalog/models.html", {"caller": caller, "models": models})


@router.get("/catalog/frameworks")
def frameworks_page(
    request: Request, session: SessionDep, catalog: CatalogRepo, caller: PageCaller
) -> Response:
    return render(
        request,
        "catalog/frameworks.html",
        {"caller": caller, "frameworks": catalog.frameworks()},
    )


# The hosted LLM API catalog page and a deployment's hosted alternatives (hosted_views.py).
router.include_router(hosted_views)
