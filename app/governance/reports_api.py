"""The audit report route (API and page share the rendering) and its JSON Schema."""

from __future__ import annotations

import json
from typing import Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.orm import Session

from app.audit import checkpoints
from app.auth.context import Caller
from app.auth.permissions import Permission
from app.config import Settings
from app.db import SessionDep
from app.governance import export as signed_export
from app.governance import report, report_jobs
from app.web.deps import ApiCaller, IdPath, PageCaller, SettingsDep

api_router = APIRouter(tags=["governance"])
page_router = APIRouter(include_in_schema=False)
Format = Literal["html", "pdf", "json", "csv"]


def export(
    session: Session, caller: Caller, settings: Settings, deployment_id: IdPath, fmt: str
) -> Response:
    caller.require(Permission.report_export)
    checkpoints.write(session, settings)
    data = report.build(session, caller, deployment_id)
    key = settings.report_signing_key
    if fmt != "csv":
        data = signed_export.signed(key, data, fmt)
    stem = f"axisboard-report-deployment-{deployment_id}"
    attach: dict[str, str] = {}
    if fmt == "json":
        body: bytes | str = json.dumps(data, indent=2, ensure_ascii=False)
        media = "application/json"
        attach = {"Content-Disposition": f'attachment; filename="{stem}.json"'}
    elif fmt == "csv":
        body = signed_export.sign_csv(key, data, report.risk_register_csv(data))
        media = "text/csv; charset=utf-8"
        attach = {"Content-Disposition": f'attachment; filename="{stem}-risk-register.csv"'}
    elif fmt == "pdf":
        body, media = report.render_pdf(data), "application/pdf"
        attach = {"Content-Disposition": f'attachment; filename="{stem}.pdf"'}
    else:
        body, media = report.render_html(data), "text/html; charset=utf-8"
    return Response(body, media_type=media, headers=attach)


@api_router.get("/deployments/{deployment_id:int}/report", response_class=Response,
                responses={200: {"content": {"text/html": {}, "application/pdf": {},
                                             "application/json": {}, "text/csv": {}}}})  # fmt: skip
def report_api(
    deployment_id: IdPath, session: SessionDep, caller: ApiCaller, settings: SettingsDep,
    format: Format = Query("html", description="html, pdf, json or csv (the risk register)"),
) -> Response:  # fmt: skip
    """The report inline; a PDF with more evaluation results than the inline limit is a 409
    naming ``POST .../report/jobs``, which generates it as a job (app/governance/report_jobs)."""
    if (n := report_jobs.needs_job(session, caller, deployment_id, format)) is not None:
        raise report_jobs.refuse_inline(deployment_id, n)
    return export(session, caller, settings, deployment_id, format)


@api_router.get("/schemas/report.json")
def report_schema() -> JSONResponse:
    """JSON Schema of ``GET /deployments/{id}/report?format=json`` (public)."""
    return JSONResponse(report.schema())


@page_router.get("/deployments/{deployment_id:int}/report")
def report_page(
    deployment_id: IdPath, request: Request, session: SessionDep, caller: PageCaller,
    settings: SettingsDep, format: Format = "html",
) -> Response:  # fmt: skip
    if (n := report_jobs.needs_job(session, caller, deployment_id, format)) is not None:
        return report_jobs.large_report_page(request, caller, deployment_id, n)
    return export(session, caller, settings, deployment_id, format)


# Large PDFs as jobs, and the download of their files (app/governance/report_jobs.py).
api_router.include_router(report_jobs.api_router)
page_router.include_router(report_jobs.page_router)
