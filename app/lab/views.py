"""Scaling-lab pages: compute planner, inference-aware planner, fit your own runs, architecture
lab, conditional-law fit and the architecture search. Handlers turn form fields into the API's
request schemas, call :mod:`app.lab.service` and render; invalid fields come back inline."""

from __future__ import annotations

import csv
import io
import json
import math
from importlib import resources
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, BackgroundTasks, Depends, Request
from fastapi.responses import Response
from pydantic import ValidationError

from app.auth.context import Caller
from app.auth.deps import PageCaller
from app.auth.guards import page_requires
from app.auth.permissions import Permission
from app.catalog.repository import CatalogRepo, CatalogRepository
from app.catalog.service import architecture_of
from app.db import SessionDep
from app.errors import AppError, Conflict, InvalidInput, NotFound
from app.estimates.service import resolve_architecture
from app.estimators.chinchilla import FITS, fit
from app.estimators.engines import ENGINE_NAMES
from app.estimators.errors import FieldError
from app.estimators.precision import WEIGHT_PRECISIONS
from app.jobs import limits
from app.jobs import service as jobs
from app.jobs.deps import JobsRecovered
from app.jobs.models import Job
from app.lab import charts, service
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
    LabWorkload,
    MeasureRequest,
)
from app.scaling import conditional, planner
from app.web.deps import IdPath, SettingsDep
from app.web.forms import FormDep, clean, form_error, parse, plain_message
from app.web.templates import render

router = APIRouter(include_in_schema=False)

FIT_OPTIONS = [
    ("epoch_2024", "Epoch AI 2024 replication"),
    ("hoffmann_tex", "Hoffmann 2022 (TeX values)"),
    ("hoffmann_printed", "Hoffmann 2022 (as printed)"),
    ("sardana_code", "Sardana et al. code"),
]
COEFF_OPTIONS = [(k, f"{k}: {c.source}") for k, c in conditional.PUBLISHED.items()]
MAX_CSV_ROWS = 5000


def _options(repo: CatalogRepository) -> dict[str, Any]:
    return {
        "models": [(m.key, m.name) for m in repo.models()],
        "dense_models": [(m.key, m.name) for m in repo.models() if m.n_experts == 1],
        "gpus": [(g.key, g.name) for g in repo.gpus()],
        "engines": [(e, e) for e in ENGINE_NAMES],
        "precisions": [(p.value, p.value) for p in WEIGHT_PRECISIONS],
        "fits": FIT_OPTIONS,
        "coefficient_sets": COEFF_OPTIONS,
    }


def _values(request: Request, defaults: dict[str, Any]) -> dict[str, Any]:
    return {**defaults, **clean(dict(request.query_params))}


def _page(request: Request, template: str, ctx: dict[str, Any]) -> Response:
    status = 422 if ctx.get("errors") else 200
    return render(request, template, ctx, block="results", status_code=status)


@router.get("/scaling")
def lab_index(request: Request, caller: PageCaller) -> Response:
    return render(request, "lab/index.html", {"caller": caller})


# ---- compute planner -----------------------------------------------------------------------
COMPUTE_DEFAULTS: dict[str, Any] = {
    "basis": "flops",
    "compute_flops": "5.76e23",
    "gpu": "h100_sxm_80gb",
    "n_gpus": 1024,
    "days": 30,
    "mfu": 0.4,
    "model": "llama_3_1_8b",
    "fit": "epoch_2024",
}


def _model_point(catalog: CatalogRepository, values: dict[str, Any]) -> tuple[float, float]:
    m = catalog.model(str(values.get("model")))
    if m is None:
        raise InvalidInput("choose a catalog model", field="model")
    tokens = values.get("tokens") or planner.TRAINED_TOKENS.get(m.key, (None, ""))[0]
    if tokens is None:
        raise InvalidInput(
            f"{m.name}'s training tokens are not published; give them", field="tokens"
        )
    try:
        return float(architecture_of(m).total_params), float(tokens)
    except ValueError:
        raise InvalidInput("tokens must be a number", field="tokens") from None


@router.get("/scaling/compute")
def compute_page(
    request: Request, session: SessionDep, repo: CatalogRepo, caller: PageCaller
) -> Response:
    values = _values(request, COMPUTE_DEFAULTS)
    if values["basis"] == "model" and not values.get("tokens"):
        known = planner.TRAINED_TOKENS.get(str(values.get("model")))
        values["tokens"] = f"{known[0]:g}" if known else ""
    ctx: dict[str, Any] = {"caller": caller, **_options(repo), "values": values, "errors": {}}
    try:
        req = _compute_request(repo, values)
        result = service.chinchilla(session, req)
    except (InvalidInput, FieldError) as exc:
        ctx["errors"] = {(exc.field or "compute_flops").split(".")[-1]: exc.message}
        return _page(request, "lab/compute.html", ctx)
    ctx.update(result=result, **_compute_figures(repo, req, result))
    return _page(request, "lab/compute.html", ctx)


def _compute_request(repo: CatalogRepository, values: dict[str, Any]) -> ChinchillaRequest:
    """The planner's request for the chosen basis (hardware, a catalog model or a budget)."""
    data: dict[str, Any] = {"fit": values.get("fit")}
    if values["basis"] == "hardware":
        data["hardware"] = {k: values.get(k) for k in ("gpu", "n_gpus", "days", "mfu")}
    elif values["basis"] == "model":
        data["params"], data["tokens"] = _model_point(repo, values)
    else:
        data["compute_flops"] = values.get("compute_flops")
    try:
        return ChinchillaRequest.model_validate(data)
    except ValidationError as exc:
        # the field the error is in, the hardware's own (mfu, days) rather than "hardware"
        first = exc.errors()[0]
        loc = [str(p) for p in first.get("loc", ())]
        field = loc[1] if loc[:1] == ["hardware"] and len(loc) > 1 else (loc or ["__all__"])[0]
        raise InvalidInput(
            plain_message(first), field="compute_flops" if field == "__all__" else field
        ) from None


def _compute_figures(
    repo: CatalogRepository, req: ChinchillaRequest, result: ChinchillaResponse
) -> dict[str, Any]:
    """The catalog models' positions and the iso-FLOP and iso-loss charts around the result."""
    f = fit(req.fit)
    c = result.compute_flops
    budgets = [c * k for k in (0.01, 0.1, 1, 10, 100)]
    points = [("optimum", result.optimal_params, result.optimal_tokens)]
    if result.position:
        points.append(("this model", result.position.params, result.position.tokens))
    lo_n = min(p[1] for p in points) / 100
    hi_n = max(p[1] for p in points) * 100
    lo_d = min(p[2] for p in points) / 100
    hi_d = max(p[2] for p in points) * 100
    catalog = [
        (m.name, planner.position(float(architecture_of(m).total_params), known[0], f), known[1])
        for m in repo.models()
        if (known := planner.TRAINED_TOKENS.get(m.key))
    ]
    return {
        "catalog": catalog,
        "figs": {
            "iso_flop": charts.iso_flop(planner.iso_flop_curves(budgets, f), f.name),
            "iso_loss": charts.iso_loss(
                planner.iso_loss_grid(f, (lo_n, hi_n), (lo_d, hi_d)), f.name, points
            ),
        },
    }


# ---- inference-aware -----------------------------------------------------------------------
INFERENCE_DEFAULTS: dict[str, Any] = {
    "loss_from": "model",
    "model": "llama_2_70b",
    "tokens": "2e12",
    "target_loss": 2.0,
    "requests": "1e10",
    "input_tokens_per_request": 70,
    "output_tokens_per_request": 215,
    "fit": "epoch_2024",
    "objective": "flops",
    "train_gpu": "h100_sxm_80gb",
    "inference_gpu": "h100_sxm_80gb",
    "train_precision": "bf16",
    "inference_precision": "bf16",
    "train_mfu": 0.5,
    "prefill_mfu": 0.4,
    "decode_mfu": 0.2,
}
COST_FIELDS = (
    "train_gpu",
    "train_price_per_hour_usd",
    "train_precision",
    "inference_gpu",
    "inference_price_per_hour_usd",
    "inference_precision",
    "train_mfu",
    "prefill_mfu",
    "decode_mfu",
)


@router.get("/scaling/inference-aware")
def inference_aware_page(
    request: Request, session: SessionDep, catalog: CatalogRepo, caller: PageCaller
) -> Response:
    values = _values(request, INFERENCE_DEFAULTS)
    ctx: dict[str, Any] = {"caller": caller, **_options(catalog), "values": values, "errors": {}}
    data: dict[str, Any] = {
        k: values.get(k)
        for k in ("requests", "input_tokens_per_request", "output_tokens_per_request", "fit")
    }
    try:
        if values.get("loss_from") == "model":
            data["params"], data["tokens"] = _model_point(catalog, values)
        else:
            data["target_loss"] = values.get("target_loss")
        if values.get("objective") == "cost":
            data["cost"] = {k: values[k] for k in COST_FIELDS if values.get(k) not in ("", None)}
        req, errors = parse(InferenceAwareRequest, data)
        if errors:
            field, msg = next(iter(errors.items()))
            raise InvalidInput(msg, field="target_loss" if field == "__all__" else field)
        top = max(sum(service.demand_split(req)), 1e9)  # the curve spans the given demand
        demands = np.geomspace(top / 1e4, top * 100, 13).tolist()
        result, rows = service.inference_aware_with_curve(session, req, demands, caller.org_id)
    except (InvalidInput, FieldError) as exc:
        ctx["errors"] = {(exc.field or "target_loss").split(".")[-1]: exc.message}
        return _page(request, "lab/inference_aware.html", ctx)
    ctx.update(result=result, figs={"demand": charts.demand_curve(rows, demands)})
    return _page(request, "lab/inference_aware.html", ctx)


# ---- CSV helpers for the fit pages ---------------------------------------------------------
def _read_csv(text: str, required: tuple[str, ...]) -> list[dict[str, Any]]:
    """Rows of a CSV with a header naming at least ``required``; numbers parsed, errors with
    their line number."""
    if not text.strip():
        raise InvalidInput(
            f"paste your runs (CSV with a header naming {', '.join(required)}, then one run "
            "a line)",
            field="runs_csv",
        )
    reader = csv.DictReader(io.StringIO(text.strip()))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in required if c not in header]
    if missing:
        raise InvalidInput(
            f"the header must name {', '.join(required)}; missing {', '.join(missing)}",
            field="runs_csv",
        )
    rows = []
    for line, row in enumerate(reader, start=2):
        if line - 1 > MAX_CSV_ROWS:
            raise InvalidInput(f"at most {MAX_CSV_ROWS} runs", field="runs_csv")
        out: dict[str, Any] = {}
        for k, v in row.items():
            if k is None or v is None or not v.strip():
                continue
            key = k.strip()
            if key == "scale":
                out[key] = v.strip()
                continue
            try:
                num = float(v)
            except ValueError:
                raise InvalidInput(
                    f"line {line}: {key} = '{v}' is not a number", field="runs_csv"
                ) from None
            if not math.isfinite(num):
                raise InvalidInput(f"line {line}: {key} is not finite", field="runs_csv")
            out[key] = num
        rows.append(out)
    if not rows:
        raise InvalidInput("no runs: paste a header line and one run per line", field="runs_csv")
    return rows


def _sample_chinchilla_csv() -> str:
    return (resources.files("app.scaling") / "data" / "sardana_training_runs.csv").read_text()


def _sample_conditional_csv() -> str:
    """Synthetic runs from bian_task3 at the paper's 80M–1B scales, L_opt from Epoch's fit at
    100 tokens per parameter, with 0.2% noise: labelled as such on the page."""
    ref = FITS["epoch_2024"]
    scales = [(n, ref.loss(n, 100 * n)) for n in (8e7, 1.45e8, 2.97e8, 9.7e8)]
    runs = conditional.synthetic_runs(conditional.PUBLISHED["bian_task3"], scales, per_scale=12)
    lines = ["n_non_embed,d_model,r,loss,reference_loss,scale"]
    for n, x, r, loss, lref, s in zip(
        runs.n_non_embed, runs.x, runs.r, runs.loss, runs.reference_loss, runs.scale, strict=True
    ):
        lines.append(f"{n:.0f},{round(x * math.sqrt(n))},{r:.4f},{loss:.5f},{lref:.5f},{s}")
    return "\n".join(lines)


# ---- fit your own runs ---------------------------------------------------------------------
@router.get("/scaling/fit")
def fit_page(request: Request, session: SessionDep, caller: PageCaller) -> Response:
    values = {
        "runs_csv": _sample_chinchilla_csv() if request.query_params.get("sample") else "",
        "bootstrap": 50,
    }
    return render(request, "lab/fit.html", {"caller": caller, "values": values, "errors": {}})


@router.post("/scaling/fit")
def fit_submit(
    request: Request,
    values: FormDep,
    session: SessionDep,
    caller: Annotated[Caller, Depends(page_requires(Permission.estimate_run))],
    settings: SettingsDep,
    background: BackgroundTasks,
) -> Response:
    """Fit inline (a threadpool thread) up to the inline limit, else start a job and show its
    progress where the results will appear."""
    ctx: dict[str, Any] = {"caller": caller, "values": values, "errors": {}}
    try:
        rows = _read_csv(str(values.get("runs_csv", "")), ("params", "tokens", "loss"))
        runs = [{k: r[k] for k in ("params", "tokens", "loss") if k in r} for r in rows]
        data = {"runs": runs, "bootstrap": values.get("bootstrap") or 0}
        req, errors = parse(ChinchillaFitRequest, data)
        if errors:
            field, msg = next(iter(errors.items()))
            raise InvalidInput(msg, field="bootstrap" if field == "bootstrap" else "runs_csv")
        est = service.plan_fit(req)
        if est.as_job:
            job = service.start_fit_job(session, caller, "chinchilla_fit", req, est)
            return _job_started(request, "lab/fit.html", ctx, job, settings, background)
        result = service.fit_runs(req)
    except (InvalidInput, FieldError) as exc:
        ctx["errors"] = {exc.field if exc.field == "bootstrap" else "runs_csv": exc.message}
        return render(request, "lab/fit.html", ctx, block="results", status_code=422)
    except Conflict as exc:
        ctx["errors"] = {"bootstrap": exc.message}
        return render(request, "lab/fit.html", ctx, block="results", status_code=409)
    ctx.update(_fit_results(result))
    return render(request, "lab/fit.html", ctx, block="results")


def _fit_results(result: ChinchillaFitResponse | ConditionalFitResponse) -> dict[str, Any]:
    return {
        "result": result,
        "fig": charts.predicted_vs_observed(result.predicted, result.observed),
    }


def _job_started(
    request: Request,
    template: str,
    ctx: dict[str, Any],
    job: Job,
    settings: SettingsDep,
    background: BackgroundTasks,
) -> Response:
    background.add_task(jobs.submit, job.id, settings, request.app.state.job_runner)
    ctx["job"] = job
    return render(request, template, ctx, block="results", status_code=202)


FitResponse = type[ChinchillaFitResponse] | type[ConditionalFitResponse]
FIT_TEMPLATES: dict[str, tuple[str, FitResponse]] = {
    "chinchilla_fit": ("lab/fit.html", ChinchillaFitResponse),
    "conditional_fit": ("lab/conditional.html", ConditionalFitResponse),
}


@router.get("/scaling/jobs/{fit_job_id:int}")
def fit_job(
    fit_job_id: IdPath,
    request: Request,
    session: SessionDep,
    caller: PageCaller,
    _recovered: JobsRecovered,
) -> Response:
    """The results block of a fit job's page: its progress while it runs, the fit when done."""
    job = jobs.get(session, fit_job_id, caller.org_id)
    if job.kind not in FIT_TEMPLATES:
        raise NotFound("no such fit job")
    template, schema = FIT_TEMPLATES[job.kind]
    ctx: dict[str, Any] = {"caller": caller, "values": {}, "errors": {}, "fits": FIT_OPTIONS}
    if job.status == "succeeded" and job.result is not None:
        ctx.update(_fit_results(schema.model_validate(job.result)))
    elif job.status == "failed":
        ctx["errors"] = {"runs_csv": f"job {job.id} failed: {job.error}"}
    else:
        ctx["job"] = job
    return render(request, template, ctx, block="results")


# ---- conditional-law fit -------------------------------------------------------------------
@router.get("/scaling/conditional-fit")
def conditional_page(request: Request, caller: PageCaller) -> Response:
    values = {
        "runs_csv": _sample_conditional_csv() if request.query_params.get("sample") else "",
        "form": "multiplicative",
        "reference_fit": "epoch_2024",
    }
    ctx = {"caller": caller, "values": values, "errors": {}, "fits": FIT_OPTIONS}
    return render(request, "lab/conditional.html", ctx)


@router.post("/scaling/conditional-fit")
def conditional_submit(
    request: Request,
    values: FormDep,
    session: SessionDep,
    caller: Annotated[Caller, Depends(page_requires(Permission.estimate_run))],
    settings: SettingsDep,
    background: BackgroundTasks,
) -> Response:
    ctx: dict[str, Any] = {"caller": caller, "values": values, "errors": {}, "fits": FIT_OPTIONS}
    fields = ("n_non_embed", "d_model", "r", "loss", "reference_loss", "tokens", "scale")
    try:
        rows = _read_csv(str(values.get("runs_csv", "")), ("n_non_embed", "d_model", "r", "loss"))
        runs = [{k: r[k] for k in fields if k in r} for r in rows]
        for run in runs:
            if "d_model" in run:
                run["d_model"] = round(run["d_model"])
        req, errors = parse(
            ConditionalFitRequest,
            {
                "runs": runs,
                "form": values.get("form") or "multiplicative",
                "reference_fit": values.get("reference_fit") or "epoch_2024",
            },
        )
        if errors:
            field, msg = next(iter(errors.items()))
            raise InvalidInput(msg, field=field if field in ("form", "reference_fit") else None)
        est = service.plan_conditional(req)
        if est.as_job:
            job = service.start_fit_job(session, caller, "conditional_fit", req, est)
            return _job_started(request, "lab/conditional.html", ctx, job, settings, background)
        result = service.fit_conditional_law(req)
    except (InvalidInput, FieldError) as exc:
        field = exc.field if exc.field in ("form", "reference_fit") else "runs_csv"
        where = f" ({exc.field})" if exc.field not in (None, field) and field == "runs_csv" else ""
        ctx["errors"] = {field: exc.message + where}
        return render(request, "lab/conditional.html", ctx, block="results", status_code=422)
    except Conflict as exc:
        ctx["errors"] = {"runs_csv": exc.message}
        return render(request, "lab/conditional.html", ctx, block="results", status_code=409)
    ctx.update(_fit_results(result))
    return render(request, "lab/conditional.html", ctx, block="results")


# ---- architecture lab ----------------------------------------------------------------------
ARCH_DEFAULTS: dict[str, Any] = {
    "model": "llama_3_2_1b",
    "coefficients": "bian_task3",
    "gpu": "a100_sxm_80gb",
    "engine": "vllm",
    "input_tokens": 4096,
    "output_tokens": 1024,
    "budget": "hold",
}
MAX_GQA_OPTION = 16


@router.get("/scaling/architecture")
def architecture_page(
    request: Request, session: SessionDep, catalog: CatalogRepo, caller: PageCaller
) -> Response:
    values = _values(request, ARCH_DEFAULTS)
    if values.get("base") and values.get("base") != values.get("model"):
        for k in ("d_model", "r", "gqa"):  # a new model starts from its own shape
            values.pop(k, None)
    ctx: dict[str, Any] = {"caller": caller, **_options(catalog), "values": values, "errors": {}}
    data: dict[str, Any] = {
        "model": values.get("model"),
        "coefficients": values.get("coefficients"),
        **{k: values[k] for k in ("d_model", "r", "gqa") if k in values},
        "hold_params": values.get("budget") != "free",
        "workload": {k: values.get(k) for k in ("gpu", "engine", "input_tokens", "output_tokens")},
    }
    req, errors = parse(ArchitectureRequest, data)
    if "workload" in errors:  # name the workload's own field (input_tokens, …), as the page does
        errors = parse(LabWorkload, data["workload"])[1] or errors
    try:
        if errors:
            field, msg = next(iter(errors.items()))
            raise InvalidInput(msg, field=field)
        result = service.analyse_architecture(session, req, caller.org_id)
        base = service.analyse_architecture(
            session,
            ArchitectureRequest(
                model=req.model, coefficients=req.coefficients, workload=req.workload
            ),
            caller.org_id,
        )
    except (InvalidInput, FieldError) as exc:
        ctx["errors"] = {(exc.field or "model").split(".")[-1]: exc.message}
        ctx.update(_unchanged_sliders(session, data, caller.org_id))
        return _page(request, "lab/architecture.html", ctx)
    ctx.update(_architecture_view(req, result, base))
    return _page(request, "lab/architecture.html", ctx)


def _unchanged_sliders(session: SessionDep, data: dict[str, Any], org_id: int) -> dict[str, Any]:
    """After a refused slider value (d_model=abc, 65), the sliders at the model's own shape, so
    the page keeps them; nothing when the model or the workload itself is what was refused."""
    plain = {k: v for k, v in data.items() if k not in ("d_model", "r", "gqa")}
    req, errors = parse(ArchitectureRequest, plain)
    if errors or req is None:
        return {}
    try:
        base = service.analyse_architecture(session, req, org_id)
    except (InvalidInput, FieldError):
        return {}
    view = _architecture_view(req, base, base)
    return {"sliders": base, "gqa_options": view["gqa_options"], "d_range": view["d_range"]}


def _architecture_view(
    req: ArchitectureRequest, result: ArchitectureResponse, base: ArchitectureResponse
) -> dict[str, Any]:
    """The analysis beside the unchanged model, the sliders' ranges and the multiplier chart."""
    coeffs = service.coefficients_of(req.coefficients)
    a = result.architecture
    step = int(base.architecture["d_head"])
    return {
        "result": result,
        "base": base,
        "gqa_options": list(range(1, MAX_GQA_OPTION + 1))
        if req.hold_params
        else [g for g in range(1, a["n_heads"] + 1) if a["n_heads"] % g == 0],
        "d_range": (  # in steps of d_head: d_model is a multiple of the head size
            max(step, base.architecture["d_model"] // 2 // step * step),
            base.architecture["d_model"] * 2,
            step,
        ),
        "figs": {
            "multiplier": charts.multiplier_curves(
                coeffs, result.x, result.r, result.reference_loss
            )
        },
    }


# ---- architecture search -------------------------------------------------------------------
SEARCH_DEFAULTS: dict[str, Any] = {
    "baseline": "llama_3_2_1b",
    "coefficients": "bian_task3",
    "gpu": "a100_sxm_80gb",
    "engine": "vllm",
    "input_tokens": 4096,
    "output_tokens": 1024,
    "tolerance": 0.02,
    "max_gqa": 16,
}


@router.get("/scaling/search")
def search_page(
    request: Request, session: SessionDep, catalog: CatalogRepo, caller: PageCaller
) -> Response:
    values = _values(request, SEARCH_DEFAULTS)
    ctx: dict[str, Any] = {"caller": caller, **_options(catalog), "values": values, "errors": {}}
    try:
        base = resolve_architecture(session, str(values.get("baseline")))
    except (InvalidInput, FieldError) as exc:
        ctx["errors"] = {"baseline": exc.message}
        return _page(request, "lab/search.html", ctx)
    req, errors = _search_request(values, base)
    try:
        if errors:
            field, msg = next(iter(errors.items()))
            raise InvalidInput(msg, field=field)
        result, sample = service.search_with_chart(session, req, caller.org_id)
    except (InvalidInput, FieldError) as exc:
        ctx["errors"] = {(exc.field or "n_non_embed").split(".")[-1]: exc.message}
        return _page(request, "lab/search.html", ctx)
    marked, designs = _search_designs(req, result, base)
    ctx.update(
        result=result,
        figs={
            "scatter": charts.search_scatter(
                sample, result.model_dump()["pareto"], marked, result.loss_target
            )
        },
        measure={
            "designs": json.dumps(designs),
            "gpu": req.workload.gpu,
            "engine": req.workload.engine,
        },
    )
    return _page(request, "lab/search.html", ctx)


def _hundred_times(n: Any) -> Any:
    """The default training tokens, 100 per non-embedding parameter; what was typed as it is when
    it is no number (the request's validation then names n_non_embed, not a 500)."""
    try:
        return 100 * float(n)
    except (TypeError, ValueError):
        return n


def _search_request(values: dict[str, Any], base: Any) -> tuple[Any, dict[str, str]]:
    """The search request, the baseline's shape filling what the form leaves out."""
    n = values.get("n_non_embed") or base.non_embedding_params
    data: dict[str, Any] = {
        "n_non_embed": n,
        "n_layers": values.get("n_layers") or base.n_layers,
        "d_head": values.get("d_head") or base.d_head,
        "training_tokens": values.get("training_tokens") or _hundred_times(n),
        "coefficients": values.get("coefficients"),
        "baseline": values.get("baseline"),
        "vocab": base.vocab,
        "tied_embeddings": base.tied_embeddings,
        **{k: values[k] for k in ("loss_target", "tolerance", "max_gqa") if k in values},
        "workload": {k: values.get(k) for k in ("gpu", "engine", "input_tokens", "output_tokens")},
    }
    values.setdefault("n_non_embed", n)
    return parse(ArchitectureSearchRequest, data)


def _search_designs(
    req: ArchitectureSearchRequest, result: ArchitectureSearchResponse, base: Any
) -> tuple[list[tuple[str, Any]], list[dict[str, Any]]]:
    """The marked points (baseline, loss- and throughput-optimal) and the shortlist to measure."""
    dump = result.model_dump()
    marked = [
        ("baseline", dump["baseline"]),
        ("loss-optimal", dump["loss_optimal"]),
        ("throughput-optimal", dump["throughput_optimal"]),
    ]
    designs = [
        {
            "label": label,
            "architecture": {
                "n_layers": req.n_layers,
                "d_head": req.d_head,
                "vocab": req.vocab,
                "tied_embeddings": req.tied_embeddings,
                **{k: d[k] for k in ("d_model", "d_ff", "n_heads", "n_kv_heads")},
            },
        }
        for label, d in marked
        if d is not None
    ]
    if dump["baseline"] is not None:  # the baseline as published, not re-derived
        designs[0]["architecture"] = {**base.as_dict()}
    return marked, designs


@router.post("/scaling/search/measure")
def measure_designs(
    request: Request,
    values: FormDep,
    session: SessionDep,
    caller: Annotated[Caller, Depends(page_requires(Permission.torch_run))],
    settings: SettingsDep,
    background: BackgroundTasks,
) -> Response:
    errors: dict[str, str] = {}
    status = 422
    job = None
    try:
        designs = json.loads(str(values.get("designs", "")))
    except json.JSONDecodeError:
        designs = None
        errors["designs"] = "the shortlist is not valid JSON; run the search again"
    if designs is not None:
        data = {
            "designs": designs,
            **{k: values[k] for k in ("gpu", "engine", "batch", "context") if values.get(k)},
        }
        req, errors = parse(MeasureRequest, data)
        if req is not None:
            try:
                job = service.start_measurement(
                    session,
                    caller,
                    req,
                    settings.audit_hmac_key,
                    torch_memory_limit=limits.torch_memory_limit_bytes(settings.torch_memory_gib),
                )
            except (AppError, FieldError) as exc:
                field, message, status = form_error(exc, default="designs")
                errors = {field: message}
    if job is not None:
        background.add_task(jobs.submit, job.id, settings, request.app.state.job_runner)
    ctx = {"caller": caller, "job": job, "errors": errors}
    return render(request, "lab/_measure.html", ctx, status_code=status if errors else 202)
