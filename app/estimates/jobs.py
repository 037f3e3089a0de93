"""The estimates' job kinds: a torch calibration on this machine's accelerator and a vLLM benchmark
import, both storing a :class:`~app.estimates.models.Calibration` that the organisation's estimates
for that GPU and engine then use (registered in app/jobs/registry.py)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from sqlalchemy.orm import Session, sessionmaker

from app.catalog.repository import CatalogRepository
from app.catalog.service import architecture_of, gpu_spec_of
from app.db import session_scope
from app.estimates.models import Calibration
from app.estimators.calibration import run_calibration
from app.estimators.engines import engine
from app.estimators.inference import ServingConfig
from app.estimators.precision import Precision
from app.estimators.vllm_bench import fit_bench, parse_bench
from app.jobs.registry import Progress, handler

Factory = sessionmaker[Session]


class CalibrationJobResult(BaseModel):
    """A torch calibration's job result: the calibration stored and its fitted efficiencies."""

    calibration_id: int
    device: str
    prefill_efficiency: float
    decode_efficiency: float


class VllmImportJobResult(BaseModel):
    """A vLLM benchmark import's job result: the calibration stored and its fitted efficiencies."""

    calibration_id: int
    prefill_efficiency: float
    decode_efficiency: float


def _model_and_gpu(factory: Factory, model_key: str, gpu_key: str) -> tuple[Any, Any]:
    with session_scope(factory) as session:
        repo = CatalogRepository(session)
        m, g = repo.model(model_key), repo.gpu(gpu_key)
        if m is None or g is None:
            raise ValueError("the model or GPU is no longer in the catalog")
        return architecture_of(m), gpu_spec_of(g)


def _store(factory: Factory, cal: Calibration) -> int:
    with session_scope(factory) as session:
        session.add(cal)
        session.flush()
        return cal.id


@handler("calibration")
def calibration_job(
    factory: Factory, params: dict[str, Any], progress: Progress
) -> CalibrationJobResult:
    arch, gpu = _model_and_gpu(factory, params["model"], params["gpu"])
    res = run_calibration(
        arch,
        gpu,
        prefill_points=[tuple(p) for p in params["prefill_points"]],
        decode_points=[tuple(p) for p in params["decode_points"]],
        max_layers=params.get("max_layers"),
        matmul_n=params.get("matmul_n", 8192),
        copy_gib=params.get("copy_gib", 2.0),
        warmup=params.get("warmup", 3),
        iters=params.get("iters", 10),
        progress=progress,
    )
    cal = Calibration(
        org_id=params["org_id"],
        gpu_key=gpu.key,
        engine=params["engine"],
        source="torch",
        device=res.device,
        torch_version=res.torch_version,
        model_key=params["model"],
        matmul_tflops=res.matmul_tflops,
        bandwidth_tbps=res.bandwidth_tbps,
        prefill_efficiency=res.prefill_efficiency,
        decode_efficiency=res.decode_efficiency,
        error_prefill_pct=res.loo_mape_prefill,
        error_decode_pct=res.loo_mape_decode,
        bound_violations=res.bound_violations,
        details=res.as_dict(),
        created_by=params["created_by"],
    )
    return CalibrationJobResult(
        calibration_id=_store(factory, cal),
        device=res.device,
        prefill_efficiency=res.prefill_efficiency,
        decode_efficiency=res.decode_efficiency,
    )


@handler("vllm_import")
def vllm_import_job(
    factory: Factory, params: dict[str, Any], progress: Progress
) -> VllmImportJobResult:
    arch, gpu = _model_and_gpu(factory, params["model"], params["gpu"])
    summary = parse_bench(params["bench"])
    progress(10, f"fitting to {summary.completed} requests at {summary.request_rate} req/s")
    cfg = ServingConfig(
        n_gpus=params["n_gpus"],
        precision=Precision(params["precision"]),
        kv_cache_precision=Precision(params["kv_cache_precision"]),
    )
    fit = fit_bench(summary, arch, gpu, engine(params["engine"]), cfg)
    err_ttft = 100 * abs(fit.predicted_ttft_ms - summary.median_ttft_ms) / summary.median_ttft_ms
    err_tpot = 100 * abs(fit.predicted_tpot_ms - summary.median_tpot_ms) / summary.median_tpot_ms
    cal = Calibration(
        org_id=params["org_id"],
        gpu_key=gpu.key,
        engine=params["engine"],
        source="vllm-bench",
        device=gpu.name,
        torch_version=None,
        model_key=params["model"],
        matmul_tflops=None,
        bandwidth_tbps=None,
        prefill_efficiency=fit.prefill_efficiency,
        decode_efficiency=fit.decode_efficiency,
        error_prefill_pct=err_ttft,
        error_decode_pct=err_tpot,
        bound_violations=int(fit.decode_efficiency >= 1.0 or fit.prefill_efficiency >= 1.0),
        details={
            "bench": {k: v for k, v in params["bench"].items() if not isinstance(v, list)},
            "mean_input": summary.mean_input,
            "mean_output": summary.mean_output,
            "predicted_ttft_ms": fit.predicted_ttft_ms,
            "predicted_tpot_ms": fit.predicted_tpot_ms,
            "n_gpus": params["n_gpus"],
            "precision": params["precision"],
        },
        created_by=params["created_by"],
    )
    return VllmImportJobResult(
        calibration_id=_store(factory, cal),
        prefill_efficiency=fit.prefill_efficiency,
        decode_efficiency=fit.decode_efficiency,
    )
