"""The portfolio search's speed-ups change no figure (issue 20, item 2): the memoised scenario
evaluation, the load simulation's shared step tables, its arrivals drawn once per seed, its
percentiles in one call, and the Pareto frontier compared in blocks all give what the plain
computation gives."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from app.estimators.engines import ENGINES, engine
from app.estimators.errors import FieldError
from app.estimators.inference import ServingConfig, StepModel
from app.estimators.interventions import Scenario, evaluate, evaluate_uncached
from app.estimators.reference_data import catalog_architecture, catalog_gpu
from app.estimators.search import FRONTIER_BLOCK, frontier
from app.estimators.simulation import (
    _iterate,
    _load_result,
    simulate_load_uncached,
    simulation_cache_clear,
)

GPU = replace(catalog_gpu("h100_sxm_80gb"), price_per_hour_usd=2.5)
BASE = Scenario(
    catalog_architecture("llama_3_1_8b"),
    GPU,
    ENGINES["vllm"],
    ServingConfig(n_gpus=1),
    1500,
    250,
    500_000,
    1000,
    40,
)
SM = StepModel.build(catalog_architecture("llama_3_1_8b"), GPU, engine("vllm"), ServingConfig())


def test_evaluate_is_memoised_and_equal_to_a_fresh_run() -> None:
    s = replace(BASE, input_tokens=1517)  # a scenario no other test prices
    first = evaluate(s)
    assert evaluate(replace(s)) is first  # an equal scenario is the same key
    assert evaluate_uncached(s) == first
    other = evaluate(replace(s, output_tokens=251))
    assert other != first
    assert other == evaluate_uncached(replace(s, output_tokens=251))


def test_the_memo_keeps_the_integer_checks() -> None:
    """1500.0 == 1500 (same hash), but only the integer passes validation: a float prompt is
    still refused after the integer one was evaluated."""
    evaluate(BASE)
    with pytest.raises(FieldError, match="input_tokens"):
        evaluate(replace(BASE, input_tokens=1500.0))  # type: ignore[arg-type]
    with pytest.raises(FieldError, match="output_tokens"):
        evaluate(replace(BASE, output_tokens=250.0))  # type: ignore[arg-type]


def test_an_unhashable_scenario_is_evaluated_without_the_memo() -> None:
    listed = replace(BASE, hourly_profile=[1.0] * 24)  # type: ignore[arg-type]
    assert evaluate(listed) == evaluate_uncached(BASE)


@pytest.mark.parametrize(
    ("rate", "s_in", "s_out", "max_seqs", "n", "seed"),
    [
        (2.7, 1500, 250, 249, 1000, 0),  # the search's screening load
        (40.0, 900, 64, 32, 300, 3),  # full KV: arrivals wait for completions
        (1e9, 3000, 40, 64, 200, 0),  # all at once
        (0.013, 512, 1, 8, 50, 11),  # one output token, idle gaps
    ],
)
def test_arrivals_and_percentiles_are_numpys(
    rate: float, s_in: int, s_out: int, max_seqs: int, n: int, seed: int
) -> None:
    """The run equals the one built the plain way: arrivals from
    ``default_rng(seed).exponential(1 / rate, n)``, and each series' own ``np.percentile``."""
    got = simulate_load_uncached(
        SM,
        request_rate=rate,
        input_tokens=s_in,
        output_tokens=s_out,
        max_seqs=max_seqs,
        max_batched_tokens=8192,
        n_requests=n,
        seed=seed,
    )
    arr = np.cumsum(np.random.default_rng(seed).exponential(1.0 / rate, n))
    tl = _iterate(SM, arr.tolist(), s_in, s_out, max_seqs, 8192)
    assert got == _load_result(SM, arr, tl, rate, s_out)
    lat = SM.first_token_latency_s * 1e3
    first, finish, start = np.asarray(tl.first), np.asarray(tl.finish), np.asarray(tl.start)
    series = {
        "ttft_ms": (first - arr) * 1e3 + lat,
        "tpot_ms": (finish - first) / max(s_out - 1, 1) * 1e3,
        "e2e_ms": (finish - arr) * 1e3 + lat,
    }
    for name, x in series.items():
        want = {p: float(np.percentile(x, p)) for p in (50, 95, 99)}
        assert getattr(got, name) == want, name  # exactly, not approximately
    assert got.queue_ms_p95 == float(np.percentile((start - arr) * 1e3, 95))


def test_shared_step_tables_change_no_result() -> None:
    """A simulation run with its step model's tables filled by other runs (other prompt lengths,
    more and fewer sequences) equals the same run on empty tables."""
    kwargs = {
        "request_rate": 6.0,
        "input_tokens": 700,
        "output_tokens": 90,
        "max_seqs": 48,
        "max_batched_tokens": 8192,
        "n_requests": 400,
        "seed": 2,
    }
    simulation_cache_clear()
    cold = simulate_load_uncached(SM, **kwargs)  # type: ignore[arg-type]
    for s_in, seqs in ((700, 8), (300, 200), (700, 120), (2000, 16)):
        simulate_load_uncached(SM, **{**kwargs, "input_tokens": s_in, "max_seqs": seqs})  # type: ignore[arg-type]
    assert simulate_load_uncached(SM, **kwargs) == cold  # type: ignore[arg-type]


def _frontier_row_by_row(
    obj: np.ndarray, candidates: np.ndarray, tiebreak: np.ndarray
) -> list[int]:
    """The frontier the plain way: in the sorted order, a row is kept unless a kept row is <= it
    in every column (the implementation before the block comparison)."""
    if candidates.size == 0:
        return []
    sub = obj[candidates]
    order = np.lexsort((tiebreak[candidates], sub[:, 3], sub[:, 2], sub[:, 1], sub[:, 0]))
    kept: list[int] = []
    front: list[np.ndarray] = []
    for j in order:
        if any(bool(np.all(f <= sub[j])) for f in front):
            continue
        kept.append(int(candidates[j]))
        front.append(sub[j])
    return kept


@pytest.mark.parametrize("seed", range(12))
def test_frontier_in_blocks_equals_the_row_by_row_frontier(seed: int) -> None:
    """Random objectives with many ties (small integer ranges), unpriced (inf) costs and times,
    and more rows than a block; every kept point is dominated by no candidate, and of equal
    objective vectors only one is kept."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(FRONTIER_BLOCK + 1, 3 * FRONTIER_BLOCK))
    cols = [rng.integers(0, int(rng.integers(2, 40)), n).astype(float) for _ in range(4)]
    obj = np.stack(cols, axis=1)
    obj[rng.integers(0, n, n // 7), int(rng.integers(0, 2))] = np.inf
    candidates = np.sort(rng.choice(n, size=int(rng.integers(1, n)), replace=False))
    tiebreak = rng.integers(0, 3, n).astype(float)
    got = frontier(obj, candidates, tiebreak)
    assert got == _frontier_row_by_row(obj, candidates, tiebreak)
    pool = obj[candidates]
    for k in got:
        le = (pool <= obj[k]).all(axis=1)
        assert not (le & (pool < obj[k]).any(axis=1)).any()  # nothing dominates it
    assert len({tuple(obj[k]) for k in got}) == len(got)
    assert frontier(obj, candidates[:0], tiebreak) == []


SCENARIOS = [
    BASE,
    replace(BASE, speculative=(0.8, 5, 0.05), extra_weight_bytes=2e9),
    replace(BASE, cached_prompt_share=0.6, samples=5, cot_tokens=300),
    replace(BASE, speculative=(0.6, 3, 0.1), cot_tokens=120, adapter_params=20_000_000),
    replace(
        BASE, arch=catalog_architecture("llama_3_1_70b"), cfg=ServingConfig(n_gpus=4), samples=3
    ),
    replace(BASE, arch=catalog_architecture("mixtral_8x7b"), cfg=ServingConfig(n_gpus=2)),
    replace(BASE, tpot_slo_ms=12.0),  # the SLO, not the KV cache, limits the batch
    replace(BASE, speculative=(0.8, 5, 0.05), tpot_slo_ms=6.0, samples=2),
    replace(BASE, tpot_slo_ms=5.0),  # missed at batch 1
]


@pytest.mark.parametrize("s", SCENARIOS)
def test_the_batch_bisection_reads_the_full_estimates_tpot(s: Scenario) -> None:
    """_tpot_ms is _estimate's TPOT to the bit at every batch, so evaluate's SLO-limited batch
    is the one the bisection over full estimates finds."""
    from app.estimators.interventions import _adapter_tpot_factor, _estimate, _tpot_ms

    one = _estimate(s, 1)
    cap = max(1, one.memory.max_batch_size // s.samples)
    for b in sorted({1, 2, 3, 7, 16, 33, 100, cap // 2 or 1, cap}):
        assert _tpot_ms(s, b) == _estimate(s, b).timing.tpot_ms, b
    factor = _adapter_tpot_factor(s)
    lo, hi = 1, cap
    if one.timing.tpot_ms * factor > s.tpot_slo_ms:
        hi = 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if _estimate(s, mid).timing.tpot_ms * factor <= s.tpot_slo_ms:
            lo = mid
        else:
            hi = mid - 1
    got = evaluate_uncached(s)
    assert got.batch_at_slo == (lo if got.fits else 0)
    if got.fits:
        assert got.requests_per_s_per_replica > 0
