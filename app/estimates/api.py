from __future__ import annotations

from fastapi import APIRouter

from app.db import SessionDep
from app.errors import InvalidInput
from app.estimates import service
from app.estimates.schemas import (
    ArchitectureIn,
    CompareGpusRequest,
    CompareGpusResponse,
    FinetuneRequest,
    FinetuneResponse,
    HfConfigRequest,
    HfConfigResponse,
    InferenceRequest,
    InferenceResponse,
    TrainingRequest,
    TrainingResponse,
)
from app.estimators.hf_config import HfConfigError, architecture_from_hf_config, unmapped_notes
from app.web.deps import ApiCaller

router = APIRouter(tags=["estimates"])


@router.post(
    "/estimates/inference",
    response_model=InferenceResponse,
    responses={422: {"description": "Unknown key or impossible value; names the field"}},
)
def estimate_inference(
    req: InferenceRequest, session: SessionDep, _caller: ApiCaller
) -> InferenceResponse:
    """Serving estimate: memory feasibility, TTFT, TPOT, throughput and cost, with the physical
    best case and the assumptions. A model that does not fit is a 200 with ``memory.fits`` false
    and ``memory.reason``."""
    return service.inference(session, req)


@router.post(
    "/estimates/inference/compare-gpus",
    response_model=CompareGpusResponse,
    responses={422: {"description": "Invalid workload; names the field"}},
)
def compare_gpus(
    req: CompareGpusRequest, session: SessionDep, _caller: ApiCaller
) -> CompareGpusResponse:
    """The same workload on every catalog GPU, cheapest that fits and meets the SLOs first."""
    return service.compare_gpus(session, req)


@router.post(
    "/estimates/training",
    response_model=TrainingResponse,
    responses={422: {"description": "Unknown key or impossible value; names the field"}},
)
def estimate_training(
    req: TrainingRequest, session: SessionDep, _caller: ApiCaller
) -> TrainingResponse:
    """Pretraining FLOPs, GPU-hours, wall-clock days and cost at an MFU, with the
    compute-optimal (Chinchilla) split of the same budget."""
    return service.training(session, req)


@router.post(
    "/estimates/finetune",
    response_model=FinetuneResponse,
    responses={422: {"description": "Unknown key or impossible value; names the field"}},
)
def estimate_finetune(
    req: FinetuneRequest, session: SessionDep, _caller: ApiCaller
) -> FinetuneResponse:
    """Full, LoRA or QLoRA fine-tuning: trainable parameters, memory per GPU, tokens/s."""
    return service.finetune(session, req)


@router.post("/models/parse-hf-config", response_model=HfConfigResponse)
def parse_hf_config(req: HfConfigRequest, _caller: ApiCaller) -> HfConfigResponse:
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
