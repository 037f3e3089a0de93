"""What a change does to a deployment's money, time and SLOs: one computation for a
recommendation card and for a portfolio (pure).

:func:`price_change` takes the deployment's scenario and the interventions of one or more
techniques, some of them limited to a share of the traffic (reasoning-time compute is applied
only to the requests the failure hits), and returns the card's contract figures:

* **GPU-hours actually needed** (fractional): each traffic stream needs
  ``requests per month ÷ (requests/s one replica sustains within the p95 SLOs × 3,600) × GPUs per
  replica`` (the deployment page's capacity planner, :func:`plan_stream`); a
  fraction of a replica costs a fraction of its hours, so a change that makes each request dearer
  never shows "$0/month" on low traffic. ``monthly_cost_usd`` = GPU-hours × the GPU's price
  (+ the vector database's monthly bill for retrieval over a corpus);
  ``cost_per_1k_requests_usd`` = monthly ÷ requests per month × 1,000.
* **Replicas sized for the peak** beside it: ``⌈peak rate ÷ per-replica rate⌉`` per stream with
  peak = mean × the deployment's peak-to-average ratio (:mod:`app.estimators.traffic`), and the
  **provisioned** GPU-hours and monthly cost: those replicas all month (with an hourly profile,
  hour by hour), the deployment page's figure (:func:`app.estimators.traffic.plan_traffic`).
* **p95 latency at the peak**: continuous batching simulated with Poisson arrivals on one replica
  at its share of the peak (:func:`app.estimators.simulation.simulate_load`, × samples per
  request), with the retrieval latency added to TTFT and TPOT scaled by the speculative-decoding
  and unmerged-adapter factors; ``time_to_answer_p95_ms`` = TTFT + reasoning tokens × TPOT, and
  with k > 1 self-consistency samples the vote waits for the slowest of the k complete samples
  (reasoning and answer tokens). The SLO checks: TTFT and TPOT against their SLOs, the time to
  the answer against the TTFT SLO (the user waits for the answer's first token).
* **Traffic share**: a share-limited technique serves ``share`` of the requests through the
  changed scenario and the rest through the unchanged one, plus a routing classifier on every
  request (:data:`ROUTER_SOURCE`). Routing is used only when it needs fewer GPU-hours than applying
  the technique to all traffic, so raising the share never lowers the cost.
* **One-off costs** by kind: GPU (training), labelling, preference data, embedding and index
  building (GraphRAG's generated output included), evaluation (see the interventions' sources).
* **Bands** (``range``, issue 19 item 6): each figure after the change with the 10-90% band of
  its family's leave-one-source-out errors on the after deployment's GPU generation
  (:mod:`app.estimators.bands`): TTFT from ``prefill_ttft_unloaded``, TPOT from
  ``batch1_decode``, the time to the answer as the TTFT band plus the decode part (answer − TTFT)
  scaled by the TPOT band (both errors at their extremes together: a wide, not a narrow, band);
  money from ``static_batch_throughput`` (the throughput family behind the GPU-hours): the
  serving GPU-hours divided by the speed factors, the router's hours and the vector database's
  bill unchanged, the SLO-limited batch held fixed (first order). A figure without a band is None,
  with the reason in the assumptions.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from app.estimators import bands
from app.estimators.inference import Workload, estimate_inference, step_model
from app.estimators.interventions import (
    ONE_OFF_KINDS,
    Intervention,
    OneOff,
    Scenario,
    ServingOutcome,
    SwapModel,
    apply_all,
    evaluate,
    speculative_gain,
)
from app.estimators.precision import Precision
from app.estimators.simulation import (
    HOURS_PER_MONTH,
    MAX_LOAD_REQUESTS,
    LoadResult,
    plan_capacity,
    running_limits,
    simulate_load,
)
from app.estimators.traffic import TrafficShape, plan_traffic
from app.estimators.training import DEFAULT_MFU

SECONDS_PER_DAY = 86400.0
LOAD_REQUESTS = MAX_LOAD_REQUESTS  # simulated requests per load point (the planner's)
MIN_RATE = 1e-6  # requests/s: the lowest peak rate simulated
UNBOUNDED_MS = 1e12  # "no SLO": size on throughput alone
MAX_GPUS_FOR_SWAP = 64

# The routing classifier that sends the hard requests to the reasoning path: an encoder the size
# of BAAI/bge-large-en-v1.5 (335M parameters, the retriever's embedding model) reading up to its
# 512-token window of each prompt, 2·N FLOPs per token at the training estimator's MFU.
ROUTER_PARAMS = 335e6
ROUTER_MAX_TOKENS = 512
ROUTER_SOURCE = (
    "a routing classifier on every request: a 335M-parameter encoder (the size of "
    "BAAI/bge-large-en-v1.5) over up to 512 prompt tokens, 2·N FLOPs per token at 40% MFU "
    "on the deployment's GPU; an assumption"
)
# Managed vector database: Weaviate Cloud Flex, $0.00465 per 1M vector dimensions per month,
# plans from $45/month (obs. 2026-10-07, economics.md §3.3 [N-WV]); 1,024-dimensional vectors
# (bge-large-en-v1.5).
VECTOR_DIMS = 1024
VECTOR_DB_USD_PER_M_DIMS = 0.00465
VECTOR_DB_MIN_USD = 45.0
VECTOR_DB_SOURCE = (
    "vector database: Weaviate Cloud Flex, $0.00465 per 1M dimensions a month, from $45/month "
    "(obs. 2026-10-07, economics.md §3.3 [N-WV]); 1,024-dimension vectors, one per chunk"
)


@dataclass(frozen=True, slots=True)
class Stream:
    scenario: Scenario
    share: float


@dataclass(frozen=True, slots=True)
class Side:
    """A deployment's figures under one way of serving it (before or after a change)."""

    fits: bool
    reason: str | None
    replicas: int | None
    gpu_hours: float | None
    monthly_cost_usd: float | None
    cost_per_1k_requests_usd: float | None
    ttft_p95_ms: float | None
    tpot_p95_ms: float | None
    time_to_answer_p95_ms: float | None
    saturated: bool
    router_gpu_hours: float = 0.0  # part of gpu_hours not driven by the serving speed
    vector_db_usd: float = 0.0  # part of monthly_cost_usd not driven by GPU-hours
    # What the deployment page shows: the peak's replicas running all month (or the hourly
    # profile's replicas hour by hour), GPU-hours and their monthly bill
    provisioned_gpu_hours: float | None = None
    provisioned_monthly_cost_usd: float | None = None
    slo_sized: bool = True  # False: no rate meets the SLOs, sized on throughput alone
    # the provisioned bill per 1,000 requests: the deployment page's cost per 1,000 requests
    provisioned_cost_per_1k_requests_usd: float | None = None


def router_gpu_hours_per_request(s: Scenario) -> float:
    flops = 2 * ROUTER_PARAMS * min(s.input_tokens, ROUTER_MAX_TOKENS)
    return flops / (s.gpu.peak_flops(Precision.bf16) * DEFAULT_MFU) / 3600


def vector_db_monthly_usd(vectors: float) -> float:
    if vectors <= 0:
        return 0.0
    return max(VECTOR_DB_MIN_USD, vectors * VECTOR_DIMS / 1e6 * VECTOR_DB_USD_PER_M_DIMS)


P95 = Callable[[LoadResult], tuple[float, float, float]]


def p95_of(sc: Scenario, static: ServingOutcome) -> P95:
    """What one replica's simulated load means for ``sc``: TTFT, TPOT and time-to-answer p95
    (ms), with the retrieval latency added to TTFT, the prefix cache's static prefill saving on
    TTFT, and the speculative-decoding (at the batch the load produces) and unmerged-adapter
    factors on TPOT. For an unchanged deployment these are the simulated figures as they are."""
    plain = evaluate(replace(sc, speculative=None, adapter_params=0, extra_weight_bytes=0.0))
    factor0 = static.tpot_ms / plain.tpot_ms if plain.tpot_ms > 0 else 1.0
    cache_scale = 1.0
    if sc.cached_prompt_share:  # the simulation prefills whole prompts: scale by the cache's
        whole = evaluate(replace(sc, cached_prompt_share=0.0))  # static prefill saving
        cache_scale = (static.ttft_ms - sc.extra_ttft_ms) / (whole.ttft_ms - sc.extra_ttft_ms)
    before_answer = sc.cot_tokens + (sc.output_tokens if sc.samples > 1 else 0)
    gain1 = speculative_gain(sc, 1)

    def p95(sim: LoadResult) -> tuple[float, float, float]:
        # Speculative decoding's gain at the batch this load produces, not the idle (batch-1) gain.
        factor = factor0 * (gain1 / speculative_gain(sc, sim.mean_batch))
        tpot = sim.tpot_ms[95] * factor
        ttft = sim.ttft_ms[95] * cache_scale + sc.extra_ttft_ms
        return ttft, tpot, ttft + before_answer * tpot

    return p95


@dataclass(frozen=True, slots=True)
class Capacity:
    """One stream's capacity plan: sequences/s one replica sustains, the p95 figures at the peak
    and how they were found."""

    seq_rate_per_replica: float
    replicas: int
    provisioned_gpu_hours: float
    ttft_p95_ms: float
    tpot_p95_ms: float
    time_to_answer_p95_ms: float
    saturated: bool
    meets_slos_at_some_rate: bool


def plan_stream(
    sc: Scenario, static: ServingOutcome, requests_per_day: float, planner: bool = True
) -> Capacity | str:
    """The deployment page's capacity planner (:func:`app.estimators.simulation.plan_capacity`:
    the highest rate one replica sustains with p95 TTFT and TPOT within the SLOs, simulated
    continuous batching, bisection) applied to ``sc`` at ``requests_per_day`` (already scaled by
    the stream's share and load factor), with ``sc``'s changes applied to the simulated figures
    (:func:`p95_of`); k samples are k sequences per request. When no rate meets the SLOs, the
    highest rate one replica sustains without saturating (the SLOs then missed). Or why none.

    ``planner=False`` (the portfolio search's screening, where a planner per serving state is
    too slow): the static SLO-limited batch's rate and one load simulation at the peak."""
    gen = sc.output_tokens + sc.cot_tokens
    one = estimate_inference(sc.arch, sc.gpu, sc.engine, sc.cfg, Workload(sc.input_tokens, gen, 1))
    sm = step_model(sc.arch, sc.gpu, sc.engine, sc.cfg)
    limits = running_limits(sc.engine, sm, one.memory)
    if limits.max_seqs < 1:
        return "the model does not fit: no room for a KV cache"
    p95 = p95_of(sc, static)
    seqs_per_day = requests_per_day * sc.samples
    if 0 < seqs_per_day:  # a vanishing share: simulate at least MIN_RATE requests/s at the peak
        seqs_per_day = max(seqs_per_day, MIN_RATE * SECONDS_PER_DAY / sc.peak_to_average)
    shape = TrafficShape(sc.peak_to_average, sc.hourly_profile, "")
    if not planner:
        rate = static.requests_per_s_per_replica * sc.samples
        traffic = plan_traffic(shape, seqs_per_day, rate, sc.cfg.n_gpus)
        sim = simulate_load(
            sm,
            request_rate=max(traffic.requests_per_s_peak / traffic.replicas, MIN_RATE),
            input_tokens=sc.input_tokens,
            output_tokens=gen,
            max_seqs=limits.max_seqs,
            max_batched_tokens=limits.max_batched_tokens,
            n_requests=LOAD_REQUESTS,
        )
        t1, t2, t3 = p95(sim)
        return Capacity(
            rate, traffic.replicas, traffic.gpu_hours_per_month, t1, t2, t3, sim.saturated, True
        )
    args: dict[str, Any] = {
        "requests_per_day": seqs_per_day,
        "input_tokens": sc.input_tokens,
        "output_tokens": gen,
        "max_seqs": limits.max_seqs,
        "max_batched_tokens": limits.max_batched_tokens,
        "price_per_gpu_hour": None,
        "peak_to_mean": sc.peak_to_average,
    }
    plan = plan_capacity(
        sm,
        ttft_slo_ms=sc.ttft_slo_ms,
        tpot_slo_ms=sc.tpot_slo_ms,
        adjust=lambda r: p95(r)[:2],
        **args,
    )
    met = plan.replicas is not None
    if not met:  # sized on throughput alone: the busiest rate that does not queue without bound
        plan = plan_capacity(sm, ttft_slo_ms=UNBOUNDED_MS, tpot_slo_ms=UNBOUNDED_MS, **args)
        if plan.replicas is None:
            return plan.reason or "one replica cannot serve any load"
    at = plan.at_planned_rate or plan.at_max_rate
    assert at is not None
    traffic = plan_traffic(shape, seqs_per_day, plan.max_rate_per_replica, sc.cfg.n_gpus)
    ttft, tpot, answer = p95(at)
    return Capacity(
        plan.max_rate_per_replica,
        traffic.replicas,
        traffic.gpu_hours_per_month,
        ttft,
        tpot,
        answer,
        at.saturated,
        met,
    )


def serve(base: Scenario, streams: Sequence[Stream], *, router: bool, planner: bool = True) -> Side:
    """Price serving ``base``'s traffic split over ``streams`` (shares summing to 1)."""
    avg = base.requests_per_day / SECONDS_PER_DAY
    per_month = base.requests_per_day * HOURS_PER_MONTH / 24
    hours, provisioned, replicas, vectors = 0.0, 0.0, 0, 0.0
    gpu_usd: float | None = 0.0
    prov_usd: float | None = 0.0
    ttft = tpot = answer = 0.0
    saturated, slo_sized = False, True
    for st in streams:
        if st.share <= 0:
            continue
        sc = replace(
            st.scenario, peak_to_average=base.peak_to_average, hourly_profile=base.hourly_profile
        )
        out = evaluate(sc)
        if not out.fits:
            return Side(
                False, out.reason or "does not fit", None, None, None, None, None, None, None, False
            )
        # the GPUs serve load_factor requests per incoming one (response-cache misses, a
        # cascade's routed share, guardrail checks)
        rpd = base.requests_per_day * st.share * sc.load_factor
        cap = plan_stream(sc, out, rpd, planner)
        if isinstance(cap, str):
            return Side(False, cap, None, None, None, None, None, None, None, False)
        needed = (
            avg
            * st.share
            * sc.load_factor
            * sc.samples
            * HOURS_PER_MONTH
            / cap.seq_rate_per_replica
            * sc.cfg.n_gpus
        )
        hours += needed
        provisioned += cap.provisioned_gpu_hours
        # each stream's GPU-hours at its own GPU's price (right-sizing moves to another type)
        p = sc.gpu.price_per_hour_usd
        gpu_usd = None if p is None or gpu_usd is None else gpu_usd + needed * p
        prov = cap.provisioned_gpu_hours
        prov_usd = None if p is None or prov_usd is None else prov_usd + prov * p
        replicas += cap.replicas
        ttft = max(ttft, cap.ttft_p95_ms)
        tpot = max(tpot, cap.tpot_p95_ms)
        answer = max(answer, cap.time_to_answer_p95_ms)
        saturated = saturated or cap.saturated
        slo_sized = slo_sized and cap.meets_slos_at_some_rate
        vectors = max(vectors, sc.index_vectors)
    router_hours = per_month * router_gpu_hours_per_request(base) if router else 0.0
    hours += router_hours
    price = base.gpu.price_per_hour_usd  # the router classifier runs on the deployment's GPU
    if price is None or not router_hours:
        router_usd: float | None = 0.0 if not router_hours else None
    else:
        router_usd = router_hours * price
    monthly = per_month_cost = prov_monthly = None
    vdb = vector_db_monthly_usd(vectors)
    if prov_usd is not None and router_usd is not None:
        prov_monthly = prov_usd + router_usd + vdb
    if gpu_usd is not None and router_usd is not None and per_month > 0:
        monthly = gpu_usd + router_usd + vdb
        per_month_cost = monthly / per_month * 1000
    prov_per_1k = None
    if prov_monthly is not None and per_month > 0:
        prov_per_1k = prov_monthly / per_month * 1000
    return Side(
        True,
        None,
        replicas,
        hours,
        monthly,
        per_month_cost,
        ttft,
        tpot,
        answer,
        saturated,
        router_hours,
        vdb,
        provisioned + router_hours,
        prov_monthly,
        slo_sized,
        prov_per_1k,
    )


BAND_FAMILIES: dict[str, str] = {
    "ttft_p95_ms": "prefill_ttft_unloaded",
    "tpot_p95_ms": "batch1_decode",
    "time_to_answer_p95_ms": "prefill_ttft_unloaded + batch1_decode",
    "monthly_cost_usd": "static_batch_throughput",
    "cost_per_1k_requests_usd": "static_batch_throughput",
}


def side_ranges(
    side: Side, gpu_key: str, price: float | None, table: dict[str, Any] | None = None
) -> tuple[dict[str, dict[str, float] | None], list[str]]:
    """The 10-90% bands of ``side``'s figures on ``gpu_key``'s generation (see the module's
    docstring), and why a figure has none."""
    out: dict[str, dict[str, float] | None] = dict.fromkeys(BAND_FAMILIES)
    why: list[str] = []
    if not side.fits:
        return out, [f"no bands: {side.reason or 'the change does not fit'}"]
    pre = bands.band("prefill_ttft_unloaded", gpu_key, table)
    dec = bands.band("batch1_decode", gpu_key, table)
    thr = bands.band("static_batch_throughput", gpu_key, table)
    for name, b in (("ttft_p95_ms", pre), ("tpot_p95_ms", dec)):
        value = getattr(side, name)
        if b is not None and value is not None:
            out[name] = b.time(value)
    if pre is not None and dec is not None and side.time_to_answer_p95_ms is not None:
        t = side.ttft_p95_ms or 0.0
        t_band, d_band = pre.time(t), dec.time(side.time_to_answer_p95_ms - t)
        out["time_to_answer_p95_ms"] = {k: t_band[k] + d_band[k] for k in ("p10", "p90")}
    if thr is not None and side.gpu_hours is not None and side.monthly_cost_usd and price:
        serving = side.gpu_hours - side.router_gpu_hours
        m = {
            k: (serving / math.exp(x) + side.router_gpu_hours) * price + side.vector_db_usd
            for k, x in (("p10", thr.p90), ("p90", thr.p10))
        }
        out["monthly_cost_usd"] = m
        if side.cost_per_1k_requests_usd is not None:
            f = side.cost_per_1k_requests_usd / side.monthly_cost_usd
            out["cost_per_1k_requests_usd"] = {k: v * f for k, v in m.items()}
    for name, fam in BAND_FAMILIES.items():
        if out[name] is not None:
            continue
        if name in ("monthly_cost_usd", "cost_per_1k_requests_usd") and (
            side.monthly_cost_usd is None or not price
        ):
            why.append(f"no band for {name}: the figure itself is unavailable")
        else:
            why.append(f"no band for {name}: no held-out {fam} rows to build one from")
    return out, why


def fit_swap(s: Scenario, interventions: Sequence[Intervention]) -> Scenario:
    """A swapped-in model on as many GPUs as its weights need (doubling the count)."""
    if any(isinstance(x, SwapModel) for x in interventions):
        while not evaluate(s).fits and s.cfg.n_gpus * 2 <= MAX_GPUS_FOR_SWAP:
            s = replace(s, cfg=replace(s.cfg, n_gpus=s.cfg.n_gpus * 2))
    return s


@dataclass(frozen=True, slots=True)
class Priced:
    before: Side
    after: Side
    traffic_share: float
    routed: bool
    after_scenario: Scenario
    one_offs: tuple[OneOff, ...]
    assumptions: tuple[str, ...]
    ttft_slo_ms: float
    tpot_slo_ms: float
    ranges: dict[str, dict[str, float] | None] = field(default_factory=dict)

    def slo_after(self) -> dict[str, bool]:
        a = self.after
        return {
            "ttft_ok": bool(
                a.fits and a.ttft_p95_ms is not None and a.ttft_p95_ms <= self.ttft_slo_ms
            ),
            "tpot_ok": bool(
                a.fits and a.tpot_p95_ms is not None and a.tpot_p95_ms <= self.tpot_slo_ms
            ),
            "time_to_answer_ok": bool(
                a.fits
                and a.time_to_answer_p95_ms is not None
                and a.time_to_answer_p95_ms <= self.ttft_slo_ms
            ),
        }

    @property
    def meets_slo(self) -> bool:
        return all(self.slo_after().values())

    def one_off_usd(self) -> dict[str, float | None]:
        out: dict[str, float | None] = {}
        for kind in ONE_OFF_KINDS:
            parts = [o.cost_usd for o in self.one_offs if o.kind == kind]
            out[kind] = (
                None if any(p is None for p in parts) else round(sum(p or 0.0 for p in parts), 2)
            )
        values = list(out.values())
        out["total"] = (
            None if any(v is None for v in values) else round(sum(v or 0.0 for v in values), 2)
        )
        return {"total": out.pop("total"), **out}

    def fields(self) -> dict[str, Any]:
        """The card's contract figures (and the deltas the card has always shown)."""
        b, a = self.before, self.after

        def r(v: float | None, n: int | None) -> float | None:
            """Rounded to ``n`` digits (None: unrounded, for money)."""
            return v if v is None or n is None else round(v, n)

        def pair(
            x: float | None, y: float | None, n: int | None, delta: bool = True
        ) -> dict[str, Any]:
            out = {"before": r(x, n), "after": r(y, n)}
            if delta:
                out["delta"] = None if x is None or y is None else r(y - x, n)
            return out

        one_off = self.one_off_usd()
        ttft = pair(b.ttft_p95_ms, a.ttft_p95_ms, 3)
        tpot = pair(b.tpot_p95_ms, a.tpot_p95_ms, 4)
        monthly = pair(b.monthly_cost_usd, a.monthly_cost_usd, None)  # money unrounded
        return {
            "monthly_cost_delta_usd": monthly["delta"],
            "one_off_cost_usd": one_off["total"],
            "ttft_delta_ms": ttft["delta"],
            "tpot_delta_ms": tpot["delta"],
            "cost_per_1k_requests_usd": pair(
                b.cost_per_1k_requests_usd, a.cost_per_1k_requests_usd, None
            ),
            "monthly_cost_usd": monthly,
            "provisioned_monthly_cost_usd": pair(
                b.provisioned_monthly_cost_usd, a.provisioned_monthly_cost_usd, None
            ),
            "provisioned_cost_per_1k_requests_usd": pair(
                b.provisioned_cost_per_1k_requests_usd, a.provisioned_cost_per_1k_requests_usd, None
            ),
            "replicas": {"before": b.replicas, "after": a.replicas},
            "gpu_hours_per_month": pair(b.gpu_hours, a.gpu_hours, 2, delta=False),
            "ttft_p95_ms": {k: ttft[k] for k in ("before", "after")},
            "tpot_p95_ms": {k: tpot[k] for k in ("before", "after")},
            "time_to_answer_p95_ms": pair(
                b.time_to_answer_p95_ms, a.time_to_answer_p95_ms, 3, delta=False
            ),
            "slo_after": self.slo_after(),
            "traffic_share": round(self.traffic_share, 4),
            "one_off_usd": one_off,
            "range": {
                k: None if v is None else {q: round(x, 4) for q, x in v.items()}
                for k, v in self.ranges.items()
            },
        }


def price_change(
    base: Scenario,
    whole: Sequence[Intervention],
    limited: Sequence[Intervention] = (),
    share: float = 1.0,
    *,
    planner: bool = True,
) -> Priced:
    """Price ``whole`` (applied to all traffic) plus ``limited`` (applied to ``share`` of it);
    ``planner=False`` only for the portfolio search's screening (see :func:`plan_stream`)."""
    share = min(max(share, 0.0), 1.0)
    notes: list[str] = []
    before = serve(base, [Stream(base, 1.0)], router=False, planner=planner)
    main, main_offs = apply_all(base, list(whole))
    main = fit_swap(main, whole)
    none_hit = bool(limited) and share <= 0.0
    if none_hit:
        # The failure hits no request (an answered 0 %): the share-limited change runs on none,
        # so it adds no GPU-hours, no routing classifier and no one-off; the card says so.
        full, one_offs, limited = main, main_offs, ()
        notes.append(
            "applied to 0% of requests (the share the failure hits, as answered): it "
            "runs on no request, so it adds nothing to the cost"
        )
    else:
        full, one_offs = apply_all(base, [*whole, *limited])
        full = fit_swap(full, [*whole, *limited])
    after = serve(base, [Stream(full, 1.0)], router=False, planner=planner)
    effective, routed = (0.0 if none_hit else 1.0), False
    if limited and share < 1.0:
        split = serve(
            base, [Stream(main, 1.0 - share), Stream(full, share)], router=True, planner=planner
        )
        if not after.fits or (
            split.fits
            and split.gpu_hours is not None
            and after.gpu_hours is not None
            and split.gpu_hours <= after.gpu_hours
        ):
            after, effective, routed = split, share, True
            notes.append(
                f"applied to {share:.0%} of requests (the share the failure hits); " + ROUTER_SOURCE
            )
        else:
            notes.append(
                f"applied to all requests: routing {share:.0%} of them through a "
                "classifier would need more GPU-hours than it saves"
            )
    if full.index_vectors:
        notes.append(VECTOR_DB_SOURCE)
    notes.append(
        f"per-replica capacity: the deployment page's planner (the highest rate whose simulated "
        f"p95 TTFT and TPOT meet the SLOs, with the change's effects applied); monthly = "
        f"GPU-hours actually needed (fractional) x price; provisioned = the peak's replicas "
        f"({base.peak_to_average:g}x the mean rate) x GPUs x 730 h x price, the deployment "
        f"page's figure; p95 latency simulated at the peak"
    )
    for label, side in (("before", before), ("after", after)):
        if side.fits and not side.slo_sized:
            notes.append(
                f"{label}: no rate meets the SLOs; replicas sized on throughput alone "
                "(the highest rate one replica sustains without an unbounded queue)"
            )
    ranges, why = side_ranges(after, full.gpu.key, full.gpu.price_per_hour_usd)
    if any(v is not None for v in ranges.values()):
        used = sorted({f for k, f in BAND_FAMILIES.items() if ranges[k] is not None})
        notes.append(
            "range after the change: p10-p90 of measured/estimated on published rows predicted "
            "without their own publication (leave-one-source-out); "
            + "; ".join(d for f in used for d in [bands.describe(f, full.gpu.key)] if d)
            + "; money scales the serving GPU-hours with the static-batch throughput band, "
            "the SLO-limited batch held fixed"
        )
    notes.extend(why)
    return Priced(
        before,
        after,
        effective,
        routed,
        full,
        tuple(one_offs),
        tuple(notes),
        base.ttft_slo_ms,
        base.tpot_slo_ms,
        ranges,
    )
