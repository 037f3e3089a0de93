from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import ValidationError

from app.auth.context import Caller
from app.auth.deps import PageCaller
from app.auth.guards import page_requires
from app.auth.permissions import Permission
from app.catalog import service as catalog_service
from app.catalog.repository import CatalogRepo, CatalogRepository
from app.db import SessionDep
from app.deployments import service
from app.deployments.models import Deployment
from app.deployments.schemas import DeploymentCreate, DeploymentUpdate, RegulatoryFlag, Risk
from app.errors import AppError
from app.estimators.engines import ENGINE_NAMES
from app.estimators.errors import FieldError
from app.estimators.traffic import DEFAULT_PEAK_TO_AVERAGE, TrafficError, parse_hourly_csv
from app.web.deps import IdPath, SettingsDep
from app.web.flash import flash
from app.web.forms import as_list, field_errors, form_data, form_error
from app.web.htmx import redirect
from app.web.templates import render

router = APIRouter(prefix="/deployments", include_in_schema=False)


def _parse_segments(text: str) -> list[dict[str, str]] | str:
    """One segment per line, ``name: risk``. Returns the list, or an error message."""
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        name, sep, risk = line.rpartition(":")
        if not sep or not name.strip():
            return f"line {n}: write 'segment name: low|medium|high'"
        out.append({"name": name.strip(), "risk": risk.strip().lower()})
    return out


def _traffic_shape(form: dict[str, Any], payload: dict[str, Any], errors: dict[str, str]) -> None:
    """The ratio, the 24 weights typed in, or the weights from a pasted CSV of counts per hour."""
    ratio = str(form.get("peak_to_average", "")).strip()
    typed = str(form.get("hourly_profile", "")).strip()
    pasted = str(form.get("hourly_csv", "")).strip()
    if ratio:
        payload["peak_to_average"] = ratio
    if typed and pasted:
        errors["hourly_csv"] = "give the hourly profile or a CSV, not both"
    elif pasted:
        try:
            payload["hourly_profile"] = parse_hourly_csv(pasted)
        except TrafficError as exc:
            errors["hourly_csv"] = str(exc)
    elif typed:
        parts = [p for p in typed.replace(",", " ").split() if p]
        try:
            payload["hourly_profile"] = [float(p) for p in parts]
        except ValueError:
            errors["hourly_profile"] = "write 24 numbers separated by commas"


def _form_to_payload(form: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    payload: dict[str, Any] = {
        k: (str(form.get(k, "")).strip() or None)
        for k in (
            "name",
            "use_case",
            "model",
            "gpu",
            "n_gpus",
            "engine",
            "requests_per_day",
            "mean_input_tokens",
            "mean_output_tokens",
            "ttft_slo_ms",
            "tpot_slo_ms",
            "monthly_budget_usd",
            "profile",
        )
    }
    payload = {k: v for k, v in payload.items() if v is not None}
    payload["regulatory_flags"] = as_list(form.get("regulatory_flags"))
    payload["human_oversight"] = str(form.get("human_oversight", "")).strip() or None
    payload["outputs_feed_systems"] = form.get("outputs_feed_systems") == "true"
    payload["can_act"] = form.get("can_act") == "true"
    errors: dict[str, str] = {}
    _traffic_shape(form, payload, errors)
    segments = _parse_segments(str(form.get("segments", "")))
    if isinstance(segments, str):
        errors["segments"] = segments
    else:
        payload["segments"] = segments
    return payload, errors


REQUIRED_FIELDS = frozenset(n for n, f in DeploymentCreate.model_fields.items() if f.is_required())


def _form_context(repo: CatalogRepository) -> dict[str, Any]:
    return {
        "model_options": [(m.key, m.name) for m in repo.models()],
        "gpu_options": [(g.key, g.name) for g in repo.gpus()],
        "engine_options": [(e, e) for e in ENGINE_NAMES],
        "profile_options": [(p.key, p.name) for p in repo.profiles()],
        "flags": list(RegulatoryFlag),
        "risks": list(Risk),
        "default_peak": DEFAULT_PEAK_TO_AVERAGE,
        "required_fields": REQUIRED_FIELDS,
    }


def _values_from(dep: Deployment) -> dict[str, Any]:
    v = dep.audit_dict()
    v["segments"] = "\n".join(f"{s['name']}: {s['risk']}" for s in dep.segments)
    v["peak_to_average"] = "" if dep.peak_to_average is None else f"{dep.peak_to_average:g}"
    v["hourly_profile"] = (
        "" if dep.hourly_profile is None else ", ".join(f"{w:g}" for w in dep.hourly_profile)
    )
    return v


def _validate(
    session: SessionDep, form: dict[str, Any]
) -> tuple[DeploymentCreate | None, dict[str, str]]:
    payload, errors = _form_to_payload(form)
    try:
        data = DeploymentCreate.model_validate(payload)
    except ValidationError as exc:
        errors = {**field_errors(exc), **errors}
        return None, errors
    return (data, errors) if not errors else (None, errors)


@router.get("")
def list_page(
    request: Request, session: SessionDep, caller: PageCaller, archived: str = "exclude"
) -> Response:
    archived = archived if archived in ("exclude", "include", "only") else "exclude"
    rows, total = service.list_(session, caller, limit=500, offset=0, archived=archived)
    return render(
        request,
        "deployments/list.html",
        {
            "caller": caller,
            "deployments": rows,
            "total": total,
            "archived": archived,
        },
    )


@router.get("/new")
def new_page(
    request: Request,
    session: SessionDep,
    catalog: CatalogRepo,
    caller: Annotated[Caller, Depends(page_requires(Permission.deployment_write))],
) -> Response:
    values = {
        "n_gpus": 1,
        "engine": "vllm",
        "profile": "enterprise",
        "regulatory_flags": [],
        "segments": "",
    }
    return render(
        request,
        "deployments/form.html",
        {
            "caller": caller,
            "values": values,
            "errors": {},
            "deployment": None,
            **_form_context(catalog),
        },
    )


@router.post("/new")
def create(
    request: Request,
    session: SessionDep,
    catalog: CatalogRepo,
    caller: Annotated[Caller, Depends(page_requires(Permission.deployment_write))],
    settings: SettingsDep,
    form: Annotated[dict[str, Any], Depends(form_data)],
) -> Response:
    data, errors = _validate(session, form)
    status = 422  # or 409 when the name is taken (also when a concurrent request just took it)
    if data is not None:
        try:
            dep = service.create(session, caller, data, audit_key=settings.audit_hmac_key)
        except (AppError, FieldError) as exc:
            field, message, status = form_error(exc)
            errors = {field: message}
        else:
            resp = redirect(request, f"/deployments/{dep.id}")
            flash(request, resp, f"Deployment '{dep.name}' created.")
            return resp
    values = {**form, "regulatory_flags": as_list(form.get("regulatory_flags"))}
    return render(
        request,
        "deployments/form.html",
        {
            "caller": caller,
            "values": values,
            "errors": errors,
            "deployment": None,
            **_form_context(catalog),
        },
        status_code=status,
    )


@router.get("/{deployment_id:int}")
def detail_page(
    deployment_id: IdPath,
    request: Request,
    session: SessionDep,
    catalog: CatalogRepo,
    caller: PageCaller,
) -> Response:
    dep = service.get(session, caller, deployment_id)
    catalog = catalog
    gpu = catalog.gpu(dep.gpu_key)
    price = None if gpu is None else catalog_service.gpu_price(session, caller.org_id, gpu)
    # The serving cost, the assessments and the portfolios are panels their features serve,
    # loaded by htmx (templates/deployments/detail.html).
    return render(
        request,
        "deployments/detail.html",
        {
            "caller": caller,
            "deployment": dep,
            "model": catalog.model(dep.model_key),
            "gpu": gpu,
            "gpu_price": price,
        },
    )


@router.get("/{deployment_id:int}/edit")
def edit_page(
    deployment_id: IdPath,
    request: Request,
    session: SessionDep,
    catalog: CatalogRepo,
    caller: Annotated[Caller, Depends(page_requires(Permission.deployment_write))],
) -> Response:
    dep = service.get(session, caller, deployment_id)
    return render(
        request,
        "deployments/form.html",
        {
            "caller": caller,
            "values": _values_from(dep),
            "errors": {},
            "deployment": dep,
            **_form_context(catalog),
        },
    )


@router.post("/{deployment_id:int}/edit")
def edit(
    deployment_id: IdPath,
    request: Request,
    session: SessionDep,
    catalog: CatalogRepo,
    caller: Annotated[Caller, Depends(page_requires(Permission.deployment_write))],
    settings: SettingsDep,
    form: Annotated[dict[str, Any], Depends(form_data)],
) -> Response:
    dep = service.get(session, caller, deployment_id)
    data, errors = _validate(session, form)
    status = 422  # or 409 when the name is taken (also when a concurrent request just took it)
    if data is not None:
        try:
            service.update(
                session,
                caller,
                deployment_id,
                DeploymentUpdate.model_validate(data.model_dump()),
                audit_key=settings.audit_hmac_key,
            )
        except (AppError, FieldError) as exc:
            field, message, status = form_error(exc)
            errors = {field: message}
        else:
            resp = redirect(request, f"/deployments/{deployment_id}")
            flash(request, resp, "Deployment saved.")
            return resp
    values = {**form, "regulatory_flags": as_list(form.get("regulatory_flags"))}
    return render(
        request,
        "deployments/form.html",
        {
            "caller": caller,
            "values": values,
            "errors": errors,
            "deployment": dep,
            **_form_context(catalog),
        },
        status_code=status,
    )


@router.post("/{deployment_id:int}/delete")
def delete(
    deployment_id: IdPath,
    request: Request,
    session: SessionDep,
    caller: Annotated[Caller, Depends(page_requires(Permission.deployment_write))],
    settings: SettingsDep,
) -> Response:
    dep = service.get(session, caller, deployment_id)
    name = dep.name
    outcome = service.delete(session, caller, deployment_id, audit_key=settings.audit_hmac_key)
    resp = redirect(request, "/deployments")
    if outcome == "deleted":
        flash(request, resp, f"Deployment '{name}' deleted.")
    else:
        flash(
            request,
            resp,
            f"Deployment '{name}' archived, not deleted: its governance "
            "decisions and evaluations are kept on record.",
        )
    return resp
