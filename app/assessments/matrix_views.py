"""The matrix editor: a candidate matrix is previewed against the submitted assessments (how
their rankings would change, app/assessments/matrix_preview.py) before it is published as the
organisation's next version (app/catalog owns the matrix; the preview needs the assessments, so
the editor sits above both)."""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from app.assessments.matrix_preview import matrix_dry_run
from app.auth.context import Caller
from app.auth.guards import page_requires
from app.auth.permissions import Permission
from app.catalog import service as catalog_service
from app.catalog.repository import CatalogRepo
from app.catalog.views import matrix_context
from app.db import SessionDep
from app.errors import AppError
from app.estimators.errors import FieldError
from app.rules.matrix import DIMENSIONS
from app.web.deps import SettingsDep
from app.web.flash import flash
from app.web.forms import form_data, form_error
from app.web.htmx import redirect
from app.web.templates import render

router = APIRouter(include_in_schema=False)


@router.get("/matrix/edit")
def matrix_edit_page(
    request: Request,
    session: SessionDep,
    catalog: CatalogRepo,
    caller: Annotated[Caller, Depends(page_requires(Permission.matrix_edit))],
) -> Response:
    return render(
        request,
        "catalog/matrix_edit.html",
        {
            "caller": caller,
            "errors": {},
            "note": "",
            "preview": None,
            **matrix_context(session, catalog, caller.org_id, None),
        },
    )


def _preview_digest(version: int, changes: dict[tuple[str, str], tuple[int, str]]) -> str:
    """Names one preview: the matrix version it was made against and the cells it changes, so a
    publish is accepted only for exactly what was previewed."""
    body = json.dumps(
        [version, sorted([a, d, lv, w.strip()] for (a, d), (lv, w) in changes.items())],
        separators=(",", ":"),
    )
    return hashlib.sha256(body.encode()).hexdigest()[:32]


@router.post("/matrix/edit")
def matrix_edit(
    request: Request,
    session: SessionDep,
    catalog: CatalogRepo,
    caller: Annotated[Caller, Depends(page_requires(Permission.matrix_edit))],
    settings: SettingsDep,
    form: Annotated[dict[str, Any], Depends(form_data)],
) -> Response:
    """Two steps: "Preview" shows how the submitted assessments' rankings would change under the
    edited matrix (nothing saved); "Publish" saves the new version, and only for the very changes
    that were previewed (otherwise it previews them first)."""
    changes: dict[tuple[str, str], tuple[int, str]] = {}
    errors: dict[str, str] = {}
    current = catalog_service.current_matrix(session, caller.org_id)
    for axis in catalog.axes():
        for dim in DIMENSIONS:
            if f"{axis.key}.{dim}.level" not in form:
                continue  # a cell not submitted stays as it is
            raw_level = str(form.get(f"{axis.key}.{dim}.level", "")).strip()
            words = str(form.get(f"{axis.key}.{dim}.wording", current.wording[axis.key][dim]))
            try:
                level = int(raw_level)
            except ValueError:
                errors[f"{axis.key}.{dim}"] = "level must be a whole number 1-5"
                continue
            changes[(axis.key, dim)] = (level, words)
    note = str(form.get("note", ""))[:500]
    status = 422
    preview: dict[str, Any] | None = None
    digest = _preview_digest(current.version, changes)
    publishing = form.get("action") == "publish" and form.get("preview_of") == digest
    if not errors and publishing:
        try:
            mv = catalog_service.edit_matrix(
                session, caller, changes, note, audit_key=settings.audit_hmac_key
            )
        except (AppError, FieldError) as exc:
            # 409: a concurrent publish took the version number; the form keeps what was typed
            field, message, status = form_error(exc)
            errors["__all__" if status == 409 else field] = message
        else:
            resp = redirect(request, "/matrix")
            flash(request, resp, f"Matrix version {mv.version} published.")
            return resp
    elif not errors:
        try:
            _, levels, changed = catalog_service.candidate_matrix(session, caller.org_id, changes)
        except (AppError, FieldError) as exc:
            field, message, _ = form_error(exc, statuses=(422,))
            errors[field] = message
        else:
            preview = matrix_dry_run(session, caller, current.version, levels)
            preview["cells"] = changed
            preview["digest"] = digest
            preview["stale"] = form.get("action") == "publish"
            status = 200
    ctx = matrix_context(session, catalog, caller.org_id, None)
    return render(
        request,
        "catalog/matrix_edit.html",
        {
            "caller": caller,
            "errors": errors,
            "note": note,
            "submitted": form,
            "preview": preview,
            **ctx,
        },
        status_code=status,
    )
