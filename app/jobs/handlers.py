"""The job kinds: a torch calibration on this machine's accelerator and a vLLM benchmark import
(both store a :class:`~app.estimates.models.Calibration` that the organisation's estimates for that
GPU and engine then use), the scaling lab's decode measurement of shortlisted designs, its fits
over the inline limit (app/jobs/limits.py), and PDF reports over the inline limit.
"""

from __future__ import annotations

import base64
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from app.catalog.repository import CatalogRepository
from app.catalog.service import architecture_of, gpu_spec_of
from app.db import session_scope
from app.estimates.models import Calibration
from app.estimators.architecture import Architecture
from app.estimators.calibration import measure_decode, run_calibration
from app.estimators.engines import engine
from app.estimators.inference import ServingConfig, StepModel
from app.estimators.precision import Precision
from app.estimators.vllm_bench import fit_bench, parse_bench
from app.jobs.service import Progress, handler, run_settings

Factory = sessionmaker[Session]


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
def calibration_job(factory: Factory, params: dict[str, Any], progress: Progress) -> dict[str, Any]:
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
    return {"calibration_id": _store(factory, cal), "device": res.device,
            "prefill_efficiency": res.prefill_efficiency,
            "decode_efficiency": res.decode_efficiency}  # fmt: skip


@handler("vllm_import")
def vllm_import_job(factory: Factory, params: dict[str, Any], progress: Progress) -> dict[str, Any]:
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
    return {"calibration_id": _store(factory, cal), "prefill_efficiency": fit.prefill_efficiency,
            "decode_efficiency": fit.decode_efficiency}  # fmt: skip


@handler("design_measure")
def design_measure_job(
    factory: Factory, params: dict[str, Any], progress: Progress
) -> dict[str, Any]:
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
    res = measure_decode(archs, batch=batch, context=ctx, max_layers=params.get("max_layers", 2),
                         progress=progress)  # fmt: skip
    eng = engine(params.get("engine", "vllm"))
    predicted = [
        StepModel.build(a, gpu, eng, ServingConfig()).decode(batch, ctx).time_s * 1e3 for a in archs
    ]
    rows = [
        {"label": label, "measured_step_ms": m, "measured_tokens_per_s": batch / m * 1e3,
         "measured_speedup": res.step_ms[0] / m, "predicted_step_ms": p,
         "predicted_speedup": predicted[0] / p, "layers_measured": n}
        for label, m, p, n in zip(labels, res.step_ms, predicted, res.layers_measured, strict=True)
    ]  # fmt: skip
    return {"device": res.device, "dtype": res.dtype, "torch_version": res.torch_version,
            "batch": batch, "context": ctx, "gpu": gpu.name, "designs": rows,
            "notes": res.notes}  # fmt: skip


@handler("chinchilla_fit")
def chinchilla_fit_job(
    factory: Factory, params: dict[str, Any], progress: Progress
) -> dict[str, Any]:
    """A Chinchilla fit of the scaling lab over the inline limit (the result is the API's)."""
    from app.lab import service
    from app.lab.schemas import ChinchillaFitRequest

    req = ChinchillaFitRequest.model_validate(params["request"])
    return service.fit_runs(req, progress).model_dump(mode="json")


@handler("conditional_fit")
def conditional_fit_job(
    factory: Factory, params: dict[str, Any], progress: Progress
) -> dict[str, Any]:
    """A conditional-law fit with its progressive check, over the inline limit."""
    from app.lab import service
    from app.lab.schemas import ConditionalFitRequest

    req = ConditionalFitRequest.model_validate(params["request"])
    return service.fit_conditional_law(req, progress).model_dump(mode="json")


@handler("report_pdf")
def report_pdf_job(factory: Factory, params: dict[str, Any], progress: Progress) -> dict[str, Any]:
    """The PDF audit report of a large deployment, generated and signed exactly as the inline
    download is (``reports_api.export``), as the user who asked (their role re-checked now).
    The file is kept in the result (base64) for ``GET /api/v1/jobs/{id}/download``."""
    from app.auth.context import Caller
    from app.auth.permissions import Role
    from app.auth.repository import AuthRepository
    from app.governance.reports_api import export

    progress(5, f"building and rendering the PDF ({params['results']} evaluation results, "
                f"about {params['estimated_cpu_s']:.0f} CPU seconds)")  # fmt: skip
    with session_scope(factory) as session:
        users = AuthRepository(session)
        user = users.user(params["user_id"])
        if user is None or not user.is_active or user.org_id != params["org_id"]:
            raise ValueError("the user who asked for this report can no longer export it")
        org = users.org(user.org_id)
        assert org is not None  # users.org_id is a foreign key
        caller = Caller(user_id=user.id, email=user.email, org_id=user.org_id, org_name=org.name,
                        role=Role(user.role), token_id=0)  # fmt: skip
        resp = export(session, caller, run_settings(), params["deployment_id"], "pdf")
    body = bytes(resp.body)
    disposition = resp.headers.get("content-disposition", "")
    filename = disposition.partition('filename="')[2].rstrip('"') or "axisboard-report.pdf"
    return {"deployment_id": params["deployment_id"], "filename": filename,
            "media_type": "application/pdf", "size_bytes": len(body),
            "content_b64": base64.b64encode(body).decode()}  # fmt: skip


@handler("portfolio_search")
def portfolio_search_job(
    factory: Factory, params: dict[str, Any], progress: Progress
) -> dict[str, Any]:
    """A portfolio search over the inline limit (the result is the API's 200 body)."""
    from app.portfolios.search_service import run_job

    return run_job(factory, params, progress)


@handler("portfolio_search_part")
def portfolio_search_part_job(
    factory: Factory, params: dict[str, Any], progress: Progress
) -> dict[str, Any]:
    """One part of a split portfolio search: a range of its serving states."""
    from app.portfolios.search_service import run_part

    return run_part(factory, params, progress)
