"""Estimator pages: serving (live htmx form), GPU comparison, training and fine-tuning,
calibrations with job polling. Handlers parse, call the service and render."""

from __future__ import annotations

import json
import math
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Depends, Request
from fastapi.responses import Response

from app.auth.context import Caller
from app.auth.deps import PageCaller
from app.auth.guards import page_requires
from app.auth.permissions import Permission
from app.catalog.repository import CatalogRepo, CatalogRepository
from app.db import SessionDep
from app.errors import AppError, InvalidInput
from app.estimates import calibrations, charts, service
from app.estimates.schemas import (
    CalibrationRunRequest,
    CompareGpusRequest,
    FinetuneRequest,
    InferenceRequest,
    TrainingRequest,
    VllmImportRequest,
)
from app.estimators.engines import ENGINE_NAMES
from app.estimators.errors import FieldError
from app.estimators.precision import KV_PRECISIONS, WEIGHT_PRECISIONS
from app.estimators.training import zero_stage_effect
from app.estimators.vllm_bench import BenchFileError, parse_bench
from app.jobs import limits
from app.jobs import service as jobs
from app.jobs.deps import JobsRecovered
from app.web.deps import IdPath, SettingsDep
from app.web.forms import FormDep, clean, form_error, parse
from app.web.templates import render

router = APIRouter(include_in_schema=False)

INFERENCE_DEFAULTS: dict[str, Any] = {
    "model": "llama_3_1_8b",
    "gpu": "h100_sxm_80gb",
    "n_gpus": 1,
    "precision": "bf16",
    "kv_cache_precision": "bf16",
    "engine": "vllm",
    "input_tokens": 1024,
    "output_tokens": 256,
    "batch_size": 16,
    "requests_per_day": 1_000_000,
    "ttft_slo_ms": 1000,
    "tpot_slo_ms": 50,
}
# No "mfu": a blank MFU means the modelled one (app.estimators.training_mfu).
TRAINING_DEFAULTS: dict[str, Any] = {
    "model": "llama_3_1_8b",
    "tokens": 15_000_000_000_000,  # an int: the form shows 15000000000000, not 1.5e13 as a float
    "gpu": "h100_sxm_80gb",
    "n_gpus": 1024,
    "fit": "epoch_2024",
}
FINETUNE_DEFAULTS: dict[str, Any] = {
    "model": "llama_3_1_8b",
    "method": "qlora",
    "lora_rank": 16,
    "sequence_length": 2048,
    "micro_batch_size": 1,
    "gpu": "a100_sxm_80gb",
    "n_gpus": 1,
    "gradient_checkpointing": "on",
    "dataset_tokens": 100_000_000,  # an int, shown in plain notation
    "epochs": 3,
}


def _options(repo: CatalogRepository) -> dict[str, Any]:
    return {
        "models": [(m.key, m.name) for m in repo.models()],
        "gpus": [(g.key, g.name) for g in repo.gpus()],
        "engines": [(e, e) for e in ENGINE_NAMES],
        "precisions": [(p.value, p.value) for p in WEIGHT_PRECISIONS],
        "kv_precisions": [(p.value, p.value) for p in KV_PRECISIONS],
    }


def _inference_values(request: Request) -> dict[str, Any]:
    q = dict(request.query_params)
    values = {**INFERENCE_DEFAULTS, **clean(q)} if q else dict(INFERENCE_DEFAULTS)
    return values


def _inference_request(values: dict[str, Any]) -> tuple[InferenceRequest | None, dict[str, str]]:
    data = {k: v for k, v in values.items() if k in InferenceRequest.model_fields}
    if values.get("spec_alpha") not in (None, ""):
        data["speculative"] = {
            "alpha": values.get("spec_alpha"),
            "gamma": values.get("spec_gamma") or 4,
            "c": values.get("spec_c") or 0.05,
        }
    if data.get("paged_attention") in ("on", "off"):
        data["paged_attention"] = data["paged_attention"] == "on"
    else:
        data.pop("paged_attention", None)
    req, errors = parse(InferenceRequest, data)
    if "speculative" in errors:
        errors["spec_alpha"] = errors.pop("speculative")
    return req, errors


def _inference_context(
    session: SessionDep, caller: PageCaller, values: dict[str, Any]
) -> dict[str, Any]:
    req, errors = _inference_request(values)
    ctx: dict[str, Any] = {"values": values, "errors": errors, "result": None}
    if req is None:
        return ctx
    try:
        result = service.inference(session, req, caller.org_id)
        fits = result.memory.fits
        # Latency, throughput and cost of a configuration that does not fit mean nothing: no
        # sweeps for it; the GPU comparison still says which GPUs would serve the workload.
        sw = service.sweeps(session, req, caller.org_id) if fits else None
        compare = service.compare_gpus(
            session,
            CompareGpusRequest(**req.model_dump(exclude={"gpu"})),
            caller.org_id,
        )
    except (InvalidInput, FieldError) as exc:
        ctx["errors"] = {exc.field or "__all__": str(exc)}
        return ctx
    m = result.memory
    figs: dict[str, Any] = {
        "memory": charts.memory_bar(
            {
                "weights": m.weights_gb,
                "KV cache (this batch)": m.kv_cache_gb,
                "activations": m.activations_gb,
                "runtime": m.overhead_gb,
            },
            m.usable_gb,
            f"usable ({m.usable_gb:.1f} GB)",
        ),
    }
    costs = [o.cost_per_million_output_tokens_usd if o.fits else None for o in compare.options]
    if any(c is not None for c in costs):
        figs["cost"] = charts.cost_by_gpu([o.name for o in compare.options], costs)
    if sw is not None:
        b, t = sw.batch, sw.ttft
        figs["batch"] = charts.batch_sweep(
            b.batches, b.throughput, b.throughput_best, b.tpot, b.tpot_best
        )
        figs["ttft"] = charts.ttft_sweep(t.inputs, t.ttft, t.best)
    load = sw.load if sw is not None else None
    if load is not None:
        figs["load"] = charts.latency_vs_rate(
            load.rates, load.series, {"ttft": req.ttft_slo_ms, "tpot": req.tpot_slo_ms}
        )
    ctx.update(result=result, figs=figs, compare=compare, load=load)
    if isinstance(req.gpu, str):  # the effective price and where it comes from
        ctx["gpu_price"] = service.gpu_price(session, caller.org_id, req.gpu)
    return ctx


@router.get("/estimates")
def estimator_page(
    request: Request, session: SessionDep, catalog: CatalogRepo, caller: PageCaller
) -> Response:
    values = _inference_values(request)
    ctx = {"caller": caller, **_options(catalog), **_inference_context(session, caller, values)}
    status = 422 if ctx["errors"] else 200
    return render(request, "estimates/inference.html", ctx, block="results", status_code=status)


@router.get("/estimates/compare")
def compare_page(
    request: Request, session: SessionDep, catalog: CatalogRepo, caller: PageCaller
) -> Response:
    values = _inference_values(request)
    req, errors = _inference_request(values)
    compare = None
    if req is not None:
        try:
            compare = service.compare_gpus(
                session,
                CompareGpusRequest(**req.model_dump(exclude={"gpu"})),
                caller.org_id,
            )
        except (InvalidInput, FieldError) as exc:
            errors = {exc.field or "__all__": str(exc)}
    return render(
        request,
        "estimates/compare.html",
        {
            "caller": caller,
            "values": values,
            "errors": errors,
            "compare": compare,
            "query": request.url.query,
            **_options(catalog),
        },
        status_code=422 if errors else 200,
    )


FINETUNE_WHOLE_NUMBERS = ("lora_rank", "sequence_length", "micro_batch_size", "n_gpus")


def _whole_number(raw: Any) -> tuple[Any, str | None]:
    """A whole-number field as typed: "1e9" is the number 1,000,000,000 (then checked against
    its maximum), "2.5", "inf" and "nan" are no whole number; anything else as it is."""
    if not isinstance(raw, str):
        return raw, None
    try:
        x = float(raw.strip().replace(",", ""))
    except ValueError:
        return raw, None  # no number at all: the schema says "enter a number"
    if not math.isfinite(x) or not x.is_integer():
        return raw, "enter a whole number"
    return int(x), None


def _finetune_fields(ft_values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The fine-tune form as the API's request, and the errors found reading it: target
    modules split on commas with spaces trimmed (an empty entry is an error), whole numbers."""
    fv = {k: v for k, v in ft_values.items() if k in FinetuneRequest.model_fields}
    fv["gradient_checkpointing"] = ft_values.get("gradient_checkpointing") == "on"
    errors: dict[str, str] = {}
    if isinstance(ft_values.get("target_modules"), str):
        names = [t.strip() for t in ft_values["target_modules"].split(",")]
        if "" in names:
            where = (
                "a trailing comma"
                if "" not in names[:-1]
                else "a leading comma"
                if "" not in names[1:]
                else "an empty entry between commas"
            )
            errors["target_modules"] = f"{where}: list the modules once each, e.g. q_proj, v_proj"
        fv["target_modules"] = [t for t in names if t]
    for name in FINETUNE_WHOLE_NUMBERS:
        if name in fv:
            fv[name], error = _whole_number(fv[name])
            if error:
                errors[name] = error
    return fv, errors


@router.get("/estimates/training")
def training_page(
    request: Request, session: SessionDep, catalog: CatalogRepo, caller: PageCaller
) -> Response:
    q = clean(dict(request.query_params))
    form = q.pop("form", None)
    train_values = {**TRAINING_DEFAULTS, **(q if form == "training" else {})}
    ft_values = {**FINETUNE_DEFAULTS, **(q if form == "finetune" else {})}
    ctx: dict[str, Any] = {
        "caller": caller,
        **_options(catalog),
        "train_values": train_values,
        "ft_values": ft_values,
        "train_errors": {},
        "ft_errors": {},
        "zero_effect": zero_stage_effect(),
    }
    tv = {k: v for k, v in train_values.items() if k in TrainingRequest.model_fields}
    if "params" in tv:
        tv.pop("model", None)
    treq, ctx["train_errors"] = parse(TrainingRequest, tv)
    if treq is not None:
        try:
            ctx["training"] = service.training(session, treq, caller.org_id)
        except (InvalidInput, FieldError) as exc:
            ctx["train_errors"] = {exc.field or "__all__": str(exc)}
    fv, ft_typed_errors = _finetune_fields(ft_values)
    freq, ctx["ft_errors"] = parse(FinetuneRequest, fv)
    if ft_typed_errors:
        freq, ctx["ft_errors"] = None, {**ctx["ft_errors"], **ft_typed_errors}
    if freq is not None:
        try:
            ft = service.finetune(session, freq, caller.org_id)
            ctx["finetune"] = ft
            mem = ft.memory
            ctx["ft_fig"] = charts.training_memory(
                {
                    "weights": mem.weights_gb,
                    "adapters": mem.adapters_gb,
                    "gradients": mem.gradients_gb,
                    "optimizer": mem.optimizer_gb,
                    "activations": mem.activations_gb,
                    "runtime": mem.overhead_gb,
                },
                mem.capacity_gb,
            )
        except (InvalidInput, FieldError) as exc:
            ctx["ft_errors"] = {exc.field or "__all__": str(exc)}
    bad = ctx["train_errors"] or ctx["ft_errors"]
    return render(request, "estimates/training.html", ctx, status_code=422 if bad else 200)


# --- calibrations ---------------------------------------------------------------------------


def _calibration_ctx(
    session: SessionDep, catalog: CatalogRepository, caller: PageCaller
) -> dict[str, Any]:
    return {
        "caller": caller,
        "calibrations": calibrations.list_for(session, caller.org_id),
        "jobs": jobs.recent(session, caller.org_id),
        **_options(catalog),
    }


@router.get("/calibrations")
def calibrations_page(
    request: Request,
    session: SessionDep,
    catalog: CatalogRepo,
    caller: PageCaller,
    _recovered: JobsRecovered,
) -> Response:
    ctx = {**_calibration_ctx(session, catalog, caller), "values": {}, "errors": {}, "job": None}
    return render(request, "estimates/calibrations.html", ctx)


def _start_from_form(
    request: Request,
    values: dict[str, Any],
    session: SessionDep,
    catalog: CatalogRepository,
    caller: Caller,
    settings: SettingsDep,
    background: BackgroundTasks,
    kind: str,
) -> Response:
    """Start a calibration or a vllm import (the routes check calibration:run, and torch:run for
    a calibration)."""
    errors: dict[str, str] = {}
    status: int | None = None
    params: dict[str, Any] | None = None
    if kind == "calibration":
        data = {k: v for k, v in values.items() if k in ("model", "gpu", "engine") and v}
        if values.get("max_layers"):
            data["max_layers"] = values["max_layers"]
        parsed, errors = parse(CalibrationRunRequest, data)
        params = parsed.model_dump(mode="json") if parsed else None
    else:
        raw = values.get("bench_file")
        try:
            bench = json.loads(raw) if isinstance(raw, str) and raw.strip() else None
            parse_bench(bench)
        except (json.JSONDecodeError, RecursionError, BenchFileError) as exc:
            errors["bench_file"] = f"not a vllm bench serve result: {exc}"
            bench = None
        data = {
            k: v
            for k, v in values.items()
            if k in VllmImportRequest.model_fields and v and k != "bench"
        }
        parsed, more = parse(VllmImportRequest, {**data, "bench": bench or {}})
        errors.update({k: v for k, v in more.items() if k != "bench" or not errors})
        params = parsed.model_dump(mode="json") if parsed and not errors else None
    job = None
    if params is not None and not errors:
        try:
            job = calibrations.start(
                session,
                caller,
                kind,
                params,
                settings.audit_hmac_key,
                torch_memory_limit=limits.torch_memory_limit_bytes(settings.torch_memory_gib),
            )
        except (AppError, FieldError) as exc:
            field, message, status = form_error(exc)
            errors = {field: message}
    if job is not None:
        background.add_task(jobs.submit, job.id, settings, request.app.state.job_runner)
    ctx = {
        **_calibration_ctx(session, catalog, caller),
        "values": {k: v for k, v in values.items() if isinstance(v, str)},
        "errors": errors,
        "job": job,
        "form": kind,
    }
    return render(
        request,
        "estimates/calibrations.html",
        ctx,
        block="forms",
        status_code=(status or 422) if errors else 202,
    )


@router.post("/calibrations/run")
def start_calibration(
    request: Request,
    values: FormDep,
    session: SessionDep,
    catalog: CatalogRepo,
    caller: Annotated[
        Caller, Depends(page_requires(Permission.calibration_run, Permission.torch_run))
    ],
    settings: SettingsDep,
    background: BackgroundTasks,
) -> Response:
    return _start_from_form(
        request, values, session, catalog, caller, settings, background, "calibration"
    )


@router.post("/calibrations/import")
def start_import(
    request: Request,
    values: FormDep,
    session: SessionDep,
    catalog: CatalogRepo,
    caller: Annotated[Caller, Depends(page_requires(Permission.calibration_run))],
    settings: SettingsDep,
    background: BackgroundTasks,
) -> Response:
    return _start_from_form(
        request, values, session, catalog, caller, settings, background, "vllm_import"
    )


@router.get("/calibrations/jobs/{job_id:int}")
def job_status(
    job_id: IdPath,
    request: Request,
    session: SessionDep,
    caller: PageCaller,
    _recovered: JobsRecovered,
) -> Response:
    job = jobs.get(session, job_id, caller.org_id)
    return render(request, "estimates/_job.html", {"caller": caller, "job": job})
