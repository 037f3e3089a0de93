"""Portfolio search (issue 20): the combined figures are evaluate_portfolio's; the frontier equals
brute force on a small space; every Pareto point is feasible-or-marked and non-dominated; more
budget never lowers the best feasible coverage; serving comes first when its economics fail."""

from __future__ import annotations

import itertools
from dataclasses import replace
from functools import cache

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.estimators.architecture import Architecture
from app.estimators.engines import ENGINES
from app.estimators.errors import FieldError
from app.estimators.inference import ServingConfig
from app.estimators.interventions import Scenario
from app.estimators.portfolio import AxisData, Item, evaluate_portfolio
from app.estimators.quality import figures_from_rows
from app.estimators.reference_data import catalog_architecture, catalog_gpu, read_rows
from app.estimators.search import (
    MAX_SERVING_STACK,
    MAX_SERVING_STACKED,
    SERVING_AXIS,
    Constraints,
    FailureMode,
    Option,
    Point,
    SearchResult,
    Space,
    StateOutcome,
    _options,
    build_space,
    choose,
    combine,
    evaluate_states,
    feasible,
    figures,
    search,
)
from app.estimators.serving_interventions import GPU_KEYS
from app.rules.reference import catalog

C = catalog()
GPU = replace(catalog_gpu("h100_sxm_80gb"), price_per_hour_usd=2.5)
QUALITY = figures_from_rows(read_rows("model_quality.csv"))


def _arch(key: str) -> Architecture:
    """A catalog model with its published quality figures (swaps are chosen by them)."""
    return replace(catalog_architecture(key), quality=QUALITY.get(key, ()))


BASE = Scenario(
    _arch("llama_3_1_8b"),
    GPU,
    ENGINES["vllm"],
    ServingConfig(n_gpus=1),
    1500,
    250,
    500_000,
    1000,
    40,
)
MODELS = {k: _arch(k) for k in ("llama_3_1_70b", "mixtral_8x7b")}
DATA = AxisData(C["matrix"], C["profiles"], {}, C["techniques"], MODELS)
STALE = FailureMode("factual_staleness", ("retrieval",), 3, 0.4, 2)
DOMAIN = FailureMode("domain_accuracy_gap", ("peft",), 2, 0.3, 0)
POLICY = FailureMode("policy_noncompliance", ("alignment",), 3, 0.1, 3)
COMPLEX = FailureMode("complex_task_errors", ("reasoning_compute",), 2, 0.15, 1)
FLOOR = FailureMode("capability_floor", ("dense_pretraining",), 2, 0.5, 0)
SERVING = FailureMode("serving_cost", ("serving_optimization",), 2, 1.0, 0)


@cache
def small() -> tuple[Space, dict[int, StateOutcome]]:
    space = build_space(BASE, DATA, [STALE, DOMAIN], corpus_tokens=1e8)
    return space, evaluate_states(space, range(len(space.states)))


def _result(c: Constraints) -> SearchResult:
    """The screening stage alone (every candidate's serving state, planner=False)."""
    space, outcomes = small()
    return combine(space, outcomes, c, 0.0, planner=False)


def _final(c: Constraints) -> SearchResult:
    """The whole search: the screened frontier priced again with the capacity planner."""
    space, outcomes = small()
    return combine(space, outcomes, c, 0.0)


def _vec(p: Point) -> tuple[float, float, int, float]:
    inf = float("inf")
    return (
        inf if p.monthly_cost_usd is None else p.monthly_cost_usd,
        inf if p.time_to_answer_p95_ms is None else p.time_to_answer_p95_ms,
        p.governance_burden,
        -p.coverage,
    )


def _dominates(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return all(x <= y for x, y in zip(a, b, strict=True)) and a != b


def test_combined_figures_are_evaluate_portfolio() -> None:
    """Candidates with a model swap, one-off options on the swapped model, retrieval over
    regulated data and serving options: every figure as evaluate_portfolio gives it."""
    space = build_space(BASE, DATA, [FLOOR, DOMAIN, STALE], regulated=True, corpus_tokens=1e8)
    rng = np.random.default_rng(7)
    picks = rng.choice(space.size, size=14, replace=False).tolist()
    swapped = [
        n
        for n in range(space.size)
        if space.choice[n][space.axes.index("dense_pretraining")] > 0
        and space.choice[n][space.axes.index("peft")] > 0
    ]
    picks += swapped[:: max(1, len(swapped) // 4)][:4]
    states = sorted({int(space.state[n]) for n in picks})
    outcomes = evaluate_states(space, states)
    fig = figures(space, outcomes)
    checked = 0
    for n in picks:
        ev = evaluate_portfolio(BASE, space.items(n), DATA, regulated=True, planner=False)
        assert fig.fits[n] == ev.fits
        assert int(fig.burden[n]) == ev.governance_burden
        if ev.monthly_cost_usd is not None:
            assert fig.cost[n] == ev.monthly_cost_usd
        if ev.one_off_cost_usd is not None:
            assert fig.one_off[n] == pytest.approx(ev.one_off_cost_usd, abs=0.02)
        if ev.ttft_ms_p95 is not None:
            assert fig.tta[n] == ev.time_to_answer_ms_p95
            assert fig.tpot[n] == ev.tpot_ms_p95
            checked += 1
    assert checked >= 10
    assert swapped, "the space holds swaps combined with a fine-tune"


@pytest.mark.slow
def test_pareto_equals_brute_force_on_a_small_space() -> None:
    space, _ = small()
    c = Constraints(
        monthly_budget_usd=4000,
        one_off_budget_usd=2000,
        ttft_p95_ms=800,
        tpot_p95_ms=40,
        governance_capacity=6,
    )
    res = _result(c)
    pts: list[tuple[tuple[float, float, int, float], bool]] = []
    for n in range(space.size):
        ev = evaluate_portfolio(BASE, space.items(n), DATA, planner=False)
        if not ev.fits or ev.ttft_ms_p95 is None or ev.tpot_ms_p95 is None:
            continue
        cov = sum(
            f.weight for f in space.failure_modes if any(i.axis in f.axes for i in space.items(n))
        )
        cov = round(cov / sum(f.weight for f in space.failure_modes), 4)
        ttft = ev.ttft_ms_p95  # no reasoning option in this space: TTFT = time to answer
        ok = (
            ev.monthly_cost_usd is not None
            and ev.monthly_cost_usd <= 4000
            and ev.one_off_cost_usd is not None
            and ev.one_off_cost_usd <= 2000 + 0.01
            and ttft <= 800
            and ev.tpot_ms_p95 <= 40
            and ev.governance_burden <= 6
        )
        cost = ev.monthly_cost_usd if ev.monthly_cost_usd is not None else float("inf")
        pts.append(((cost, ev.ttft_ms_p95, ev.governance_burden, -cov), ok))
    assert res.candidates_evaluated == space.size
    feas = {v for v, ok in pts if ok}
    brute_feasible = {v for v in feas if not any(_dominates(w, v) for w in feas)}
    allv = {v for v, _ in pts}
    brute_all = {v for v in allv if not any(_dominates(w, v) for w in allv)}
    got_feasible = {_vec(p) for p in res.pareto if p.feasible}
    got_marked = {_vec(p) for p in res.pareto if not p.feasible}
    assert got_feasible == brute_feasible
    assert got_marked == {v for v in brute_all if v not in feas}
    assert brute_feasible, "the constraints leave something feasible"


constraints = st.builds(
    Constraints,
    monthly_budget_usd=st.one_of(st.none(), st.floats(500, 20_000)),
    one_off_budget_usd=st.one_of(st.none(), st.floats(0, 20_000)),
    ttft_p95_ms=st.one_of(st.none(), st.floats(50, 3000)),
    tpot_p95_ms=st.one_of(st.none(), st.floats(5, 100)),
    time_to_answer_p95_ms=st.one_of(st.none(), st.floats(50, 3000)),
    governance_capacity=st.one_of(st.none(), st.integers(0, 12)),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(constraints)
def test_every_point_is_feasible_or_marked_and_not_dominated(c: Constraints) -> None:
    space, outcomes = small()
    res = _result(c)
    fig = figures(space, outcomes)
    feas = feasible(fig, c, serving_first=res.serving_first)
    ok = fig.valid & fig.fits & ~np.isnan(fig.tta)
    inf = np.inf
    obj = np.stack(
        [
            np.where(np.isnan(fig.cost), inf, fig.cost),
            fig.tta,
            fig.burden.astype(float),
            -fig.coverage,
        ],
        axis=1,
    )
    for p in res.pareto:
        v = np.array(_vec(p))
        assert p.feasible == bool(feas[p.index])
        pool = obj[feas] if p.feasible else obj[ok]
        strictly = np.all(pool <= v, axis=1) & np.any(pool < v, axis=1)
        assert not strictly.any(), f"{p} is dominated"
        if p.feasible:
            assert (
                c.monthly_budget_usd is None or (p.monthly_cost_usd or inf) <= c.monthly_budget_usd
            )
            assert c.governance_capacity is None or p.governance_burden <= c.governance_capacity
    best = res.best.index
    if res.serving_first:  # serving first: a plan without a serving option is not feasible
        assert all(any(i.axis == SERVING_AXIS for i in p.items) for p in res.pareto if p.feasible)
    if feas.any():
        assert best is not None
        assert res.pareto[best].feasible
    else:
        assert best is None


@settings(max_examples=30, deadline=None)
@given(constraints, st.floats(0, 20_000))
def test_more_budget_never_lowers_the_best_feasible_coverage(c: Constraints, more: float) -> None:
    def best_cov(r: SearchResult) -> float:
        i = r.best.index
        return -1.0 if i is None else r.pareto[i].coverage

    low = _result(c)
    richer = replace(
        c, monthly_budget_usd=None if c.monthly_budget_usd is None else c.monthly_budget_usd + more
    )
    assert best_cov(_result(richer)) >= best_cov(low)
    wider = replace(
        c, one_off_budget_usd=None if c.one_off_budget_usd is None else c.one_off_budget_usd + more
    )
    assert best_cov(_result(wider)) >= best_cov(low)


def test_state_evaluation_equals_the_single_portfolio_computation_on_random_candidates() -> None:
    """The search's per-state evaluation (screen_items: cached plans, apply_all memoised by
    prefix, no unchanged side) combined with numpy gives, for random candidates of a space with
    four failure modes (retrieval, reasoning, fine-tunes, alignment and guardrails, plus serving
    options), exactly the figures evaluate_portfolio(planner=False) gives the candidate alone."""
    space = build_space(BASE, DATA, [STALE, COMPLEX, DOMAIN, POLICY], corpus_tokens=1e8)
    assert space.size >= 10_000
    assert len(space.states) > 500
    rng = np.random.default_rng(20)
    picks = rng.choice(space.size, size=16, replace=False).tolist()
    states = sorted({int(space.state[n]) for n in picks})
    fig = figures(space, evaluate_states(space, states))
    for n in picks:
        ev = evaluate_portfolio(BASE, space.items(n), DATA, planner=False)
        assert bool(fig.fits[n]) == ev.fits, space.items(n)
        assert int(fig.burden[n]) == ev.governance_burden
        assert fig.one_off[n] == pytest.approx(ev.one_off_cost_usd, abs=0.02)
        if ev.fits:
            assert fig.cost[n] == ev.monthly_cost_usd
            assert fig.tta[n] == ev.time_to_answer_ms_p95
            assert fig.tpot[n] == ev.tpot_ms_p95


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(constraints)
def test_final_points_carry_the_planners_figures_and_are_not_dominated(c: Constraints) -> None:
    """With the planner (the default): every point's figures are evaluate_portfolio's with the
    capacity planner (what its saved portfolio shows); it is feasible by them or marked; no
    returned point dominates another of its kind; the pick is feasible."""
    space, _ = small()
    res = _final(c)
    vecs = [(_vec(p), p.feasible) for p in res.pareto]
    for p in res.pareto:
        ev = evaluate_portfolio(BASE, list(p.items), DATA)
        assert (
            p.monthly_cost_usd,
            p.one_off_usd,
            p.ttft_p95_ms,
            p.tpot_p95_ms,
            p.time_to_answer_p95_ms,
            p.governance_burden,
        ) == (
            ev.monthly_cost_usd,
            ev.one_off_cost_usd,
            ev.ttft_ms_p95,
            ev.tpot_ms_p95,
            ev.time_to_answer_ms_p95,
            ev.governance_burden,
        )
        pairs = (
            (p.monthly_cost_usd, c.monthly_budget_usd),
            (p.one_off_usd, c.one_off_budget_usd),
            (p.ttft_p95_ms, c.ttft_p95_ms),
            (p.tpot_p95_ms, c.tpot_p95_ms),
            (p.time_to_answer_p95_ms, c.time_to_answer_p95_ms),
            (p.governance_burden, c.governance_capacity),
        )
        within = all(lim is None or (v is not None and v <= lim) for v, lim in pairs)
        if p.feasible:
            assert within
        v = _vec(p)
        pool = [w for w, f in vecs if f] if p.feasible else [w for w, _ in vecs]
        assert not any(_dominates(w, v) for w in pool), f"{p} is dominated"
    best = res.best.index
    if best is not None:
        assert res.pareto[best].feasible
    assert space.finals, "the frontier was priced with the planner"


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(constraints, st.floats(0, 20_000))
def test_more_budget_never_lowers_the_best_final_coverage(c: Constraints, more: float) -> None:
    def best_cov(r: SearchResult) -> float:
        i = r.best.index
        return -1.0 if i is None else r.pareto[i].coverage

    low = _final(c)
    richer = replace(
        c, monthly_budget_usd=None if c.monthly_budget_usd is None else c.monthly_budget_usd + more
    )
    assert best_cov(_final(richer)) >= best_cov(low)


def _pt(items: list[str], coverage: float, cost: float) -> Point:
    axis = {"rag": "retrieval", "qlora": "peft", "quantization": SERVING_AXIS}
    return Point(
        0,
        tuple(Item(axis[t], t, {}) for t in items),
        cost,
        0.0,
        100.0,
        10.0,
        100.0,
        coverage,
        3,
        True,
    )


def test_serving_first_when_serving_economics_fail() -> None:
    pts = [
        _pt(["rag", "qlora"], 0.9, 1000.0),
        _pt(["rag", "quantization"], 0.6, 1500.0),
        _pt(["quantization"], 0.2, 800.0),
    ]
    failing = choose(pts, ["it costs $9,000/month against a $5,000 budget"], 3)
    assert failing.index == 1  # a serving option first, then the highest coverage
    assert "serving comes first" in failing.why
    fine = choose(pts, [], 3)
    assert fine.index == 0  # coverage first when serving is fine
    assert "highest coverage (90%)" in fine.why


def test_over_budget_deployment_gets_a_serving_plan() -> None:
    """The baseline costs more than the budget: the search reports serving failing and
    recommends a plan with a serving option that fits the budget."""
    busy = replace(BASE, requests_per_day=8_000_000)
    baseline = evaluate_portfolio(busy, [], DATA, planner=False).monthly_cost_usd
    assert baseline is not None
    res = search(busy, DATA, [STALE], Constraints(monthly_budget_usd=baseline * 0.9))
    assert res.serving_first
    assert "budget" in res.baseline.serving_fails[0]
    best = res.best.index
    assert best is not None
    chosen = res.pareto[best]
    assert any(i.axis == SERVING_AXIS for i in chosen.items)
    assert chosen.monthly_cost_usd is not None
    assert chosen.monthly_cost_usd <= baseline * 0.9
    assert "serving comes first" in res.best.why


def test_serving_failure_mode_puts_serving_first_end_to_end() -> None:
    res = search(BASE, DATA, [STALE, SERVING], Constraints())
    assert res.serving_first
    best = res.best.index
    assert best is not None
    assert any(i.axis == SERVING_AXIS for i in res.pareto[best].items)


def test_excluded_says_why() -> None:
    res = _result(Constraints())
    why = {(e.technique, e.why) for e in res.excluded}
    # vLLM's kernels are fused already: in place, as on the recommendation cards
    assert any(t == "flash_attention" and "already in place" in w for t, w in why)
    assert any(t == "paged_attention" and "already pages the KV cache" in w for t, w in why)
    assert any(t == "quantization" and "int4" in w for t, w in why)
    assert any(t == "dpo" and "none of the failure modes" in w for t, w in why)


def test_space_caps() -> None:
    space = build_space(
        BASE, DATA, [FLOOR, FailureMode("capacity_at_low_cost", ("sparse_moe",), 2)]
    )
    a, b = space.axes.index("dense_pretraining"), space.axes.index("sparse_moe")
    assert not ((space.choice[:, a] > 0) & (space.choice[:, b] > 0)).any()  # one swap at most
    assert len({tuple(r) for r in space.choice.tolist()}) == space.size
    with pytest.raises(ValueError, match="exceed the limit"):
        build_space(BASE, DATA, [STALE, DOMAIN, POLICY, COMPLEX], max_candidates=100)


def test_coverage_weights() -> None:
    """coverage = Σ addressed w / Σ w, w = severity/4 · (0.5 + 0.5·share) · (1 + 0.25·risk)."""
    res = search(BASE, DATA, [STALE, DOMAIN], Constraints(), corpus_tokens=1e8)
    w_stale = 3 / 4 * (0.5 + 0.2) * 1.5
    w_domain = 2 / 4 * (0.5 + 0.15) * 1.0
    only_rag = [p for p in res.pareto if {i.axis for i in p.items} == {"retrieval"}]
    assert only_rag
    assert only_rag[0].coverage == pytest.approx(w_stale / (w_stale + w_domain), abs=1e-4)
    assert max(p.coverage for p in res.pareto) == 1.0


def test_an_unpriced_gpu_says_why_instead_of_zero() -> None:
    # no GPU priced for the organisation, its own or any other right-sizing could move to
    nothing = tuple((k, None) for k in GPU_KEYS)
    unpriced = replace(BASE, gpu=replace(GPU, price_per_hour_usd=None), gpu_prices=nothing)
    res = search(unpriced, DATA, [STALE], Constraints(monthly_budget_usd=5000))
    assert res.best.index is None
    assert "no price" in res.best.why
    assert all(p.monthly_cost_usd is None for p in res.pareto)
    free = search(unpriced, DATA, [STALE], Constraints())
    best = free.best.index
    assert best is not None
    assert free.pareto[best].monthly_cost_usd is None
    assert "an unpriced monthly cost" in free.best.why
    # other GPU types priced (the shipped defaults): a plan that stays on the unpriced GPU has no
    # figure, one right-sized onto a priced GPU is billed at that GPU's price
    other = search(replace(unpriced, gpu_prices=None), DATA, [STALE], Constraints())
    moved = [p for p in other.pareto if any(i.technique == "gpu_right_sizing" for i in p.items)]
    assert any(p.monthly_cost_usd is not None for p in moved)  # onto a priced GPU type
    assert all(p.monthly_cost_usd is None or p.monthly_cost_usd > 0 for p in moved)  # never 0
    assert all(p.monthly_cost_usd is None for p in other.pareto if p not in moved)


def test_serving_first_with_no_feasible_serving_plan_recommends_nothing() -> None:
    """Serving fails (a serving-cost failure mode) and the constraints rule out every serving
    option's cost: no other axis is recommended before serving."""
    res = search(BASE, DATA, [STALE, SERVING], Constraints(governance_capacity=0))
    assert res.serving_first
    assert res.best.index is None
    assert "serving comes before any other axis" in res.best.why
    assert not any(p.feasible for p in res.pareto)


# ---- hosted options (issue 20 item 5) ------------------------------------------------------------
from app.estimators.hosted import HOSTED_DATA_RISK_BURDEN, HostedPrice  # noqa: E402
from app.estimators.search import HostedOffer  # noqa: E402

NANO = HostedOffer(
    "nano", "OpenAI", "gpt-5-nano", HostedPrice(0.05, 0.005, 0.40), None, None, 400_000
)
FAST = HostedOffer("fast", "Bedrock", "llama-405b-lat", HostedPrice(3.0, None, 3.0), 2460.0, 73.7)
TINY_CTX = HostedOffer("tiny", "X", "tiny", HostedPrice(0.01, None, 0.01), None, None, 100)
# An API cheaper per request than any self-hosted plan here (the search prices self-hosting by the
# GPU-hours actually used, so at catalog prices an 8B model on an H100 is rarely beaten)
CHEAP = HostedOffer(
    "cheap", "Host", "cheap-8b", HostedPrice(0.001, None, 0.001), None, None, 131_000
)
OFFERS = {o.key: o for o in (CHEAP, NANO, FAST, TINY_CTX)}
LOW = replace(BASE, requests_per_day=5_000)


def _hosted_search(flags: tuple[str, ...], c: Constraints, **kw: object) -> SearchResult:
    return search(
        LOW,
        DATA,
        [SERVING, STALE],
        c,
        corpus_tokens=1e8,
        hosted=list(OFFERS.values()),
        regulatory_flags=flags,
        **kw,
    )  # type: ignore[arg-type]


def test_include_hosted_finds_hosted_points_priced_consistently() -> None:
    """Without latency limits a hosted move is on the frontier (cheapest), priced as tokens x the
    API's prices; a move is alone (nothing else applies to what it serves); a route keeps the
    self-hosted portfolio's cost for the rest of the requests; the too-short context is
    excluded with the reason."""
    res = _hosted_search((), Constraints())
    hosted = [p for p in res.pareto if p.hosted is not None]
    assert hosted, "a hosted point is on the frontier"
    moves = [p for p in hosted if p.hosted and p.hosted.kind == "move"]
    assert moves
    for p in moves:
        assert len(p.items) == 1
        assert p.items[0].technique.startswith("hosted:")
        assert p.hosted is not None
        offer = OFFERS[p.hosted.key]
        per_req = (1500 * offer.price.input + 250 * offer.price.output) / 1e6
        assert p.monthly_cost_usd == pytest.approx(5_000 * 730 / 24 * per_req)
        assert p.hosted.data_leaves_organisation is True
    cheap = next(p for p in moves if p.hosted and p.hosted.key == "cheap")
    assert cheap.time_to_answer_p95_ms is None
    assert cheap.ttft_p95_ms is None
    assert cheap.hosted
    assert not cheap.hosted.latency_known
    assert cheap.feasible  # no latency limit given
    assert res.best.index is not None
    assert any("exceeds its 100-token context" in e.why for e in res.excluded)
    # a route: the self-hosted part evaluated with evaluate_portfolio at the remaining share
    space = build_space(LOW, DATA, [SERVING, STALE], corpus_tokens=1e8, hosted=[NANO, FAST])
    sc = space.axes.index(SERVING_AXIS)
    routes = [
        n
        for n in range(space.size)
        if (o := space.candidate_options(n))
        and any(x.hosted is not None and x.share < 1 for x in o)
    ]
    assert routes
    n = routes[0]
    states = [int(space.state[n])]
    fig = figures(space, evaluate_states(space, states))
    route = next(x for x in space.candidate_options(n) if x.hosted is not None)
    rest = replace(LOW, load_factor=1 - route.share, extra_ttft_ms=10.0)
    ev = evaluate_portfolio(
        rest, [x.item for x in space.candidate_options(n) if x.hosted is None], DATA
    )
    assert route.hosted is not None
    api = route.hosted.monthly(1500, 250, 5_000 * route.share)
    assert ev.monthly_cost_usd is not None
    assert fig.cost[n] == pytest.approx(ev.monthly_cost_usd + api)
    # moves never combine with another option
    for m in range(space.size):
        opts = space.candidate_options(m)
        if any(x.hosted is not None and x.share >= 1 for x in opts):
            assert len(opts) == 1
    assert sc >= 0


def test_hosted_without_published_latency_fails_latency_limits() -> None:
    """An API with no published latency never meets a latency constraint (nothing is claimed);
    one with a published latency is checked against it."""
    res = _hosted_search((), Constraints(time_to_answer_p95_ms=60_000))
    for p in res.pareto:
        if p.hosted is not None and not p.hosted.latency_known:
            assert not p.feasible
    fast = [
        p for p in res.pareto if p.hosted and p.hosted.key == "fast" and p.hosted.kind == "move"
    ]
    for p in fast:
        assert p.time_to_answer_p95_ms == pytest.approx(2460.0)
        assert p.tpot_p95_ms == pytest.approx(1000 / 73.7)


def test_hosted_raises_governance_burden_for_pii() -> None:
    """With PII the data leaving the organisation brings in OWASP LLM02:2025 and NIST AI 600-1
    Data Privacy: each hosted point's burden rises by 2 per risk over the same point without
    the flag, and its note says so."""
    plain = _hosted_search((), Constraints())
    pii = _hosted_search(("pii",), Constraints())
    by = {(p.hosted.key, p.hosted.kind, p.hosted.share): p for p in plain.pareto if p.hosted}
    compared = 0
    for p in pii.pareto:
        if not p.hosted:
            continue
        assert {r.id for r in p.hosted.governance_risks} == {"LLM02:2025", "Data Privacy"}
        assert "LLM02:2025" in p.hosted.note
        assert "NIST AI 600-1" in p.hosted.note
        q = by.get((p.hosted.key, p.hosted.kind, p.hosted.share))
        if q is not None and [i.technique for i in q.items] == [i.technique for i in p.items]:
            assert p.governance_burden == q.governance_burden + 2 * HOSTED_DATA_RISK_BURDEN
            compared += 1
    assert any(p.hosted for p in pii.pareto)
    assert compared >= 1


def test_no_hosted_points_without_include_hosted() -> None:
    res = search(BASE, DATA, [SERVING, STALE], Constraints(), corpus_tokens=1e8)
    assert all(p.hosted is None for p in res.pareto)
    assert all(not i.technique.startswith("hosted:") for p in res.pareto for i in p.items)


def test_serving_options_are_bounded_and_the_rest_say_why() -> None:
    """Every serving technique is a candidate, but only the best few (alone: cheapest, not
    dominated on cost and latency) combine with the other axes; each left out says why."""
    from app.estimators.search import MAX_SERVING_OPTIONS

    space = build_space(BASE, DATA, [STALE, SERVING], corpus_tokens=1e8)
    serving = space.options[space.axes.index(SERVING_AXIS)]
    assert 0 < len([o for o in serving if o.serving]) <= MAX_SERVING_OPTIONS
    whys = [e.why for e in space.excluded]
    assert any("as cheap and as fast or better" in w or "dearer on its own" in w for w in whys)


def _serving_singles() -> list[Option]:
    """Every variant of every serving technique that changes the served scenario (unpruned)."""
    return [o for o in _options(BASE, DATA, SERVING_AXIS, 1e8, []) if o.serving]


def test_stacked_serving_plan_is_found_when_cheaper() -> None:
    """Issue 20's review: one technique per axis missed a stack of serving techniques that is
    cheaper than any one of them. With the serving axis alone, the recommended plan stacks
    distinct serving techniques and costs less per month than the cheapest single serving
    technique that fits (both priced as saved portfolios are, with the capacity planner)."""
    res = search(BASE, DATA, [SERVING], Constraints(), corpus_tokens=1e8)
    assert res.best.index is not None
    best = res.pareto[res.best.index]
    techniques = [i.technique for i in best.items]
    assert all(i.axis == SERVING_AXIS for i in best.items)
    assert 2 <= len(techniques) <= MAX_SERVING_STACK
    assert len(set(techniques)) == len(techniques)
    singles = []
    for o in _serving_singles():
        ev = evaluate_portfolio(BASE, [o.item], DATA)
        if ev.fits and ev.monthly_cost_usd is not None:
            singles.append(ev.monthly_cost_usd)
    assert best.monthly_cost_usd is not None
    assert best.monthly_cost_usd < min(singles)
    ev = evaluate_portfolio(BASE, list(best.items), DATA)
    assert best.monthly_cost_usd == ev.monthly_cost_usd


def test_stacks_are_distinct_compatible_and_change_something() -> None:
    space = build_space(BASE, DATA, [SERVING, STALE], corpus_tokens=1e8)
    serving = space.options[space.axes.index(SERVING_AXIS)]
    stacks = [o for o in serving if o.parts]
    assert stacks
    assert sum(1 for o in serving if o.serving) <= MAX_SERVING_STACKED
    for o in stacks:
        assert 2 <= len(o.parts) <= MAX_SERVING_STACK
        assert len({p.technique for p in o.parts}) == len(o.parts)
        evaluate_portfolio(BASE, o.items, DATA, planner=False)  # priced together
    assert any(e.technique == "serving stacks" for e in space.excluded)
    # no candidate holds more than one option per axis (a stack is one option)
    assert space.choice.shape[1] == len(space.axes)


@pytest.mark.slow
def test_stacked_serving_equals_brute_force_on_a_small_space() -> None:
    """Serving axis alone: brute force over every set of 1-3 distinct serving techniques (every
    variant, unpruned) by the portfolio computation. The search's cheapest plan that fits is
    the brute force's, and its frontier equals the brute-force frontier of its own candidates
    (each evaluated whole)."""
    space = build_space(BASE, DATA, [SERVING], corpus_tokens=1e8)
    outcomes = evaluate_states(space, range(len(space.states)))
    res = combine(space, outcomes, Constraints(), 0.0, planner=False)
    assert any(len(p.items) >= 2 for p in res.pareto)
    singles = _serving_singles()
    cheapest = float("inf")
    for k in range(1, MAX_SERVING_STACK + 1):
        for combo in itertools.combinations(singles, k):
            if len({o.technique for o in combo}) < k:
                continue
            try:
                ev = evaluate_portfolio(BASE, [o.item for o in combo], DATA, planner=False)
            except FieldError:
                continue
            if ev.fits and ev.monthly_cost_usd is not None:
                cheapest = min(cheapest, ev.monthly_cost_usd)
    got = min(p.monthly_cost_usd for p in res.pareto if p.monthly_cost_usd is not None)
    assert got == pytest.approx(cheapest)
    pts = set()
    for n in range(space.size):
        ev = evaluate_portfolio(BASE, space.items(n), DATA, planner=False)
        if not ev.fits or ev.monthly_cost_usd is None or ev.time_to_answer_ms_p95 is None:
            continue
        cov = 1.0 if space.items(n) else 0.0
        pts.add((ev.monthly_cost_usd, ev.time_to_answer_ms_p95, ev.governance_burden, -cov))
    brute = {v for v in pts if not any(_dominates(w, v) for w in pts)}
    assert {_vec(p) for p in res.pareto} == brute
