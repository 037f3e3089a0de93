"""Large PDF reports as jobs: a deployment whose evaluations hold more results than
:data:`app.jobs.limits.INLINE_MAX_REPORT_RESULTS` gets its PDF from a job (progress on the page
and at ``GET /api/v1/jobs/{id}``), downloaded when done; smaller ones stay inline. The job
generates and signs the file exactly as the inline download does (``reports_api.export``).

Permissions are checked once, by the routes (report:export, in their ``page_requires``/
``api_requires`` dependency): the job trusts the request its route accepted and does not check
the role again when it runs.
"""

from __future__ import annotations

import base64
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Depends, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, Response
from sqlalchemy.orm import Session

from app.auth.context import Caller
from app.auth.deps import PageCaller
from app.auth.guards import api_requires, page_requires
from app.auth.permissions import Permission
from app.db import SessionDep
from app.errors import Conflict, InvalidInput
from app.estimates.schemas import JobOut
from app.governance import jobs as _jobs  # noqa: F401 - registers its job kind
from app.governance import service
from app.jobs import limits
from app.jobs import service as jobs
from app.jobs.deps import JobsRecovered
from app.jobs.models import Job
from app.web.deps import IdPath, SettingsDep
from app.web.templates import render

api_router = APIRouter(tags=["governance"])
page_router = APIRouter(include_in_schema=False)


def results_count(session: Session, caller: Caller, deployment_id: int) -> int:
    """Evaluation results in the deployment's report (what its PDF's size follows); 404 for a
    deployment outside the caller's organisation."""
    return sum(len(e.results) for e in service.evaluations(session, caller, deployment_id))


def _plan(session: Session, caller: Caller, deployment_id: int) -> tuple[int, limits.Estimate]:
    n = results_count(session, caller, deployment_id)
    if n > limits.MAX_REPORT_RESULTS:
        raise InvalidInput(
            f"a PDF of {n:,} evaluation results is over this machine's limit of "
            f"{limits.MAX_REPORT_RESULTS:,} (about {limits.pdf_report(n).cpu_s:.0f} CPU seconds); "
            "export it as JSON or CSV, which stay fast at any size",
            field="format",
        )
    return n, limits.pdf_report(n)


def needs_job(session: Session, caller: Caller, deployment_id: int, fmt: str) -> int | None:
    """For the inline report routes: the result count when a PDF is too large to render inline
    (None: render it inline). Over the cap: 422."""
    if fmt != "pdf":
        return None
    n, est = _plan(session, caller, deployment_id)
    return n if est.as_job else None


def refuse_inline(deployment_id: int, n: int) -> Conflict:
    return Conflict(
        f"this deployment's PDF report holds {n:,} evaluation results, over the "
        f"{limits.INLINE_MAX_REPORT_RESULTS:,} rendered inline: start it as a job with POST "
        f"/api/v1/deployments/{deployment_id}/report/jobs, follow GET /api/v1/jobs/{{id}} and "
        "download it from GET /api/v1/jobs/{id}/download"
    )


def start(session: Session, caller: Caller, deployment_id: int) -> Job:
    n, est = _plan(session, caller, deployment_id)
    params = {
        "deployment_id": deployment_id,
        "user_id": caller.user_id,
        "org_id": caller.org_id,
        "results": n,
        "estimated_cpu_s": round(est.cpu_s, 1),
    }
    return jobs.create(
        session, org_id=caller.org_id, kind="report_pdf", params=params, created_by=caller.email
    )


def download(session: Session, caller: Caller, job_id: int) -> Response:
    job = jobs.get(session, job_id, caller.org_id)
    if job.kind != "report_pdf":
        raise Conflict(f"job {job.id} is a {job.kind} job; it has no file to download")
    if job.status != "succeeded" or not job.result:
        raise Conflict(f"job {job.id} is {job.status}; the file is there once it has succeeded")
    r: dict[str, Any] = job.result
    return Response(
        base64.b64decode(r["content_b64"]),
        media_type=r["media_type"],
        headers={"Content-Disposition": f'attachment; filename="{r["filename"]}"'},
    )


# ---- API -----------------------------------------------------------------------------------
@api_router.post(
    "/deployments/{deployment_id:int}/report/jobs", response_model=JobOut, status_code=202
)
def start_report_job(
    deployment_id: IdPath,
    session: SessionDep,
    caller: Annotated[Caller, Depends(api_requires(Permission.report_export))],
    settings: SettingsDep,
    request: Request,
    background: BackgroundTasks,
) -> Response:
    """Generate the deployment's PDF audit report as a job (any size up to the limit; required
    above the inline limit). Follow ``GET /api/v1/jobs/{id}``; fetch the file from
    ``GET /api/v1/jobs/{id}/download`` once it has succeeded. 409 while you have another heavy
    job queued or running; 422 (field ``format``) over this machine's limit for a PDF."""
    job = start(session, caller, deployment_id)
    background.add_task(jobs.submit, job.id, settings, request.app.state.job_runner)
    return JSONResponse(
        jsonable_encoder(JobOut.model_validate(job)),
        status_code=202,
        headers={"Location": f"/api/v1/jobs/{job.id}"},
    )


@api_router.get(
    "/jobs/{report_job_id:int}/download",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
)
def download_api(
    report_job_id: IdPath,
    session: SessionDep,
    caller: Annotated[Caller, Depends(api_requires(Permission.report_export))],
    _recovered: JobsRecovered,
) -> Response:
    """The file a report job produced (signed, as the inline download); 409 for a job that is not
    a finished report."""
    return download(session, caller, report_job_id)


# ---- pages ---------------------------------------------------------------------------------
@page_router.post("/deployments/{deployment_id:int}/report/jobs")
def start_report_job_page(
    deployment_id: IdPath,
    request: Request,
    session: SessionDep,
    caller: Annotated[Caller, Depends(page_requires(Permission.report_export))],
    settings: SettingsDep,
    background: BackgroundTasks,
) -> Response:
    ctx: dict[str, Any] = {
        "caller": caller,
        "deployment_id": deployment_id,
        "job": None,
        "errors": {},
        "limit": limits.INLINE_MAX_REPORT_RESULTS,
    }
    try:
        ctx["results"] = results_count(session, caller, deployment_id)
        job = start(session, caller, deployment_id)
    except (InvalidInput, Conflict) as exc:
        ctx["errors"] = {"__all__": exc.message}
        return render(request, "reports/large.html", ctx, status_code=exc.status_code)
    background.add_task(jobs.submit, job.id, settings, request.app.state.job_runner)
    ctx["job"] = job
    return render(request, "reports/large.html", ctx, status_code=202)


def large_report_page(request: Request, caller: Caller, deployment_id: int, n: int) -> Response:
    """What the report link shows for a PDF too large to render inline: a button that starts
    the job."""
    ctx = {
        "caller": caller,
        "deployment_id": deployment_id,
        "results": n,
        "job": None,
        "errors": {},
        "limit": limits.INLINE_MAX_REPORT_RESULTS,
        "estimated_cpu_s": limits.pdf_report(n).cpu_s,
    }
    return render(request, "reports/large.html", ctx)


@page_router.get("/jobs/{job_id:int}")
def job_fragment(
    job_id: IdPath,
    request: Request,
    session: SessionDep,
    caller: PageCaller,
    _recovered: JobsRecovered,
) -> Response:
    """A job's status (polled by the page while it runs), with the download when it is a
    finished report."""
    job = jobs.get(session, job_id, caller.org_id)
    return render(request, "reports/_job.html", {"caller": caller, "job": job})


@page_router.get("/jobs/{report_job_id:int}/download")
def download_page(
    report_job_id: IdPath,
    session: SessionDep,
    caller: Annotated[Caller, Depends(page_requires(Permission.report_export))],
    _recovered: JobsRecovered,
) -> Response:
    return download(session, caller, report_job_id)
