from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Depends, Request

from app.auth.context import Caller
from app.auth.deps import ApiCaller
from app.auth.guards import api_requires
from app.auth.permissions import Permission
from app.db import SessionDep
from app.errors import InvalidInput
from app.estimates import calibrations, service
from app.estimates.schemas import (
    ArchitectureIn,
    CalibrationOut,
    CalibrationRunRequest,
    CompareGpusRequest,
    CompareGpusResponse,
    FinetuneRequest,
    FinetuneResponse,
    HfConfigRequest,
    HfConfigResponse,
    InferenceRequest,
    InferenceResponse,
    JobOut,
    TrainingRequest,
    TrainingResponse,
    VllmImportRequest,
)
from app.estimators.hf_config import HfConfigError, architecture_from_hf_config, unmapped_notes
from app.estimators.vllm_bench import BenchFileError, parse_bench
from app.jobs import limits
from app.jobs import service as jobs
from app.jobs.deps import JobsRecovered
from app.web.deps import IdPath, SettingsDep

router = APIRouter(tags=["estimates"])


@router.post(
    "/estimates/inference",
    response_model=InferenceResponse,
    responses={422: {"description": "Unknown key or impossible value; names the field"}},
)
def estimate_inference(
    req: InferenceRequest,
    session: SessionDep,
    caller: Annotated[Caller, Depends(api_requires(Permission.estimate_run))],
) -> InferenceResponse:
    """Serving estimate: memory feasibility, TTFT, TPOT, throughput and cost, with the physical
    best case and the assumptions. A model that does not fit is a 200 with ``memory.fits`` false
    and ``memory.reason``."""
    return service.inference(session, req, caller.org_id)


@router.post(
    "/estimates/inference/compare-gpus",
    response_model=CompareGpusResponse,
    responses={422: {"description": "Invalid workload; names the field"}},
)
def compare_gpus(
    req: CompareGpusRequest,
    session: SessionDep,
    caller: Annotated[Caller, Depends(api_requires(Permission.estimate_run))],
) -> CompareGpusResponse:
    """The same workload on every catalog GPU, cheapest that fits and meets the SLOs first."""
    return service.compare_gpus(session, req, caller.org_id)


@router.post(
    "/estimates/training",
    response_model=TrainingResponse,
    responses={422: {"description": "Unknown key or impossible value; names the field"}},
)
def estimate_training(
    req: TrainingRequest,
    session: SessionDep,
    caller: Annotated[Caller, Depends(api_requires(Permission.estimate_run))],
) -> TrainingResponse:
    """Pretraining FLOPs, GPU-hours, wall-clock days and cost at an MFU, with the
    compute-optimal (Chinchilla) split of the same budget."""
    return service.training(session, req, caller.org_id)


@router.post(
    "/estimates/finetune",
    response_model=FinetuneResponse,
    responses={422: {"description": "Unknown key or impossible value; names the field"}},
)
def estimate_finetune(
    req: FinetuneRequest,
    session: SessionDep,
    caller: Annotated[Caller, Depends(api_requires(Permission.estimate_run))],
) -> FinetuneResponse:
    """Full, LoRA or QLoRA fine-tuning: trainable parameters, memory per GPU, tokens/s."""
    return service.finetune(session, req, caller.org_id)


@router.post("/models/parse-hf-config", response_model=HfConfigResponse)
def parse_hf_config(
    req: HfConfigRequest, _caller: Annotated[Caller, Depends(api_requires(Permission.estimate_run))]
) -> HfConfigResponse:
    """Turn a Hugging Face config.json into an architecture object for the estimators."""
    try:
        arch = architecture_from_hf_config(req.config, name=req.name)
    except HfConfigError as exc:
        raise InvalidInput(str(exc), field="config." + exc.fields[0]) from None
    return HfConfigResponse(
        architecture=ArchitectureIn(**arch.as_dict(), name=arch.name),
        total_params=arch.total_params,
        active_params=arch.active_params,
        notes=unmapped_notes(req.config),
    )


@router.get("/calibrations", response_model=list[CalibrationOut])
def list_calibrations(session: SessionDep, caller: ApiCaller) -> object:
    """The organisation's calibrations, newest first; estimates use the newest per GPU/engine."""
    return calibrations.list_for(session, caller.org_id)


def _start(
    kind: str,
    params: dict[str, Any],
    session: SessionDep,
    caller: Caller,
    settings: SettingsDep,
    request: Request,
    background: BackgroundTasks,
) -> JobOut:
    job = calibrations.start(
        session,
        caller,
        kind,
        params,
        settings.audit_hmac_key,
        torch_memory_limit=limits.torch_memory_limit_bytes(settings.torch_memory_gib),
    )
    # Runs after the response, i.e. after the request's transaction has committed the job.
    background.add_task(jobs.submit, job.id, settings, request.app.state.job_runner)
    return JobOut.model_validate(job)


@router.post("/calibrations", response_model=JobOut, status_code=202)
def run_calibration(
    req: CalibrationRunRequest,
    session: SessionDep,
    caller: Annotated[
        Caller, Depends(api_requires(Permission.calibration_run, Permission.torch_run))
    ],
    settings: SettingsDep,
    request: Request,
    background: BackgroundTasks,
) -> JobOut:
    """Measure this machine's accelerator with torch (admin). Returns the job to poll. Refused
    with 422 naming the field when the shapes would not fit this machine's memory, and with 409
    while the caller has another heavy job queued or running."""
    return _start(
        "calibration", req.model_dump(mode="json"), session, caller, settings, request, background
    )


@router.post("/calibrations/vllm-import", response_model=JobOut, status_code=202)
def import_vllm_bench(
    req: VllmImportRequest,
    session: SessionDep,
    caller: Annotated[Caller, Depends(api_requires(Permission.calibration_run))],
    settings: SettingsDep,
    request: Request,
    background: BackgroundTasks,
) -> JobOut:
    """Fit an engine's efficiencies to a `vllm bench serve` result (admin). Returns the job."""
    try:
        parse_bench(req.bench)
    except BenchFileError as exc:
        raise InvalidInput(str(exc), field="bench") from None
    return _start(
        "vllm_import", req.model_dump(mode="json"), session, caller, settings, request, background
    )


@router.get("/jobs/{job_id:int}", response_model=JobOut)
def get_job(
    job_id: IdPath, session: SessionDep, caller: ApiCaller, _recovered: JobsRecovered
) -> object:
    return jobs.get(session, job_id, caller.org_id)
