"""Pages of the ISO/IEC 42001 statement of applicability (issue 21, item 1)."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import ValidationError

from app import report_format
from app.auth.context import Caller
from app.auth.deps import PageCaller
from app.auth.guards import page_requires
from app.auth.permissions import Permission
from app.catalog.repository import CatalogRepo, CatalogRepository
from app.db import SessionDep
from app.deployments import service as deployments
from app.errors import AppError, InvalidInput
from app.estimators.errors import FieldError
from app.governance import soa, soa_rules
from app.governance.schemas import DecisionIn, SoaControlIn
from app.web.deps import IdPath, SettingsDep
from app.web.flash import flash
from app.web.forms import FormDep, field_errors, form_error
from app.web.htmx import redirect
from app.web.templates import render

router = APIRouter(include_in_schema=False)

BASIS_LABELS = soa_rules.BASES


def _page(
    request: Request,
    session: SessionDep,
    catalog: CatalogRepository,
    caller: Caller,
    deployment_id: int,
    *,
    version: int | None = None,
    open_control: str | None = None,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    dep = deployments.get(session, caller, deployment_id)
    all_versions = soa.versions(session, caller, dep.id)
    current = next((s for s in all_versions if s.version == version), None) if version else None
    current = current or (all_versions[0] if all_versions else None)
    data = soa.out(session, current) if current is not None else None
    statuses = {s.id: soa.status(session, s) for s in all_versions}
    return render(
        request,
        "governance/soa.html",
        {
            "caller": caller,
            "deployment": dep,
            "soa": data,
            "versions": all_versions,
            "statuses": statuses,
            "open_control": open_control,
            "values": values or {},
            "errors": errors or {},
            "bases": BASIS_LABELS,
            "statuses_allowed": soa_rules.STATUSES,
            "own_work": data is not None and caller.email in data["contributors"],
            "history": soa.history(session, caller, current.id) if current is not None else [],
            "max_kib": soa_rules.MAX_FILE_BYTES // 1024,
            "report_format": report_format,
            "names": {"axes": {a.key: a.name for a in catalog.axes()}},
        },
        status_code=status_code,
    )


@router.get("/deployments/{deployment_id:int}/soa")
def soa_page(
    deployment_id: IdPath,
    request: Request,
    session: SessionDep,
    catalog: CatalogRepo,
    caller: PageCaller,
    version: int | None = None,
) -> Response:
    return _page(request, session, catalog, caller, deployment_id, version=version)


@router.post("/deployments/{deployment_id:int}/soa")
def create_version(
    deployment_id: IdPath,
    request: Request,
    session: SessionDep,
    caller: Annotated[Caller, Depends(page_requires(Permission.soa_write))],
    settings: SettingsDep,
) -> Response:
    s = soa.create_version(session, caller, deployment_id, audit_key=settings.audit_hmac_key)
    resp = redirect(request, f"/deployments/{deployment_id}/soa?version={s.version}")
    flash(request, resp, f"Version {s.version} of the statement of applicability created.")
    return resp


def _after(request: Request, s: Any, message: str, anchor: str = "") -> Response:
    resp = redirect(request, f"/deployments/{s.deployment_id}/soa?version={s.version}{anchor}")
    flash(request, resp, message)
    return resp


def _failed(
    request: Request,
    session: SessionDep,
    catalog: CatalogRepository,
    caller: Caller,
    s: Any,
    control: str | None,
    form: dict[str, Any],
    errors: dict[str, str],
) -> Response:
    values = {k: v for k, v in form.items() if k not in ("csrftoken", "file_b64")}
    return _page(
        request,
        session,
        catalog,
        caller,
        s.deployment_id,
        version=s.version,
        open_control=control,
        values=values,
        errors=errors,
        status_code=422,
    )


@router.post("/soa/{soa_id:int}/controls/{control}")
def edit_control(
    soa_id: IdPath,
    control: str,
    request: Request,
    session: SessionDep,
    catalog: CatalogRepo,
    caller: Annotated[Caller, Depends(page_requires(Permission.soa_write))],
    settings: SettingsDep,
    form: FormDep,
) -> Response:
    s = soa.get(session, caller, soa_id)
    applicable = {"yes": True, "no": False}.get(str(form.get("applicable", "")))
    body = {
        "applicable": applicable,
        "basis": form.get("basis") or None,
        "reference": str(form.get("reference", "")).strip() or None,
        "justification": str(form.get("justification", "")).strip() or None,
        "status": form.get("status") or None,
        "owner": str(form.get("owner", "")).strip(),
    }
    if applicable is False:
        body["status"] = None
    try:
        data = SoaControlIn.model_validate(body)
        soa.edit_control(
            session,
            caller,
            soa_id,
            control,
            soa_rules.ControlEdit(**data.model_dump(exclude_none=True)),
            audit_key=settings.audit_hmac_key,
        )
    except ValidationError as exc:
        return _failed(request, session, catalog, caller, s, control, form, field_errors(exc))
    except (AppError, FieldError) as exc:
        field, message, _ = form_error(exc, statuses=(422,), default="applicable")
        return _failed(request, session, catalog, caller, s, control, form, {field: message})
    return _after(request, s, f"{control} saved.", f"#c-{control}")


@router.post("/soa/{soa_id:int}/controls/{control}/evidence")
def add_evidence(
    soa_id: IdPath,
    control: str,
    request: Request,
    session: SessionDep,
    catalog: CatalogRepo,
    caller: Annotated[Caller, Depends(page_requires(Permission.soa_write))],
    settings: SettingsDep,
    form: FormDep,
) -> Response:
    """A link (url, title) or a file read by the page into base64 (pages take no multipart)."""
    s = soa.get(session, caller, soa_id)
    try:
        encoded = str(form.get("file_b64", "")).strip()
        if encoded:
            try:
                raw = base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError):
                raise InvalidInput("the file could not be read", field="file") from None
            soa.add_file(
                session,
                caller,
                soa_id,
                control,
                str(form.get("file_b64-name", "")),
                str(form.get("file_b64-type", "")),
                raw,
                audit_key=settings.audit_hmac_key,
            )
        else:
            url = str(form.get("url", "")).strip()
            if not url:
                raise InvalidInput("give a link or choose a file", field="url")
            soa.add_link(
                session,
                caller,
                soa_id,
                control,
                url,
                str(form.get("title", "")),
                audit_key=settings.audit_hmac_key,
            )
    except (AppError, FieldError) as exc:
        field, message, _ = form_error(exc, statuses=(422,), default="url")
        return _failed(request, session, catalog, caller, s, control, form, {field: message})
    return _after(request, s, f"Evidence added to {control}.", f"#c-{control}")


@router.post("/soa/{soa_id:int}/submit")
def submit(
    soa_id: IdPath,
    request: Request,
    session: SessionDep,
    caller: Annotated[Caller, Depends(page_requires(Permission.soa_write))],
    settings: SettingsDep,
) -> Response:
    s = soa.submit(session, caller, soa_id, audit_key=settings.audit_hmac_key)
    return _after(request, s, f"Version {s.version} submitted for approval.")


@router.post("/soa/{soa_id:int}/decision")
def decide(
    soa_id: IdPath,
    request: Request,
    session: SessionDep,
    catalog: CatalogRepo,
    caller: Annotated[Caller, Depends(page_requires(Permission.decision_make))],
    settings: SettingsDep,
    form: FormDep,
) -> Response:
    s = soa.get(session, caller, soa_id)
    conditions = [c.strip() for c in str(form.get("conditions", "")).splitlines() if c.strip()]
    try:
        data = DecisionIn.model_validate(
            {
                "decision": form.get("decision") or None,
                "comment": str(form.get("comment", "")),
                "conditions": conditions,
            }
        )
        d = soa.decide(session, caller, soa_id, data, audit_key=settings.audit_hmac_key)
    except ValidationError as exc:
        errs = {f"decision_{k}": v for k, v in field_errors(exc).items()}
        return _failed(request, session, catalog, caller, s, None, form, errs)
    except (AppError, FieldError) as exc:
        field, message, _ = form_error(exc, statuses=(422,), default="decision")
        return _failed(
            request, session, catalog, caller, s, None, form, {f"decision_{field}": message}
        )
    return _after(request, s, f"Version {s.version} {d.decision}.")
