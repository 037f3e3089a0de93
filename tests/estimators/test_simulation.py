from __future__ import annotations

import pytest

from app.estimators.engines import engine
from app.estimators.inference import ServingConfig, StepModel, Workload, estimate_inference
from app.estimators.reference_data import catalog_architecture, catalog_gpu
from app.estimators.simulation import SimulationError, plan_capacity, simulate_load

ARCH = catalog_architecture("llama_3_1_8b")
GPU = catalog_gpu("h100_sxm_80gb")
SM = StepModel.build(ARCH, GPU, engine("vllm"), ServingConfig())
IN, OUT = 512, 128


def sim(rate: float, n: int = 600, seed: int = 0):  # type: ignore[no-untyped-def]
    return simulate_load(
        SM,
        request_rate=rate,
        input_tokens=IN,
        output_tokens=OUT,
        max_seqs=256,
        max_batched_tokens=8192,
        n_requests=n,
        seed=seed,
    )


def test_light_load_matches_the_unloaded_estimate() -> None:
    est = estimate_inference(ARCH, GPU, engine("vllm"), ServingConfig(), Workload(IN, OUT, 1))
    r = sim(0.05, n=200)
    # mostly alone on the server: TTFT is the prefill of one request, TPOT a batch-1 step
    assert r.ttft_ms[50] == pytest.approx(est.timing.ttft_ms, rel=0.05)
    assert r.tpot_ms[50] == pytest.approx(est.timing.tpot_ms, rel=0.05)
    assert r.requests_per_s == pytest.approx(0.05, rel=0.2)
    assert not r.saturated


def test_latency_grows_with_load_and_overload_saturates() -> None:
    rates = [1.0, 10.0, 40.0]
    results = [sim(r) for r in rates]
    tpots = [r.tpot_ms[50] for r in results]
    assert tpots == sorted(tpots)
    assert results[-1].mean_batch > results[0].mean_batch
    over = sim(1e4)
    assert over.saturated
    assert over.ttft_ms[99] > 10 * results[0].ttft_ms[99]


def test_same_seed_same_result_and_percentiles_ordered() -> None:
    a, b = sim(8.0, seed=3), sim(8.0, seed=3)
    assert a == b
    for d in (a.ttft_ms, a.tpot_ms, a.e2e_ms):
        assert d[50] <= d[95] <= d[99]


def test_kv_capacity_caps_the_batch() -> None:
    r = simulate_load(
        SM,
        request_rate=1e4,
        input_tokens=IN,
        output_tokens=OUT,
        max_seqs=4,
        max_batched_tokens=8192,
        n_requests=100,
    )
    assert r.mean_batch <= 4


@pytest.mark.parametrize(("kwargs", "field"), [({"request_rate": 0}, "request_rate"),
                                                ({"max_seqs": 0}, "input_tokens")])  # fmt: skip
def test_bad_simulation_input(kwargs, field) -> None:  # type: ignore[no-untyped-def]
    base = {"request_rate": 1.0, "input_tokens": 10, "output_tokens": 10, "max_seqs": 4,
            "max_batched_tokens": 100}  # fmt: skip
    with pytest.raises(SimulationError) as exc:
        simulate_load(SM, **{**base, **kwargs})
    assert exc.value.field == field


def test_capacity_plan_meets_the_slo_and_scales_with_traffic() -> None:
    kw = {"input_tokens": IN, "output_tokens": OUT, "ttft_slo_ms": 500.0, "tpot_slo_ms": 40.0,
          "max_seqs": 256, "max_batched_tokens": 8192, "price_per_gpu_hour": 2.0,
          "n_requests": 400}  # fmt: skip
    small = plan_capacity(SM, requests_per_day=100_000, **kw)
    big = plan_capacity(SM, requests_per_day=50_000_000, **kw)
    assert small.replicas == 1
    assert big.replicas is not None
    assert big.replicas > 1
    assert big.at_planned_rate is not None
    assert big.at_planned_rate.ttft_ms[95] <= 500
    assert big.at_planned_rate.tpot_ms[95] <= 40
    assert big.monthly_cost_usd == pytest.approx(big.replicas * 730 * 2.0)
    assert small.max_rate_per_replica == pytest.approx(big.max_rate_per_replica)


def test_capacity_plan_reports_an_unreachable_slo() -> None:
    plan = plan_capacity(
        SM, requests_per_day=1000, input_tokens=IN, output_tokens=OUT, ttft_slo_ms=1.0,
        tpot_slo_ms=40.0, max_seqs=256, max_batched_tokens=8192, price_per_gpu_hour=None,
        n_requests=200,
    )  # fmt: skip
    assert plan.replicas is None
    assert plan.reason
    assert "TTFT" in plan.reason
