"""Scaling-lab JSON API (``/api/v1/scaling/...``): thin handlers over :mod:`app.lab.service`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Depends, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from app.auth.context import Caller
from app.auth.guards import api_requires
from app.auth.permissions import Permission
from app.db import SessionDep
from app.estimates.schemas import JobOut
from app.jobs import limits
from app.jobs import service as jobs
from app.jobs.models import Job
from app.lab import service
from app.lab.schemas import (
    ArchitectureRequest,
    ArchitectureResponse,
    ArchitectureSearchRequest,
    ArchitectureSearchResponse,
    ChinchillaFitRequest,
    ChinchillaFitResponse,
    ChinchillaRequest,
    ChinchillaResponse,
    ConditionalFitRequest,
    ConditionalFitResponse,
    InferenceAwareRequest,
    InferenceAwareResponse,
    MeasureRequest,
)
from app.web.deps import SettingsDep

router = APIRouter(prefix="/scaling", tags=["scaling lab"])
BAD: dict[int | str, dict[str, Any]] = {
    422: {"description": "Invalid input; the message names the field"}
}
AS_JOB: dict[int | str, dict[str, Any]] = {
    **BAD,
    202: {
        "model": JobOut,
        "description": "Over the inline limit: started as a job; poll "
        "Location (GET /api/v1/jobs/{id}); its result is this route's 200 body",
    },
}


def _accepted(
    job: Job, settings: SettingsDep, request: Request, background: BackgroundTasks
) -> JSONResponse:
    background.add_task(jobs.submit, job.id, settings, request.app.state.job_runner)
    return JSONResponse(
        jsonable_encoder(JobOut.model_validate(job)),
        status_code=202,
        headers={"Location": f"/api/v1/jobs/{job.id}"},
    )


@router.post("/chinchilla", response_model=ChinchillaResponse, responses=BAD)
def chinchilla(
    req: ChinchillaRequest,
    session: SessionDep,
    _c: Annotated[Caller, Depends(api_requires(Permission.estimate_run))],
) -> ChinchillaResponse:
    """Compute-optimal parameters and tokens of a budget (FLOPs, or GPUs × days × MFU) under a
    Chinchilla fit, beside every published fit; with ``params`` and ``tokens``, where that
    trained model sits against the optimum of its own budget."""
    return service.chinchilla(session, req)


@router.post("/inference-aware", response_model=InferenceAwareResponse, responses=BAD)
def inference_aware(
    req: InferenceAwareRequest,
    session: SessionDep,
    caller: Annotated[Caller, Depends(api_requires(Permission.estimate_run))],
) -> InferenceAwareResponse:
    """Parameters and training tokens reaching ``target_loss`` at the least lifetime FLOPs (or
    dollars, with ``cost``) for the inference demand, beside the equal-loss Chinchilla model."""
    return service.inference_aware_plan(session, req, caller.org_id)


@router.post("/chinchilla/fit", response_model=ChinchillaFitResponse, responses=AS_JOB)
def chinchilla_fit(
    req: ChinchillaFitRequest,
    session: SessionDep,
    caller: Annotated[Caller, Depends(api_requires(Permission.estimate_run))],
    settings: SettingsDep,
    request: Request,
    background: BackgroundTasks,
) -> Any:
    """Fit E, A, B, α, β to your runs (Huber on log loss, multi-start L-BFGS, bootstrap). Up to
    5 bootstrap resamples the fit is answered here (200); more run as a job (202 and the job)."""
    est = service.plan_fit(req)
    if est.as_job:
        job = service.start_fit_job(session, caller, "chinchilla_fit", req, est)
        return _accepted(job, settings, request, background)
    return service.fit_runs(req)


@router.post("/conditional-law/fit", response_model=ConditionalFitResponse, responses=AS_JOB)
def conditional_fit(
    req: ConditionalFitRequest,
    session: SessionDep,
    caller: Annotated[Caller, Depends(api_requires(Permission.estimate_run))],
    settings: SettingsDep,
    request: Request,
    background: BackgroundTasks,
) -> Any:
    """Fit Bian et al.'s conditional law (Levenberg–Marquardt) with the progressive check. Up to
    2,000,000 runs × (scales + 1) it is answered here (200); more runs as a job (202)."""
    est = service.plan_conditional(req)
    if est.as_job:
        job = service.start_fit_job(session, caller, "conditional_fit", req, est)
        return _accepted(job, settings, request, background)
    return service.fit_conditional_law(req)


@router.post("/architecture", response_model=ArchitectureResponse, responses=BAD)
def architecture(
    req: ArchitectureRequest,
    session: SessionDep,
    caller: Annotated[Caller, Depends(api_requires(Permission.estimate_run))],
) -> ArchitectureResponse:
    """x, r, GQA, KV bytes, inference FLOPs, the conditional law's multiplier and the serving
    throughput of one architecture (with optional d_model, r and GQA changes)."""
    return service.analyse_architecture(session, req, caller.org_id)


@router.post("/architecture-search", response_model=ArchitectureSearchResponse, responses=BAD)
def architecture_search(
    req: ArchitectureSearchRequest,
    session: SessionDep,
    caller: Annotated[Caller, Depends(api_requires(Permission.estimate_run))],
) -> ArchitectureSearchResponse:
    """Algorithm 1: every design at the budget, the loss-optimal and throughput-optimal designs
    under the target and the Pareto frontier."""
    return service.architecture_search(session, req, caller.org_id)


@router.post("/architecture-search/measure", response_model=JobOut, status_code=202, responses=BAD)
def measure_designs(
    req: MeasureRequest,
    session: SessionDep,
    caller: Annotated[Caller, Depends(api_requires(Permission.torch_run))],
    settings: SettingsDep,
    request: Request,
    background: BackgroundTasks,
) -> JobOut:
    """Time the designs' decode step with torch on this machine (CUDA when present) as a job;
    its result gives measured and predicted speed-ups over the first design. Poll
    ``/api/v1/jobs/{id}``. Architects and admins; shapes whose estimated memory exceeds this
    machine's torch limit are a 422 naming the field; 409 while you have another heavy job."""
    job = service.start_measurement(
        session,
        caller,
        req,
        settings.audit_hmac_key,
        torch_memory_limit=limits.torch_memory_limit_bytes(settings.torch_memory_gib),
    )
    background.add_task(jobs.submit, job.id, settings, request.app.state.job_runner)
    return JobOut.model_validate(job)
