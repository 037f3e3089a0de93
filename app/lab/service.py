"""Scaling lab: resolve catalog keys and fit names into the pure :mod:`app.scaling` inputs, run
them, and shape the results. Input errors of the numerics become 422s naming the field."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, replace
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict
from sqlalchemy.orm import Session

from app.audit import service as audit
from app.auth.context import Caller
from app.errors import InvalidInput
from app.estimates import calibrations
from app.estimates.service import resolve_architecture, resolve_gpu
from app.estimators.architecture import Architecture
from app.estimators.calibration import decode_memory_bytes
from app.estimators.chinchilla import ChinchillaFit, fit
from app.estimators.engines import engine
from app.estimators.errors import as_field, field_prefix
from app.estimators.hardware import GpuSpec
from app.estimators.precision import Precision
from app.estimators.sweep import ArchTerms, Serving, evaluate
from app.formatting import number
from app.jobs import limits
from app.jobs import service as jobs
from app.jobs.models import Job
from app.lab import jobs as _jobs  # noqa: F401 - registers its job kinds
from app.lab.schemas import (
    ArchitectureRequest,
    ArchitectureResponse,
    ArchitectureSearchRequest,
    ArchitectureSearchResponse,
    ChinchillaConstants,
    ChinchillaFitRequest,
    ChinchillaFitResponse,
    ChinchillaRequest,
    ChinchillaResponse,
    CoefficientsIn,
    ConditionalFitRequest,
    ConditionalFitResponse,
    DesignOut,
    InferenceAwareRequest,
    InferenceAwareResponse,
    LabWorkload,
    MeasureRequest,
    OptimumOut,
    OptimumXR,
    PositionOut,
    StageOut,
)
from app.scaling import conditional, fitting, inference_aware, planner, search
from app.scaling.conditional import Coefficients


@contextmanager
def _as_422(prefix: str = "") -> Iterator[None]:
    try:
        with field_prefix(prefix):
            yield
    except (OverflowError, ZeroDivisionError):
        # e.g. own constants with exponents so small that N_opt = G (C/6)^(β/(α+β)) leaves the
        # floating-point range (found by the API fuzzer)
        raise InvalidInput(
            "these inputs give numbers beyond the floating-point range; check the constants "
            "and the budget",
            field=prefix.rstrip(".") or None,
        ) from None


def chinchilla_fit(name: str, constants: ChinchillaConstants | None) -> ChinchillaFit:
    if constants is None:
        return fit(name)
    with _as_422("constants."):
        return planner.custom_fit(**constants.model_dump())


def coefficients_of(value: str | CoefficientsIn) -> Coefficients:
    if isinstance(value, str):
        with _as_422():
            return conditional.published(value)
    return Coefficients(**value.model_dump())


# ---- compute planner -----------------------------------------------------------------------
def _optimum_out(o: planner.Optimum) -> OptimumOut:
    return OptimumOut(**asdict(o))


def chinchilla(session: Session, req: ChinchillaRequest) -> ChinchillaResponse:
    f = chinchilla_fit(req.fit, req.constants)
    pos = None
    with _as_422():
        if req.hardware is not None:
            gpu = resolve_gpu(session, req.hardware.gpu, None)  # peak FLOP/s only
            with as_field("hardware.precision"):
                peak = gpu.peak_flops(Precision(req.hardware.precision))
            c = planner.compute_from_hardware(
                peak, req.hardware.n_gpus, req.hardware.days, req.hardware.mfu
            )
        elif req.params is not None and req.tokens is not None:
            p = planner.position(req.params, req.tokens, f)
            c = p.compute_flops
            pos = PositionOut(
                params=p.params,
                tokens=p.tokens,
                loss=p.loss,
                tokens_ratio=p.tokens_ratio,
                verdict=p.verdict,
                excess_loss=p.excess_loss,
            )
        else:
            assert req.compute_flops is not None
            c = req.compute_flops
        opt = planner.optimum(c, f)
        rows = [opt] if req.constants else []
        rows += planner.all_fits(c)
    return ChinchillaResponse(
        fit=f.name,
        source=f.source,
        compute_flops=c,
        optimal_params=opt.optimal_params,
        optimal_tokens=opt.optimal_tokens,
        tokens_per_param=opt.tokens_per_param,
        loss=opt.loss,
        by_fit=[_optimum_out(o) for o in rows],
        position=pos,
    )


# ---- inference-aware -----------------------------------------------------------------------
class CostAssumptions(BaseModel):
    """What an inference-aware plan's objective rests on: the objective, and for a dollar
    objective each role's GPU, its price and peak, and the utilisations. Shown in the response's
    ``assumptions`` (``model_dump(exclude_none=True)``: a FLOPs objective names only itself)."""

    model_config = ConfigDict(frozen=True)

    objective: str
    train_gpu: str | None = None
    train_price_per_hour_usd: float | None = None
    train_peak_tflops: float | None = None
    inference_gpu: str | None = None
    inference_price_per_hour_usd: float | None = None
    inference_peak_tflops: float | None = None
    train_mfu: float | None = None
    prefill_mfu: float | None = None
    decode_mfu: float | None = None


def costs_of(
    session: Session, req: InferenceAwareRequest, org_id: int
) -> tuple[inference_aware.Costs | None, CostAssumptions]:
    c = req.cost
    if c is None:
        return None, CostAssumptions(objective="lifetime FLOPs: 6·N·D_train + 2·N·D_inference")
    out: dict[str, str | float] = {}
    prices, peaks = {}, {}
    for role in ("train", "inference"):
        key = getattr(c, f"{role}_gpu")
        gpu = resolve_gpu(session, key, org_id)  # the organisation's effective price
        price = getattr(c, f"{role}_price_per_hour_usd") or gpu.price_per_hour_usd
        if price is None:
            raise InvalidInput(
                f"{gpu.name} has no price (no shipped default and no price of your "
                f"organisation); give {role}_price_per_hour_usd",
                field=f"cost.{role}_price_per_hour_usd",
            )
        with as_field(f"cost.{role}_precision"):
            peaks[role] = gpu.peak_flops(Precision(getattr(c, f"{role}_precision")))
        prices[role] = price
        out[f"{role}_gpu"] = gpu.name
        out[f"{role}_price_per_hour_usd"] = price
        out[f"{role}_peak_tflops"] = peaks[role] / 1e12
    assumptions = CostAssumptions.model_validate(
        {
            "objective": "lifetime dollars (Sardana et al. §3.2)",
            **out,
            "train_mfu": c.train_mfu,
            "prefill_mfu": c.prefill_mfu,
            "decode_mfu": c.decode_mfu,
        }
    )
    costs = inference_aware.Costs.from_gpus(
        train_price_per_hour=prices["train"],
        train_peak_flops=peaks["train"],
        inference_price_per_hour=prices["inference"],
        inference_peak_flops=peaks["inference"],
        train_mfu=c.train_mfu,
        prefill_mfu=c.prefill_mfu,
        decode_mfu=c.decode_mfu,
    )
    return costs, assumptions


def _design_out(d: inference_aware.Design) -> DesignOut:
    return DesignOut(
        params=d.params,
        training_tokens=d.training_tokens,
        tokens_per_param=d.tokens_per_param,
        training_flops=d.training_flops,
        inference_flops=d.inference_flops,
        total_flops=d.total_flops,
        cost_usd=d.cost_usd,
    )


def demand_split(req: InferenceAwareRequest) -> tuple[float, float]:
    per_in, per_out = req.input_tokens_per_request, req.output_tokens_per_request
    if req.requests is not None:
        return req.requests * per_in, req.requests * per_out
    assert req.inference_tokens is not None
    share = per_in / (per_in + per_out) if per_in + per_out > 0 else 0.0
    return req.inference_tokens * share, req.inference_tokens * (1 - share)


def inference_aware_plan(
    session: Session, req: InferenceAwareRequest, org_id: int
) -> InferenceAwareResponse:
    return inference_aware_with_curve(session, req, [], org_id)[0]


def inference_aware_with_curve(
    session: Session, req: InferenceAwareRequest, demands: list[float], org_id: int
) -> tuple[InferenceAwareResponse, list[inference_aware.InferenceAwareResult]]:
    """The plan, and the optimum at each lifetime demand in ``demands`` (same fit, loss and
    costs) for the page's demand curve."""
    f = chinchilla_fit(req.fit, req.constants)
    loss = req.target_loss
    if loss is None:
        assert req.params is not None
        assert req.tokens is not None
        loss = f.loss(req.params, req.tokens)
    costs, cost_assumptions = costs_of(session, req, org_id)
    assumptions: dict[str, Any] = cost_assumptions.model_dump(exclude_none=True)
    d_in, d_out = demand_split(req)
    with _as_422():
        res = inference_aware.inference_aware_optimum(
            f, loss, inference_input_tokens=d_in, inference_output_tokens=d_out, costs=costs
        )
    assumptions.update(
        fit=f.name,
        fit_source=f.source,
        solver="Brent's method on the first-order condition",
        chinchilla_reference="equal-loss Chinchilla-optimal model, same inference demand",
    )
    o, c = res.optimal, res.chinchilla
    curve = inference_aware.demand_curve(f, loss, demands, costs) if demands else []
    out = InferenceAwareResponse(
        fit=f.name,
        objective=res.objective,
        target_loss=loss,
        inference_input_tokens=d_in,
        inference_output_tokens=d_out,
        params=o.params,
        training_tokens=o.training_tokens,
        chinchilla_params=c.params,
        chinchilla_tokens=c.training_tokens,
        total_flops=o.total_flops,
        chinchilla_total_flops=c.total_flops,
        cost_usd=o.cost_usd,
        chinchilla_cost_usd=c.cost_usd,
        params_ratio=res.params_ratio,
        tokens_ratio=res.tokens_ratio,
        savings_ratio=res.savings_ratio,
        optimal=_design_out(o),
        chinchilla=_design_out(c),
        assumptions=assumptions,
    )
    return out, curve


# ---- fits ----------------------------------------------------------------------------------
def plan_fit(req: ChinchillaFitRequest) -> limits.Estimate:
    """Inline or a job (app/jobs/limits.py); the runs are checked first, so a job only starts
    for input the fit accepts."""
    runs = req.runs
    with _as_422():
        fitting.check_runs(
            [r.params for r in runs], [r.tokens for r in runs], [r.loss for r in runs]
        )
    return limits.chinchilla_fit(len(runs), req.bootstrap)


def plan_conditional(req: ConditionalFitRequest) -> limits.Estimate:
    runs = _run_arrays(req)
    scales = len(set(runs.scale)) if req.progressive else 0
    return limits.conditional_fit(len(req.runs), scales)


def start_fit_job(
    session: Session,
    caller: Caller,
    kind: str,
    req: ChinchillaFitRequest | ConditionalFitRequest,
    estimate: limits.Estimate,
) -> Job:
    """A fit over the inline limit, as a job of the caller's (one heavy job per user)."""
    params = {"request": req.model_dump(mode="json"), "estimated_cpu_s": estimate.cpu_s}
    return jobs.create(
        session, org_id=caller.org_id, kind=kind, params=params, created_by=caller.email
    )


def fit_runs(
    req: ChinchillaFitRequest, progress: fitting.Progress | None = None
) -> ChinchillaFitResponse:
    runs = req.runs
    with _as_422():
        res = fitting.fit_chinchilla(
            [r.params for r in runs],
            [r.tokens for r in runs],
            [r.loss for r in runs],
            bootstrap=req.bootstrap,
            seed=req.seed,
            progress=progress,
        )
    return ChinchillaFitResponse(
        params=res.params,
        intervals=res.intervals,
        a=res.a,
        converged=res.converged,
        message=res.message,
        n_runs=res.n_runs,
        rmse_log=res.rmse_log,
        bootstrap_samples=res.bootstrap_samples,
        predicted=res.predicted.tolist(),
        observed=res.observed.tolist(),
    )


def _run_arrays(req: ConditionalFitRequest) -> conditional.Runs:
    ref_fit = fit(req.reference_fit)
    xs, rs, ns, refs, labels = [], [], [], [], []
    for i, run in enumerate(req.runs):
        if run.architecture is not None:
            with field_prefix(f"runs.{i}.architecture."):
                arch = Architecture(**run.architecture.model_dump())
            n = float(arch.non_embedding_params)
            x, r = conditional.x_of(arch), conditional.r_of(arch)
        else:
            assert run.n_non_embed is not None
            assert run.d_model is not None
            assert run.r is not None
            n, x, r = run.n_non_embed, run.d_model / math.sqrt(run.n_non_embed), run.r
        if run.reference_loss is not None:
            ref = run.reference_loss
        elif run.tokens is not None:
            ref = ref_fit.loss(n, run.tokens)
        else:
            raise InvalidInput(
                "give reference_loss, or tokens to take L_opt from reference_fit",
                field=f"runs.{i}.reference_loss",
            )
        xs.append(x)
        rs.append(r)
        ns.append(n)
        refs.append(ref)
        labels.append(run.scale)
    n_arr = np.array(ns)
    with _as_422():
        auto = conditional.scale_labels(n_arr)
    scales = [lab or a for lab, a in zip(labels, auto, strict=True)]
    return conditional.Runs(
        np.array(xs),
        np.array(rs),
        np.array([r.loss for r in req.runs]),
        np.array(refs),
        scales,
        n_arr,
    )


def fit_conditional_law(
    req: ConditionalFitRequest, progress: fitting.Progress | None = None
) -> ConditionalFitResponse:
    runs = _run_arrays(req)
    if progress is not None:
        progress(2, f"fitting {len(req.runs)} runs")
    with _as_422():
        res = conditional.fit_conditional(
            runs.x, runs.r, runs.loss, runs.reference_loss, form=req.form, b0=req.b0
        )
    stages = conditional.progressive(runs, req.form, progress) if req.progressive else []
    c = res.coefficients
    return ConditionalFitResponse(
        form=c.form,
        coefficients=c.as_dict(),
        mse=res.mse,
        spearman=res.spearman,
        optimum=OptimumXR(x=c.x_opt, r=c.r_opt),
        converged=res.converged,
        message=res.message,
        n_runs=res.n_runs,
        progressive=[
            StageOut(
                train_scales=s.train_scales,
                test_scale=s.test_scale,
                n_train=s.n_train,
                n_test=s.n_test,
                mse=s.mse,
                spearman=s.spearman,
                skipped=s.skipped,
            )
            for s in stages
        ],
        predicted=res.predicted.tolist(),
        observed=res.observed.tolist(),
    )


# ---- architecture lab and search -----------------------------------------------------------
def _serving(
    session: Session, org_id: int, wl: LabWorkload, precision: str = "bf16"
) -> tuple[Serving, dict[str, Any]]:
    gpu: GpuSpec = resolve_gpu(session, wl.gpu, org_id)
    eng, note = calibrations.apply(
        engine(wl.engine), calibrations.latest(session, org_id, gpu.key, wl.engine)
    )
    with as_field("precision"):
        gpu.peak_flops(Precision(precision))
    info = {"gpu": gpu.name, "engine": eng.name, "engine_source": eng.source, **note}
    return Serving(gpu, eng, Precision(precision)), info


def _at_budget(arch: Architecture, d: int, r: float, gqa: int) -> dict[str, int]:
    """n_heads, n_kv_heads and d_ff giving ``arch``'s N_non-embed at width ``d``, ratio ``r`` and
    ``gqa`` (heads rounded to a multiple of gqa, d_ff to an integer)."""
    L, dh = arch.n_layers, arch.d_head
    per_layer = (arch.non_embedding_params - d) / L - 2 * d  # attention + MLP
    heads = per_layer / (1 + r) / (2 * d * dh * (1 + 1 / gqa))
    n_h = max(gqa, round(heads / gqa) * gqa)
    attn = 2 * d * dh * (n_h + n_h // gqa)
    d_ff = round((per_layer - attn) / (3 * d * arch.experts_per_token))
    if d_ff < 1:
        raise InvalidInput(
            f"d_model {d} leaves no room for the MLP in this budget at r = {r:g}", field="d_model"
        )
    return {"d_model": d, "n_heads": n_h, "n_kv_heads": n_h // gqa, "d_ff": d_ff}


def _modified(arch: Architecture, req: ArchitectureRequest) -> Architecture:
    if req.d_model is None and req.r is None and req.gqa is None:
        return arch
    d = req.d_model or arch.d_model
    if d != arch.d_model and d % arch.d_head:
        lower = max(arch.d_head, d // arch.d_head * arch.d_head)
        raise InvalidInput(
            f"d_model must be a multiple of the head size d_head = {arch.d_head} "
            f"(e.g. {lower} or {lower + arch.d_head}), so the heads tile the width",
            field="d_model",
        )
    changes: dict[str, int]
    if req.hold_params:
        changes = _at_budget(arch, d, req.r or arch.mlp_attention_ratio, req.gqa or arch.gqa_group)
    else:
        changes = {"d_model": d}
        if req.gqa is not None:
            if arch.n_heads % req.gqa:
                divisors = [g for g in range(1, arch.n_heads + 1) if arch.n_heads % g == 0]
                raise InvalidInput(
                    f"gqa must divide n_heads = {arch.n_heads}: one of {divisors}", field="gqa"
                )
            changes["n_kv_heads"] = arch.n_heads // req.gqa
        if req.r is not None:
            kv = changes.get("n_kv_heads", arch.n_kv_heads)
            attn = 2 * d * arch.n_heads * arch.d_head + 2 * d * kv * arch.d_head
            changes["d_ff"] = max(1, round(req.r * attn / (3 * d * arch.experts_per_token)))
    return replace(arch, **changes)  # type: ignore[arg-type]


def analyse_architecture(
    session: Session, req: ArchitectureRequest, org_id: int
) -> ArchitectureResponse:
    arch = _modified(resolve_architecture(session, req.model), req)
    if arch.is_moe:
        raise InvalidInput("the conditional law covers dense models only", field="model")
    coeffs = coefficients_of(req.coefficients)
    n = arch.non_embedding_params
    tokens = req.training_tokens or 100 * n
    ref_fit = fit(req.reference_fit)
    ref = ref_fit.loss(n, tokens)
    x, r = conditional.x_of(arch), conditional.r_of(arch)
    mult = float(coeffs.multiplier(x, r, ref))
    serving, info = _serving(session, org_id, req.workload)
    wl = req.workload
    terms = ArchTerms.of(arch)
    cap = int(serving.kv_capacity_tokens(terms)) // (wl.input_tokens + wl.output_tokens)
    batch = min(cap, wl.batch_size or serving.engine.max_num_seqs)
    tput = None
    if batch >= 1:
        res = evaluate(
            terms,
            serving,
            batch=batch,
            input_tokens=wl.input_tokens,
            output_tokens=wl.output_tokens,
        )
        tput = float(res.output_tokens_per_s)
    return ArchitectureResponse(
        architecture={**arch.as_dict(), "name": arch.name},
        n_non_embed=n,
        total_params=arch.total_params,
        x=x,
        r=r,
        gqa=arch.gqa_group,
        kv_bytes_per_token=arch.kv_bytes_per_token(2.0),
        inference_flops_per_token=conditional.inference_flops_per_token(arch, req.context_tokens),
        reference_loss=ref,
        loss_multiplier=mult,
        predicted_loss=mult * ref,
        optimum=OptimumXR(x=coeffs.x_opt, r=coeffs.r_opt),
        throughput=tput,
        batch_size=max(batch, 0),
        fits=batch >= 1,
        assumptions={
            **info,
            "coefficients": coeffs.name,
            "form": coeffs.form,
            "reference_loss": f"L_opt from {ref_fit.name} at N_non-embed and D = {number(tokens)}",
            "kv_precision": "bf16",
            "batch": "as many as the KV cache and the engine allow",
        },
    )


def architecture_search(
    session: Session, req: ArchitectureSearchRequest, org_id: int
) -> ArchitectureSearchResponse:
    return search_with_chart(session, req, org_id)[0]


def search_with_chart(
    session: Session, req: ArchitectureSearchRequest, org_id: int
) -> tuple[ArchitectureSearchResponse, dict[str, list[float]]]:
    """The search and a sample of every candidate (loss, throughput, GQA) for the scatter."""
    coeffs = coefficients_of(req.coefficients)
    baseline = None if req.baseline is None else resolve_architecture(session, req.baseline)
    ref_fit = fit(req.reference_fit)
    ref = req.reference_loss or ref_fit.loss(req.n_non_embed, req.training_tokens)
    serving, info = _serving(session, org_id, req.workload, req.precision)
    wl = req.workload
    with _as_422():
        space = search.SearchSpace(
            req.n_non_embed,
            req.n_layers,
            req.d_head,
            req.vocab,
            req.tied_embeddings,
            req.tolerance,
            req.d_model_step,
            req.d_ff_step,
            req.x_range,
            req.r_range,
            req.max_gqa,
        )
        res = search.search(
            space,
            coeffs,
            ref,
            serving,
            search.SearchWorkload(wl.input_tokens, wl.output_tokens, wl.batch_size),
            loss_target=req.loss_target,
            baseline=baseline,
        )
    out = ArchitectureSearchResponse(
        candidates_evaluated=res.candidates_evaluated,
        under_target=res.under_target,
        loss_target=res.loss_target,
        reference_loss=res.reference_loss,
        baseline=res.baseline,
        loss_optimal=res.loss_optimal,
        throughput_optimal=res.throughput_optimal,
        pareto=res.pareto,
        assumptions={
            **info,
            "coefficients": coeffs.name,
            "form": coeffs.form,
            "reference_loss": "given" if req.reference_loss else f"L_opt from {ref_fit.name}",
            "loss_target": "given" if req.loss_target else "the baseline's predicted loss",
            "throughput": f"static batch of {wl.input_tokens} in / {wl.output_tokens} out, "
            "batch limited by the KV cache and the engine's max_num_seqs",
        },
    )
    return out, res.chart


def check_measure_memory(archs: list[Architecture], req: MeasureRequest, limit: int) -> None:
    """Refuse (422) a measurement whose shapes would not fit this machine's memory, naming the
    field whose lowering helps: max_layers, else batch, else context, else the designs."""

    def need(**change: int) -> int:
        p = {"batch": req.batch, "context": req.context, "max_layers": req.max_layers} | change
        return decode_memory_bytes(
            archs, batch=p["batch"], context=p["context"], max_layers=p["max_layers"]
        )

    total = need()
    if total <= limit:
        return
    options = (
        ("max_layers", {"max_layers": 1}),
        ("batch", {"batch": 1}),
        ("context", {"context": 1}),
    )
    field = next((f for f, change in options if need(**change) <= limit), "designs")
    limits.refuse_over_memory(total, limit, field=field, what=f"measuring {len(archs)} design(s)")


def start_measurement(
    session: Session,
    caller: Caller,
    req: MeasureRequest,
    key: bytes,
    *,
    torch_memory_limit: int | None = None,
) -> Job:
    """A job timing the designs' decode step with torch on this machine (audited): architects
    and admins only, and only shapes whose memory fits this machine (checked before it starts)."""
    resolve_gpu(session, req.gpu, caller.org_id)
    archs = []
    for i, d in enumerate(req.designs):
        with field_prefix(f"designs.{i}.architecture."):
            arch = Architecture(**d.architecture.model_dump(exclude={"name"}))
        if arch.is_moe:
            raise InvalidInput("dense designs only", field=f"designs.{i}.architecture")
        archs.append(arch)
    check_measure_memory(archs, req, torch_memory_limit or limits.torch_memory_limit_bytes(None))
    params = req.model_dump(mode="json")
    for d in params["designs"]:
        d["architecture"].pop("name", None)
    job = jobs.create(
        session,
        org_id=caller.org_id,
        kind="design_measure",
        params={**params, "org_id": caller.org_id, "created_by": caller.email},
        created_by=caller.email,
    )
    audit.record(
        session,
        key,
        actor=caller.actor,
        action="job.design_measure.start",
        entity_type="job",
        entity_id=job.id,
        after={"designs": [d.label for d in req.designs], "gpu": req.gpu},
        org_id=caller.org_id,
    )
    return job
