"""Resolve catalog keys into the pure estimator's inputs and run it."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

from sqlalchemy.orm import Session

from app.auth.context import Caller
from app.catalog import service as catalog_service
from app.catalog.repository import CatalogRepository
from app.catalog.service import architecture_of, effective_prices, gpu_spec_of, org_gpu_spec
from app.deployments import service as deployments
from app.deployments.schemas import DeploymentEconomics
from app.errors import InvalidInput
from app.estimates import calibrations
from app.estimates.models import Calibration
from app.estimates.schemas import (
    ArchitectureIn,
    CapacityOut,
    CompareGpusRequest,
    CompareGpusResponse,
    DecodeOut,
    FinetuneRequest,
    FinetuneResponse,
    GpuOption,
    GpuSpecIn,
    InferenceRequest,
    InferenceResponse,
    LoadOut,
    MaxLoadOut,
    MemoryOut,
    PrefillOut,
    TimingOut,
    TrainingRequest,
    TrainingResponse,
)
from app.estimators import bands
from app.estimators.architecture import Architecture
from app.estimators.engines import EngineProfile, engine
from app.estimators.errors import FieldError, field_prefix
from app.estimators.fit import FIT_GPU_COUNTS, check_context, describe_fit, fit_options
from app.estimators.hardware import GpuSpec, HardwareError
from app.estimators.inference import (
    EstimateError,
    InferenceEstimate,
    ServingConfig,
    Timing,
    Workload,
    estimate_inference,
    speculative_verify_ratio,
    step_model,
    with_speculative,
)
from app.estimators.interventions import Scenario, ServingOutcome, evaluate, slo_shortfall
from app.estimators.precision import Precision
from app.estimators.simulation import (
    MAX_LOAD_REQUESTS,
    CapacityPlan,
    SimulationError,
    max_load,
    plan_capacity,
    running_limits,
    simulate_load,
)
from app.estimators.traffic import TrafficError, plan_traffic, shape_of
from app.estimators.training import (
    estimate_finetune,
    estimate_training,
    finetune_run,
)

LOAD_REQUESTS = 2000  # simulated requests per load point


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
    with field_prefix("model."):
        return Architecture(**model.model_dump())


def resolve_gpu(session: Session, gpu: str | GpuSpecIn, org_id: int | None) -> GpuSpec:
    """A catalog GPU with the organisation's effective price (its own, else the shipped
    default), or a GPU given in full (its own price, if any). ``org_id=None`` gives a catalog
    GPU without a price, for uses that price nothing (peak FLOP/s only)."""
    if isinstance(gpu, str):
        repo = CatalogRepository(session)
        g = repo.gpu(gpu)
        if g is None:
            raise InvalidInput(
                f"unknown gpu '{gpu}'; known: " + ", ".join(x.key for x in repo.gpus()), field="gpu"
            )
        return gpu_spec_of(g) if org_id is None else org_gpu_spec(session, org_id, g)
    with field_prefix("gpu."):
        return GpuSpec(**gpu.model_dump())


def _timing_out(t: Timing) -> TimingOut:
    return TimingOut(
        prefill=PrefillOut(time_ms=t.prefill.time_s * 1e3, bound=t.prefill.bound),
        decode=DecodeOut(time_per_token_ms=t.decode.time_s * 1e3, bound=t.decode.bound),
        ttft_ms=t.ttft_ms,
        tpot_ms=t.tpot_ms,
        output_tokens_per_s=t.output_tokens_per_s,
        output_tokens_per_s_per_gpu=t.output_tokens_per_s_per_gpu,
        cost_per_million_output_tokens_usd=t.cost_per_million_output_tokens_usd,
    )


def _setup(
    session: Session,
    req: InferenceRequest | CompareGpusRequest,
    org_id: int,
    gpu: GpuSpec | None = None,
    arch: Architecture | None = None,
    latest: Mapping[str, Calibration] | None = None,
) -> tuple[Architecture, GpuSpec, EngineProfile, ServingConfig, dict[str, Any]]:
    """The estimators' inputs for a request; ``latest`` (GPU key -> calibration, from
    ``calibrations.latest_per_gpu``) saves the calibration query when many GPUs are set up."""
    if arch is None:
        arch = resolve_architecture(session, req.model)
    if gpu is None:
        assert req.gpu is not None
        gpu = resolve_gpu(session, req.gpu, org_id)
    cfg = ServingConfig(
        n_gpus=req.n_gpus,
        precision=Precision(req.precision),
        kv_cache_precision=Precision(req.kv_cache_precision),
        paged_attention=req.paged_attention,
    )
    cal = (
        calibrations.latest(session, org_id, gpu.key, req.engine)
        if latest is None
        else latest.get(gpu.key)
    )
    eng, note = calibrations.apply(engine(req.engine), cal)
    return arch, gpu, eng, cfg, note


def _range_note(
    figures: dict[str, tuple[float | None, str, bool]], gpu_key: str
) -> tuple[dict[str, dict[str, float]], dict[str, Any]]:
    """The figures' 10-90% bands and the note that says where they come from."""
    out, missing = bands.ranges(figures, gpu_key)
    families = sorted({fam for name, (_, fam, _) in figures.items() if name in out})
    note: dict[str, Any] = {
        "method": "10-90% of measured/estimated on published rows predicted without their own "
        "publication (axisboard validate-estimator)",
        "bands": [bands.describe(f, gpu_key) for f in families],
    }
    if missing:
        note["missing"] = missing
    return out, note


def _capacity_plan(
    arch: Architecture,
    gpu: GpuSpec,
    eng: EngineProfile,
    cfg: ServingConfig,
    max_seqs: int,
    max_batched_tokens: int,
    input_tokens: int,
    output_tokens: int,
    requests_per_day: float,
    ttft_slo_ms: float,
    tpot_slo_ms: float,
    peak_to_mean: float = 1.0,
) -> CapacityPlan:
    """The one capacity planner behind the estimator page and a deployment's economics: the rate
    one replica sustains within the p95 TTFT and TPOT SLOs (simulated continuous batching)."""
    return plan_capacity(
        step_model(arch, gpu, eng, cfg),
        requests_per_day=requests_per_day,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        ttft_slo_ms=ttft_slo_ms,
        tpot_slo_ms=tpot_slo_ms,
        max_seqs=max_seqs,
        max_batched_tokens=max_batched_tokens,
        price_per_gpu_hour=gpu.price_per_hour_usd,
        peak_to_mean=peak_to_mean,
    )


# Pure and deterministic on frozen inputs: pages showing the same deployment again reuse it.
_capacity_plan_cached = lru_cache(maxsize=256)(_capacity_plan)


def _load(
    arch: Architecture,
    gpu: GpuSpec,
    eng: EngineProfile,
    cfg: ServingConfig,
    est: InferenceEstimate,
    req: InferenceRequest,
) -> tuple[MaxLoadOut | None, LoadOut | None, CapacityOut | None, str]:
    """Max load, latency at the requested rate and the capacity plan: one simulation path, with
    the engine's scheduler limits (``running_limits``)."""
    sm = step_model(arch, gpu, eng, cfg)
    limits = running_limits(eng, sm, est.memory)
    what = (
        f"continuous batching, at most {max(limits.max_seqs, 0)} running (KV capacity and "
        f"{limits.scheduler.source})"
    )
    if limits.max_seqs < 1:
        return None, None, None, what
    top = max_load(sm, limits, input_tokens=req.input_tokens, output_tokens=req.output_tokens)
    saturated = MaxLoadOut(
        output_tokens_per_s=top.output_tokens_per_s,
        output_tokens_per_s_per_gpu=top.output_tokens_per_s / cfg.n_gpus,
        requests_per_s=top.requests_per_s,
        mean_batch=top.mean_batch,
        n_requests=top.n_requests,
        max_running=limits.max_seqs,
        max_batched_tokens=limits.max_batched_tokens,
    )
    load = None
    if req.request_rate is not None:
        r = simulate_load(
            sm,
            request_rate=req.request_rate,
            input_tokens=req.input_tokens,
            output_tokens=req.output_tokens,
            max_seqs=limits.max_seqs,
            max_batched_tokens=limits.max_batched_tokens,
            n_requests=LOAD_REQUESTS,
        )
        load = LoadOut.model_validate(r.as_dict())
    capacity = None
    if req.requests_per_day is not None and req.ttft_slo_ms and req.tpot_slo_ms:
        peak = req.peak_to_average or 1.0  # a deployment's traffic shape (its peak)
        plan = _capacity_plan_cached(
            arch,
            gpu,
            eng,
            cfg,
            limits.max_seqs,
            limits.max_batched_tokens,
            req.input_tokens,
            req.output_tokens,
            float(req.requests_per_day),
            req.ttft_slo_ms,
            req.tpot_slo_ms,
            peak,
        )
        capacity = CapacityOut(
            **{k: v for k, v in plan.as_dict().items() if k in CapacityOut.model_fields},
            meets_slo=plan.replicas is not None,
        )
    return saturated, load, capacity, what


def _check_context(req: InferenceRequest | CompareGpusRequest) -> None:
    """Refuse inputs beyond a catalog model's context length (422 naming the field)."""
    if isinstance(req.model, str):
        check_context(req.model, req.input_tokens, req.output_tokens)


def inference(session: Session, req: InferenceRequest, org_id: int) -> InferenceResponse:
    _check_context(req)
    arch, gpu, eng, cfg, cal_note = _setup(session, req, org_id)
    wl = Workload(req.input_tokens, req.output_tokens, req.batch_size)
    est = estimate_inference(arch, gpu, eng, cfg, wl)
    if req.speculative is not None:
        s = req.speculative
        # The gain at this batch: the verification step over a plain step (economics.md §5).
        ctx = req.input_tokens + (req.output_tokens - 1) / 2
        ratio = speculative_verify_ratio(arch, gpu, eng, cfg, req.batch_size, ctx, s.gamma)
        best = speculative_verify_ratio(
            arch, gpu, eng, cfg, req.batch_size, ctx, s.gamma, ideal=True
        )
        est = with_speculative(
            est,
            alpha=s.alpha,
            gamma=s.gamma,
            c=s.c,
            n_gpus=cfg.n_gpus,
            price_per_gpu_hour=gpu.price_per_hour_usd,
            verify_ratio=ratio,
            best_verify_ratio=best,
        )
    top, load, capacity, load_model = _load(arch, gpu, eng, cfg, est, req)
    t = _timing_out(est.timing)
    m = est.memory
    assumptions = {
        **est.assumptions,
        "model": arch.name,
        "gpu": gpu.name,
        "total_params": arch.total_params,
        "active_params": arch.active_params,
        **cal_note,
    }
    assumptions["load_model"] = (
        f"{load_model}; max load: {MAX_LOAD_REQUESTS} requests queued at once; latency under "
        f"load: Poisson arrivals, {LOAD_REQUESTS} requests"
        + ("; speculative decoding not simulated" if req.speculative else "")
    )
    batch_family = "batch1_decode" if req.batch_size == 1 else "static_batch_throughput"
    figures: dict[str, tuple[float | None, str, bool]] = {
        "ttft_ms": (t.ttft_ms, "prefill_ttft_unloaded", False),
        "tpot_ms": (t.tpot_ms, batch_family, False),
        "output_tokens_per_s": (t.output_tokens_per_s, batch_family, True),
        "output_tokens_per_s_per_gpu": (t.output_tokens_per_s_per_gpu, batch_family, True),
        "max_load.output_tokens_per_s": (
            None if top is None else top.output_tokens_per_s,
            "max_load_throughput",
            True,
        ),
    }
    bands, assumptions["range"] = _range_note(figures, gpu.key)
    would_fit = None
    if not m.fits:
        options = fit_options(arch, gpu, eng, cfg, wl)
        would_fit = describe_fit(options, gpu.name, FIT_GPU_COUNTS[-1])
    return InferenceResponse(
        **t.model_dump(),
        range=bands,
        memory=MemoryOut(
            **{k: getattr(m, k) for k in MemoryOut.model_fields if k != "would_fit"},
            would_fit=would_fit,
        ),
        best_case=_timing_out(est.best_case),
        assumptions=assumptions,
        max_load=top,
        latency_percentiles=load,
        capacity=capacity,
    )


def _unfit(key: str, name: str, meets_slo: bool | None, reason: str | None) -> GpuOption:
    """A GPU the workload does not fit (no figures: they would mean nothing), and why."""
    return GpuOption(
        gpu=key,
        name=name,
        fits=False,
        meets_slo=meets_slo,
        batch=None,
        ttft_ms=None,
        tpot_ms=None,
        output_tokens_per_s=None,
        cost_per_million_output_tokens_usd=None,
        monthly_cost_usd=None,
        replicas=None,
        reason=reason,
    )


def compare_gpus(session: Session, req: CompareGpusRequest, org_id: int) -> CompareGpusResponse:
    """Every catalog GPU for the same workload: the ones that fit and meet the SLOs first,
    then by monthly cost for the traffic (or $ per million output tokens without traffic)."""
    _check_context(req)
    arch = resolve_architecture(session, req.model)
    options: list[GpuOption] = []
    latest = calibrations.latest_per_gpu(session, org_id, req.engine)
    for g, price in effective_prices(session, org_id):
        gpu = gpu_spec_of(g, price.price_per_hour_usd)
        _, _, eng, cfg, _note = _setup(session, req, org_id, gpu, arch, latest)
        try:
            est = estimate_inference(
                arch, gpu, eng, cfg, Workload(req.input_tokens, req.output_tokens, req.batch_size)
            )
        except EstimateError as exc:
            options.append(_unfit(g.key, g.name, None, str(exc)))
            continue
        rpd, ttft_slo, tpot_slo = req.requests_per_day, req.ttft_slo_ms, req.tpot_slo_ms
        if rpd is None or not ttft_slo or not tpot_slo:
            t = est.timing
            options.append(
                GpuOption(
                    gpu=g.key,
                    name=g.name,
                    fits=est.memory.fits,
                    meets_slo=None,
                    batch=req.batch_size,
                    ttft_ms=t.ttft_ms,
                    tpot_ms=t.tpot_ms,
                    output_tokens_per_s=t.output_tokens_per_s,
                    cost_per_million_output_tokens_usd=t.cost_per_million_output_tokens_usd,
                    monthly_cost_usd=None,
                    replicas=None,
                    reason=est.memory.reason,
                )
            )
            continue
        # replicas for the peak hour, run all month (as the capacity plan does with a peak)
        peak_rpd = rpd * (req.peak_to_average or 1.0)
        outcome = evaluate(
            Scenario(
                arch,
                gpu,
                eng,
                cfg,
                req.input_tokens,
                req.output_tokens,
                peak_rpd,
                ttft_slo,
                tpot_slo,
            )
        )
        if not outcome.fits:
            options.append(_unfit(g.key, g.name, False, outcome.reason))
            continue
        # The figures shown are those at the batch the plan runs (the largest within the TPOT
        # SLO, else 1), and the verdict is one check on exactly those figures.
        batch = outcome.batch_at_slo
        t = estimate_inference(
            arch, gpu, eng, cfg, Workload(req.input_tokens, req.output_tokens, batch)
        ).timing
        shortfall = slo_shortfall(t.ttft_ms, t.tpot_ms, ttft_slo, tpot_slo, batch)
        meets = shortfall is None
        options.append(
            GpuOption(
                gpu=g.key,
                name=g.name,
                fits=True,
                meets_slo=meets,
                batch=batch,
                ttft_ms=t.ttft_ms,
                tpot_ms=t.tpot_ms,
                output_tokens_per_s=t.output_tokens_per_s,
                cost_per_million_output_tokens_usd=t.cost_per_million_output_tokens_usd,
                monthly_cost_usd=outcome.monthly_cost_usd if meets else None,
                replicas=outcome.replicas if meets else None,
                reason=shortfall,
            )
        )

    def key(o: GpuOption) -> tuple[bool, bool, float]:
        cost = (
            o.monthly_cost_usd
            if o.monthly_cost_usd is not None
            else (o.cost_per_million_output_tokens_usd)
        )
        return (not o.fits, o.meets_slo is False, cost if cost is not None else math.inf)

    options.sort(key=key)
    ranking = (
        "fits and meets the TTFT/TPOT SLOs first, then monthly cost at the traffic; figures at "
        "the largest batch that keeps TPOT within its SLO"
        if req.requests_per_day is not None and req.ttft_slo_ms and req.tpot_slo_ms
        else "fits first, then $ per million output tokens (unpriced GPUs last)"
    )
    return CompareGpusResponse(options=options, ranking=ranking)


def training(session: Session, req: TrainingRequest, org_id: int) -> TrainingResponse:
    arch = None if req.model is None else resolve_architecture(session, req.model)
    gpu = resolve_gpu(session, req.gpu, org_id)
    if arch is None and req.params is None:
        raise InvalidInput("give a model (key or architecture) or params", field="params")
    try:
        est = estimate_training(
            params=req.params,
            arch=arch,
            tokens=req.tokens,
            gpu=gpu,
            n_gpus=req.n_gpus,
            mfu=req.mfu,
            sequence_length=req.sequence_length,
            precision=Precision(req.precision),
            chinchilla_fit=req.fit,
            tensor_parallel=req.tensor_parallel,
            pipeline_parallel=req.pipeline_parallel,
            micro_batches=req.micro_batches,
            zero_stage=req.zero_stage,
            virtual_stages=req.virtual_stages,
            activation_recomputation=req.activation_recomputation,
        )
    except HardwareError as exc:
        raise FieldError(str(exc), field="precision") from None
    out = est.as_dict()
    figures: dict[str, tuple[float | None, str, bool]] = {
        "gpu_hours": (est.gpu_hours, "training", False),
        "wall_clock_days": (est.wall_clock_days, "training", False),
    }
    if req.mfu is None:  # the modelled MFU: a speed, with the training family's band
        figures["mfu"] = (est.mfu, "training", True)
    out["range"], out["assumptions"]["range"] = _range_note(figures, gpu.key)
    return TrainingResponse.model_validate(out)


def finetune(session: Session, req: FinetuneRequest, org_id: int) -> FinetuneResponse:
    arch = resolve_architecture(session, req.model)
    gpu = resolve_gpu(session, req.gpu, org_id)
    est = estimate_finetune(
        arch,
        gpu,
        method=req.method,
        n_gpus=req.n_gpus,
        lora_rank=req.lora_rank,
        target_modules=tuple(req.target_modules),
        sequence_length=req.sequence_length,
        micro_batch_size=req.micro_batch_size,
        gradient_checkpointing=req.gradient_checkpointing,
        zero_stage=req.zero_stage,
        mfu=req.mfu,
    )
    run = None
    if req.dataset_tokens is not None:
        run = finetune_run(
            tokens_per_s=est.tokens_per_s,
            n_gpus=req.n_gpus,
            dataset_tokens=req.dataset_tokens,
            epochs=req.epochs,
            price_per_gpu_hour_usd=gpu.price_per_hour_usd,
            gpu_name=gpu.name,
        )
    out = est.as_dict()
    out["epochs"] = req.epochs
    out["assumptions"]["price_per_gpu_hour_usd"] = gpu.price_per_hour_usd
    if run is None:
        out["cost_reason"] = "give dataset_tokens (and epochs) for the duration and cost"
    else:
        out.update(
            dataset_tokens=run.dataset_tokens,
            duration_hours=run.duration_hours,
            gpu_hours=run.gpu_hours,
            cost_usd=run.cost_usd,
            cost_reason=run.cost_reason,
        )
    out["range"], out["assumptions"]["range"] = _range_note(
        {"tokens_per_s": (est.tokens_per_s, "training", True)}, gpu.key
    )
    return FinetuneResponse.model_validate(out)


SWEEP_BATCHES = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
SWEEP_INPUTS = (128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768)
RATE_FRACTIONS = (0.1, 0.3, 0.5, 0.7, 0.85, 0.95)


@dataclass(frozen=True, slots=True)
class BatchSweep:
    """Throughput and TPOT versus batch size, each with its best case."""

    batches: list[int]
    throughput: list[float]
    throughput_best: list[float]
    tpot: list[float]
    tpot_best: list[float]


@dataclass(frozen=True, slots=True)
class TtftSweep:
    """TTFT versus input length, with its best case."""

    inputs: list[int]
    ttft: list[float]
    best: list[float]


@dataclass(frozen=True, slots=True)
class LoadSweep:
    """Latency percentiles (``"ttft p95"`` and the like) versus request rate, up to the saturated
    capacity."""

    capacity_rps: float
    rates: list[float]
    series: dict[str, Sequence[float]]


@dataclass(frozen=True, slots=True)
class Sweeps:
    batch: BatchSweep
    ttft: TtftSweep
    load: LoadSweep | None  # None: not even one request runs on this configuration


def sweeps(session: Session, req: InferenceRequest, org_id: int) -> Sweeps:
    """The page's chart series: throughput/TPOT versus batch (with the best case), TTFT versus
    input length, and latency percentiles versus request rate up to the saturated capacity."""
    arch, gpu, eng, cfg, _ = _setup(session, req, org_id)
    one = estimate_inference(arch, gpu, eng, cfg, Workload(req.input_tokens, req.output_tokens))
    cap = max(1, min(one.memory.max_batch_size, eng.max_num_seqs * 4))
    batches = [b for b in SWEEP_BATCHES if b <= cap] or [1]
    rows = [
        estimate_inference(arch, gpu, eng, cfg, Workload(req.input_tokens, req.output_tokens, b))
        for b in batches
    ]
    batch = BatchSweep(
        batches=batches,
        throughput=[e.timing.output_tokens_per_s for e in rows],
        throughput_best=[e.best_case.output_tokens_per_s for e in rows],
        tpot=[e.timing.tpot_ms for e in rows],
        tpot_best=[e.best_case.tpot_ms for e in rows],
    )
    ins = [
        s
        for s in SWEEP_INPUTS
        if s + req.output_tokens <= max(one.memory.kv_cache_capacity_tokens, 1)
    ]
    ttfts = [estimate_inference(arch, gpu, eng, cfg, Workload(s, 1)) for s in ins]
    ttft = TtftSweep(
        inputs=ins,
        ttft=[e.timing.ttft_ms for e in ttfts],
        best=[e.best_case.ttft_ms for e in ttfts],
    )
    sm = step_model(arch, gpu, eng, cfg)
    limits = running_limits(eng, sm, one.memory)
    load = None
    if limits.max_seqs >= 1:

        def sim(rate: float, n: int) -> Any:
            return simulate_load(
                sm,
                request_rate=rate,
                input_tokens=req.input_tokens,
                output_tokens=req.output_tokens,
                max_seqs=limits.max_seqs,
                max_batched_tokens=limits.max_batched_tokens,
                n_requests=n,
            )

        # the saturated capacity: the same figure as the estimate's max_load
        capacity = max_load(
            sm, limits, input_tokens=req.input_tokens, output_tokens=req.output_tokens
        ).requests_per_s
        rates = [round(f * capacity, 4) for f in RATE_FRACTIONS]
        results = [sim(r, 600) for r in rates]
        load = LoadSweep(
            capacity_rps=capacity,
            rates=rates,
            series={
                f"{m} p{p}": [getattr(r, f"{m}_ms")[p] for r in results]
                for m in ("ttft", "tpot")
                for p in (50, 95, 99)
            },
        )
    return Sweeps(batch=batch, ttft=ttft, load=load)


@dataclass(frozen=True, slots=True)
class DeploymentScenario:
    """The estimators' view of a deployment, and the organisation's calibration applied to its
    engine profile (None: the published profile), as the economics show it (JSON:
    :func:`app.estimates.calibrations.apply`)."""

    scenario: Scenario
    calibration: dict[str, Any] | None


def deployment_scenario(session: Session, dep: Any) -> DeploymentScenario | str:
    """The estimators' view of a deployment (bf16 weights and KV, the organisation's calibration
    for its GPU and engine when there is one), or why there is none."""
    repo = CatalogRepository(session)
    m, g = repo.model(dep.model_key), repo.gpu(dep.gpu_key)
    if m is None or g is None:
        return "the deployment's model or GPU is no longer in the catalog"
    arch, gpu = architecture_of(m), org_gpu_spec(session, dep.org_id, g)
    eng, note = calibrations.apply(
        engine(dep.engine), calibrations.latest(session, dep.org_id, gpu.key, dep.engine)
    )
    # every catalog GPU at the organisation's effective price: right-sizing prices other types
    prices = tuple((c.key, p.price_per_hour_usd) for c, p in effective_prices(session, dep.org_id))
    scenario = Scenario(
        arch,
        gpu,
        eng,
        ServingConfig(n_gpus=dep.n_gpus),
        dep.mean_input_tokens,
        dep.mean_output_tokens,
        float(dep.requests_per_day),
        dep.ttft_slo_ms,
        dep.tpot_slo_ms,
        gpu_prices=prices,
    )
    try:  # replicas on the recommendation cards are sized for the deployment's peak
        peak = shape_of(getattr(dep, "peak_to_average", None), getattr(dep, "hourly_profile", None))
        scenario = replace(
            scenario, peak_to_average=peak.peak_to_average, hourly_profile=peak.hourly_profile
        )
    except TrafficError:
        pass  # a stored shape the traffic checks refuse: the mean rate (shown on the page)
    return DeploymentScenario(scenario, note.get("calibration"))


# Pricing a scenario is pure and deterministic (frozen inputs), so pages that show the same
# deployment again reuse the result.
_evaluate = lru_cache(maxsize=1024)(evaluate)


@dataclass(frozen=True, slots=True)
class StaticEconomics:
    """A deployment's serving cost and SLO check by the static SLO-limited batch (what the
    recommendation cards price against), or ``error``: why there is none."""

    outcome: ServingOutcome | None = None
    within_budget: bool | None = None
    """None: the cost is unknown (the GPU has no price)."""
    scenario: Scenario | None = None
    calibration: dict[str, Any] | None = None
    """The organisation's calibration of the GPU and engine applied, if any."""
    error: str | None = None


def deployment_economics(session: Session, dep: Any) -> StaticEconomics:
    """Monthly serving cost and SLO check from a deployment's own fields.

    Uses the static SLO-limited batch (:func:`app.estimators.interventions.evaluate`).
    """
    found = deployment_scenario(session, dep)
    if isinstance(found, str):
        return StaticEconomics(error=found)
    scenario = found.scenario
    try:
        outcome = _evaluate(scenario)
    except EstimateError as exc:
        return StaticEconomics(error=str(exc))
    within_budget = (
        None
        if outcome.monthly_cost_usd is None
        else outcome.monthly_cost_usd <= dep.monthly_budget_usd
    )
    return StaticEconomics(outcome, within_budget, scenario, found.calibration)


def gpu_price(session: Session, org_id: int, gpu_key: str) -> tuple[float | None, str]:
    """The price per GPU-hour an organisation pays for a GPU and where it comes from: the one
    price lookup of the serving economics (the organisation's own price, else the shipped
    default; :func:`app.catalog.service.gpu_price`)."""
    g = CatalogRepository(session).gpu(gpu_key)
    if g is None:
        return None, f"GPU '{gpu_key}' is not in the catalog"
    p = catalog_service.gpu_price(session, org_id, g)
    if p.price_per_hour_usd is None:
        return None, (
            f"unpriced: {g.name} has no price per GPU-hour ({p.source}); an admin can set the "
            "organisation's own on /catalog/gpus"
        )
    return p.price_per_hour_usd, p.source


def _engine_note(cal: Mapping[str, Any] | None) -> str:
    if cal is None:
        return "engine profile fitted on the published measurements (no calibration)"
    return f"calibrated on {cal['device']} ({cal['source']}, calibration {cal['id']})"


@dataclass(frozen=True, slots=True)
class PlanUnavailable:
    """Why a deployment cannot be estimated at all (no serving plan)."""

    error: str


def deployment_serving_plan(session: Session, dep: Any) -> DeploymentEconomics | PlanUnavailable:
    """A deployment's serving economics with its traffic shape: capacity planned for the peak
    at the p95 SLOs. The deployment page and ``GET /api/v1/deployments/{id}/economics`` both
    show this, or why the deployment cannot be estimated at all."""
    out = _serving_plan_fields(session, dep)
    if "error" in out:
        return PlanUnavailable(str(out["error"]))
    return DeploymentEconomics.model_validate(out)


def serving_plan_fields(plan: DeploymentEconomics | PlanUnavailable) -> dict[str, Any]:
    """The plan as the hosted-alternatives calculation reads it (``{"error": ...}`` when there is
    none): that calculation sits in the catalog, below the deployments' schemas."""
    if isinstance(plan, PlanUnavailable):
        return {"error": plan.error}
    return plan.model_dump()


def _serving_plan_fields(session: Session, dep: Any) -> dict[str, Any]:
    found = deployment_scenario(session, dep)
    if isinstance(found, str):
        return {"error": found}
    sc = found.scenario
    try:
        shape = shape_of(dep.peak_to_average, dep.hourly_profile)
        one = estimate_inference(
            sc.arch, sc.gpu, sc.engine, sc.cfg, Workload(sc.input_tokens, sc.output_tokens)
        )
    except (EstimateError, TrafficError) as exc:
        return {"error": str(exc)}
    price, price_source = gpu_price(session, dep.org_id, dep.gpu_key)
    rpd = float(dep.requests_per_day)
    avg = rpd / 86400.0
    reasons: dict[str, str] = {}
    out: dict[str, Any] = {
        "requests_per_s_average": avg,
        "requests_per_s_peak": avg * shape.peak_to_average,
        "peak_to_average": shape.peak_to_average,
        "peak_to_average_source": shape.source,
        "hourly_profile": None if shape.hourly_profile is None else list(shape.hourly_profile),
        "hourly_replicas": None,
        "max_requests_per_s_per_replica": None,
        "replicas": None,
        "gpus_per_replica": sc.cfg.n_gpus,
        "gpu_hours_per_month": None,
        "monthly_cost_usd": None,
        "cost_per_1k_requests_usd": None,
        "ttft_p95_ms": None,
        "tpot_p95_ms": None,
        "time_to_answer_p95_ms": None,
        "meets_slos": False,
        "within_budget": None,
        "price_per_gpu_hour_usd": price,
        "price_source": price_source,
        "slo_percentile": 95,
        "reasons": reasons,
        "assumptions": {
            "capacity": "continuous batching simulated with Poisson arrivals (1,000 requests); "
            "the per-replica rate is the highest whose p95 TTFT and TPOT meet the SLOs, found "
            "by bisection; the same planner as the estimator page",
            "replicas": "at the peak rate: ceil(peak requests/s / per-replica rate)",
            "gpu_hours": (
                "replicas needed in each hour of the profile (at least one), summed over the "
                "day and scaled to 730 h/month"
                if shape.hourly_profile is not None
                else "the peak's replicas running all month (730 h): without an hourly profile "
                "the shape of the day is unknown"
            ),
            "cost_per_1k_requests": "monthly cost / requests per month (requests/day x 730/24)",
            "time_to_answer": "p95 TTFT plus reasoning tokens before the answer (none here)",
            "precision": "bf16 weights and KV cache",
            "engine_profile": _engine_note(found.calibration),
        },
    }
    limits = running_limits(sc.engine, step_model(sc.arch, sc.gpu, sc.engine, sc.cfg), one.memory)
    if not one.memory.fits or limits.max_seqs < 1:
        why = f"the model does not fit: {one.memory.reason or 'no room for a KV cache'}"
        for k in ("replicas", "gpu_hours_per_month", "ttft_p95_ms", "tpot_p95_ms"):
            reasons[k] = why
    else:
        try:
            plan = _capacity_plan_cached(
                sc.arch,
                sc.gpu,
                sc.engine,
                sc.cfg,
                limits.max_seqs,
                limits.max_batched_tokens,
                sc.input_tokens,
                sc.output_tokens,
                rpd,
                sc.ttft_slo_ms,
                sc.tpot_slo_ms,
                shape.peak_to_average,
            )
        except SimulationError as exc:
            return {"error": str(exc)}
        if plan.replicas is None:
            why = plan.reason or "the SLOs cannot be met at any rate"
            for k in ("replicas", "gpu_hours_per_month", "ttft_p95_ms", "tpot_p95_ms"):
                reasons[k] = why
        else:
            traffic = plan_traffic(shape, rpd, plan.max_rate_per_replica, sc.cfg.n_gpus)
            at = plan.at_planned_rate or plan.at_max_rate
            if plan.at_planned_rate is None:
                out["assumptions"]["latency"] = (
                    "no traffic: p95 latency at the highest rate one replica sustains"
                )
            out.update(
                max_requests_per_s_per_replica=plan.max_rate_per_replica,
                replicas=traffic.replicas,
                hourly_replicas=None
                if traffic.hourly_replicas is None
                else list(traffic.hourly_replicas),
                gpu_hours_per_month=traffic.gpu_hours_per_month,
                meets_slos=True,
            )
            if at is not None:
                out["ttft_p95_ms"] = at.ttft_ms[95]
                out["tpot_p95_ms"] = at.tpot_ms[95]
                out["time_to_answer_p95_ms"] = at.ttft_ms[95]
                out["meets_slos"] = (
                    at.ttft_ms[95] <= sc.ttft_slo_ms and at.tpot_ms[95] <= sc.tpot_slo_ms
                )
            if price is not None:
                monthly = traffic.gpu_hours_per_month * price
                out["monthly_cost_usd"] = monthly
                out["within_budget"] = monthly <= dep.monthly_budget_usd
                if traffic.requests_per_month > 0:
                    out["cost_per_1k_requests_usd"] = monthly / traffic.requests_per_month * 1000
                else:
                    reasons["cost_per_1k_requests_usd"] = "no traffic: requests_per_day is 0"
    if "time_to_answer_p95_ms" not in reasons and "ttft_p95_ms" in reasons:
        reasons["time_to_answer_p95_ms"] = reasons["ttft_p95_ms"]
    money = ("monthly_cost_usd", "cost_per_1k_requests_usd", "within_budget")
    for k in money:
        if out[k] is None and k not in reasons:
            reasons[k] = price_source if price is None else reasons.get("replicas", "")
    return out


def economics(session: Session, caller: Caller, deployment_id: int) -> DeploymentEconomics:
    """The deployment page's serving economics, for the API."""
    dep = deployments.get(session, caller, deployment_id)
    out = deployment_serving_plan(session, dep)
    if isinstance(out, PlanUnavailable):
        raise InvalidInput(out.error, field="deployment")
    return out
