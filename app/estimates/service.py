"""Resolve catalog keys into the pure estimator's inputs and run it."""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.catalog.repository import CatalogRepository
from app.catalog.service import architecture_of, gpu_spec_of
from app.errors import InvalidInput
from app.estimates.schemas import (
    ArchitectureIn,
    DecodeOut,
    GpuSpecIn,
    InferenceRequest,
    InferenceResponse,
    MemoryOut,
    PrefillOut,
    TimingOut,
)
from app.estimators.architecture import Architecture, ArchitectureError
from app.estimators.engines import engine
from app.estimators.hardware import GpuSpec, HardwareError
from app.estimators.inference import (
    EstimateError,
    ServingConfig,
    Timing,
    Workload,
    estimate_inference,
    with_speculative,
)
from app.estimators.precision import Precision


def resolve_architecture(session: Session, model: str | ArchitectureIn) -> Architecture:
    if isinstance(model, str):
        repo = CatalogRepository(session)
        m = repo.model(model)
        if m is None:
            raise InvalidInput(
                f"unknown model '{model}'; known: " + ", ".join(x.key for x in repo.models()),
                field="model",
            )
        return architecture_of(m)
    try:
        return Architecture(**model.model_dump())
    except ArchitectureError as exc:
        raise InvalidInput(str(exc), field=f"model.{exc.field}") from None


def resolve_gpu(session: Session, gpu: str | GpuSpecIn) -> GpuSpec:
    if isinstance(gpu, str):
        repo = CatalogRepository(session)
        g = repo.gpu(gpu)
        if g is None:
            raise InvalidInput(
                f"unknown gpu '{gpu}'; known: " + ", ".join(x.key for x in repo.gpus()), field="gpu"
            )
        return gpu_spec_of(g)
    try:
        return GpuSpec(**gpu.model_dump())
    except HardwareError as exc:
        raise InvalidInput(str(exc), field=f"gpu.{exc.field}") from None


def _timing_out(t: Timing) -> TimingOut:
    return TimingOut(
        prefill=PrefillOut(time_ms=t.prefill.time_s * 1e3, bound=t.prefill.bound),  # type: ignore[arg-type]
        decode=DecodeOut(time_per_token_ms=t.decode.time_s * 1e3, bound=t.decode.bound),  # type: ignore[arg-type]
        ttft_ms=t.ttft_ms,
        tpot_ms=t.tpot_ms,
        output_tokens_per_s=t.output_tokens_per_s,
        output_tokens_per_s_per_gpu=t.output_tokens_per_s_per_gpu,
        cost_per_million_output_tokens_usd=t.cost_per_million_output_tokens_usd,
    )


def inference(session: Session, req: InferenceRequest) -> InferenceResponse:
    arch = resolve_architecture(session, req.model)
    gpu = resolve_gpu(session, req.gpu)
    cfg = ServingConfig(
        n_gpus=req.n_gpus,
        precision=Precision(req.precision),
        kv_cache_precision=Precision(req.kv_cache_precision),
        paged_attention=req.paged_attention,
    )
    try:
        est = estimate_inference(
            arch,
            gpu,
            engine(req.engine),
            cfg,
            Workload(req.input_tokens, req.output_tokens, req.batch_size),
        )
        if req.speculative is not None:
            s = req.speculative
            est = with_speculative(est, alpha=s.alpha, gamma=s.gamma, c=s.c)
    except EstimateError as exc:
        raise InvalidInput(str(exc), field=exc.field) from None
    t = _timing_out(est.timing)
    m = est.memory
    return InferenceResponse(
        **t.model_dump(),
        memory=MemoryOut(**{k: getattr(m, k) for k in MemoryOut.model_fields}),
        best_case=_timing_out(est.best_case),
        assumptions={
            **est.assumptions,
            "model": arch.name,
            "gpu": gpu.name,
            "total_params": arch.total_params,
            "active_params": arch.active_params,
        },
    )
