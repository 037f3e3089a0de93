"""The scaling lab's job kinds: the decode measurement of shortlisted designs and its fits over the
inline limit (app/jobs/limits.py), registered in app/jobs/registry.py."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from sqlalchemy.orm import Session, sessionmaker

from app.catalog.repository import CatalogRepository
from app.catalog.service import gpu_spec_of
from app.db import session_scope
from app.estimators.architecture import Architecture
from app.estimators.calibration import measure_decode
from app.estimators.engines import engine
from app.estimators.inference import ServingConfig, StepModel
from app.jobs.registry import Progress, handler
from app.lab.schemas import ChinchillaFitResponse, ConditionalFitResponse

Factory = sessionmaker[Session]


class MeasuredDesign(BaseModel):
    """One shortlisted design's decode step: measured here with torch, predicted on the GPU."""

    label: str
    measured_step_ms: float
    measured_tokens_per_s: float
    measured_speedup: float
    predicted_step_ms: float
    predicted_speedup: float
    layers_measured: int


class DesignMeasurement(BaseModel):
    """A design-measurement job's result."""

    device: str
    dtype: str
    torch_version: str
    batch: int
    context: int
    gpu: str
    designs: list[MeasuredDesign]
    notes: list[str]


@handler("design_measure")
def design_measure_job(
    factory: Factory, params: dict[str, Any], progress: Progress
) -> DesignMeasurement:
    """Time the decode step of the scaling lab's shortlisted designs with torch on this machine,
    beside the step model's prediction on the chosen GPU (compare the ratios: the device
    differs)."""
    with session_scope(factory) as session:
        g = CatalogRepository(session).gpu(params["gpu"])
        if g is None:
            raise ValueError("the GPU is no longer in the catalog")
        gpu = gpu_spec_of(g)
    labels = [d["label"] for d in params["designs"]]
    archs = [Architecture(**d["architecture"], name=d["label"]) for d in params["designs"]]
    batch, ctx = params["batch"], params["context"]
    res = measure_decode(
        archs, batch=batch, context=ctx, max_layers=params.get("max_layers", 2), progress=progress
    )
    eng = engine(params.get("engine", "vllm"))
    predicted = [
        StepModel.build(a, gpu, eng, ServingConfig()).decode(batch, ctx).time_s * 1e3 for a in archs
    ]
    rows = [
        MeasuredDesign(
            label=label,
            measured_step_ms=m,
            measured_tokens_per_s=batch / m * 1e3,
            measured_speedup=res.step_ms[0] / m,
            predicted_step_ms=p,
            predicted_speedup=predicted[0] / p,
            layers_measured=n,
        )
        for label, m, p, n in zip(labels, res.step_ms, predicted, res.layers_measured, strict=True)
    ]
    return DesignMeasurement(
        device=res.device,
        dtype=res.dtype,
        torch_version=res.torch_version,
        batch=batch,
        context=ctx,
        gpu=gpu.name,
        designs=rows,
        notes=res.notes,
    )


@handler("chinchilla_fit")
def chinchilla_fit_job(
    factory: Factory, params: dict[str, Any], progress: Progress
) -> ChinchillaFitResponse:
    """A Chinchilla fit of the scaling lab over the inline limit (the result is the API's)."""
    from app.lab import service
    from app.lab.schemas import ChinchillaFitRequest

    req = ChinchillaFitRequest.model_validate(params["request"])
    return service.fit_runs(req, progress)


@handler("conditional_fit")
def conditional_fit_job(
    factory: Factory, params: dict[str, Any], progress: Progress
) -> ConditionalFitResponse:
    """A conditional-law fit with its progressive check, over the inline limit."""
    from app.lab import service
    from app.lab.schemas import ConditionalFitRequest

    req = ConditionalFitRequest.model_validate(params["request"])
    return service.fit_conditional_law(req, progress)
