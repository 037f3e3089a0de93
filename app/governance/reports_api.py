"""The audit report route (API and page share the rendering) and its JSON Schema."""

from __future__ import annotations

from typing import Annotated, Literal

import structlog
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.orm import Session

from app.audit import checkpoints, signing
from app.auth.context import Caller
from app.auth.guards import api_requires, page_requires
from app.auth.permissions import Permission
from app.config import Settings
from app.db import SessionDep
from app.governance import export as signed_export
from app.governance import report, report_jobs
from app.web.deps import IdPath, SettingsDep

log = structlog.get_logger(__name__)
api_router = APIRouter(tags=["governance"])
page_router = APIRouter(include_in_schema=False)
Format = Literal["html", "pdf", "json", "csv"]


def export(
    session: Session,
    caller: Caller,
    settings: Settings,
    deployment_id: IdPath,
    fmt: str,
    detached: bool = False,
) -> Response:
    """The signed report file; ``detached``: a zip of it and its detached signature (``.sig``).
    The routes check report:export; the report job (app/governance/jobs.py) runs this for the user
    whose request the route accepted."""
    try:  # a backstop: every append has checkpointed the head already
        checkpoints.write(session, settings)
    except checkpoints.CheckpointError as exc:
        log.warning("audit checkpoint not written at export", error=str(exc))
    data = report.build(session, caller, deployment_id)
    key = signing.report_signing_key(settings)
    body = signed_export.render(key, data, fmt)
    name = signed_export.file_name(deployment_id, fmt)
    if detached:
        sig = signed_export.detached_signature(key, data, fmt, body, name)
        zipped = signed_export.bundle({name: body, f"{name}.sig": sig})
        return Response(
            zipped,
            media_type="application/zip",
            headers={"Content-Disposition": f'attachment; filename="{name}.zip"'},
        )
    attach = {} if fmt == "html" else {"Content-Disposition": f'attachment; filename="{name}"'}
    return Response(body, media_type=signed_export.MEDIA[fmt], headers=attach)


DETACHED = Query(False, description="A zip of the report and its detached signature (.sig)")


@api_router.get(
    "/deployments/{deployment_id:int}/report",
    response_class=Response,
    responses={
        200: {
            "content": {
                "text/html": {},
                "application/pdf": {},
                "application/json": {},
                "text/csv": {},
                "application/zip": {},
            }
        }
    },
)
def report_api(
    deployment_id: IdPath,
    session: SessionDep,
    caller: Annotated[Caller, Depends(api_requires(Permission.report_export))],
    settings: SettingsDep,
    format: Format = Query("html", description="html, pdf, json or csv (the risk register)"),
    detached: bool = DETACHED,
) -> Response:
    """The report inline; a PDF with more evaluation results than the inline limit is a 409
    naming ``POST .../report/jobs``, which generates it as a job (app/governance/report_jobs)."""
    if (n := report_jobs.needs_job(session, caller, deployment_id, format)) is not None:
        raise report_jobs.refuse_inline(deployment_id, n)
    return export(session, caller, settings, deployment_id, format, detached)


@api_router.get("/schemas/report.json")
def report_schema() -> JSONResponse:
    """JSON Schema of ``GET /deployments/{id}/report?format=json`` (public)."""
    return JSONResponse(report.schema())


@page_router.get("/deployments/{deployment_id:int}/report")
def report_page(
    deployment_id: IdPath,
    request: Request,
    session: SessionDep,
    caller: Annotated[Caller, Depends(page_requires(Permission.report_export))],
    settings: SettingsDep,
    format: Format = "html",
    detached: bool = False,
) -> Response:
    if (n := report_jobs.needs_job(session, caller, deployment_id, format)) is not None:
        return report_jobs.large_report_page(request, caller, deployment_id, n)
    return export(session, caller, settings, deployment_id, format, detached)


# Large PDFs as jobs, and the download of their files (app/governance/report_jobs.py).
api_router.include_router(report_jobs.api_router)
page_router.include_router(report_jobs.page_router)
