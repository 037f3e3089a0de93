from __future__ import annotations

from dataclasses import replace

import pytest

from app.estimators.engines import engine
from app.estimators.inference import ServingConfig
from app.estimators.interventions import (
    Alignment,
    FineTune,
    InterventionError,
    PagedAttention,
    Quantize,
    ReasoningCompute,
    Retrieval,
    Scenario,
    Speculative,
    SwapModel,
    evaluate,
    impact,
)
from app.estimators.reference_data import catalog_architecture, catalog_gpu
from app.estimators.speculative import speedup

GPU = replace(catalog_gpu("h100_sxm_80gb"), price_per_hour_usd=2.0)
BASE = Scenario(
    arch=catalog_architecture("llama_3_1_8b"),
    gpu=GPU,
    engine=engine("vllm"),
    cfg=ServingConfig(),
    input_tokens=1024,
    output_tokens=256,
    requests_per_day=2_000_000,
    ttft_slo_ms=800,
    tpot_slo_ms=50,
)


def test_empty_portfolio_is_the_baseline() -> None:
    im = impact(BASE, [])
    assert im.before == im.after
    assert all(v == 0 for v in im.deltas().values())


def test_retrieval_adds_context_and_latency() -> None:
    im = impact(BASE, [Retrieval(k=4, chunk_tokens=256, retrieval_latency_ms=30)])
    assert im.scenario is not None
    assert im.scenario.input_tokens == 1024 + 4 * 256
    longer = evaluate(replace(BASE, input_tokens=2048))
    assert im.after.ttft_ms == pytest.approx(longer.ttft_ms + 30)
    assert im.deltas()["ttft_delta_ms"] > 30


def test_reasoning_time_to_answer_is_ttft_plus_cot_tokens() -> None:
    im = impact(BASE, [ReasoningCompute(cot_tokens=600, samples=5)])
    a = im.after
    assert a.time_to_answer_ms == pytest.approx(a.ttft_ms + 600 * a.tpot_ms)
    assert im.deltas()["monthly_cost_delta_usd"] > 0  # 5 samples of 856 tokens per request
    assert a.requests_per_s_per_replica < im.before.requests_per_s_per_replica


def test_speculative_divides_memory_bound_tpot_by_leviathan_speedup() -> None:
    # At batch 1 the verification step of gamma + 1 tokens costs within 1% of a plain step, so
    # the gain is Theorem 3.8's (the load-dependent model: test_serving_interventions.py).
    im = impact(BASE, [Speculative(alpha=0.8, gamma=4, c=0.05)])
    assert im.after.tpot_ms == pytest.approx(im.before.tpot_ms / speedup(0.8, 4, 0.05), rel=0.01)


def test_fp8_quantisation_cuts_latency_and_keeps_or_cuts_cost() -> None:
    im = impact(BASE, [Quantize("fp8")])
    d = im.deltas()
    assert d["tpot_delta_ms"] < 0
    assert d["ttft_delta_ms"] < 0
    assert d["monthly_cost_delta_usd"] <= 0
    with pytest.raises(InterventionError) as exc:
        impact(replace(BASE, gpu=catalog_gpu("a100_sxm_80gb")), [Quantize("fp8")])
    assert exc.value.field == "precision"


def test_order_independence_for_commuting_serving_changes() -> None:
    a = impact(BASE, [Quantize("fp8"), PagedAttention(), Speculative()])
    b = impact(BASE, [Speculative(), PagedAttention(), Quantize("fp8")])
    assert a.after == b.after


def test_one_off_costs_from_finetuning_and_alignment() -> None:
    ft = impact(BASE, [FineTune(method="lora", examples=10_000, tokens_per_example=500, epochs=2)])
    tokens = 10_000 * 500 * 2
    hours = 4 * BASE.arch.active_params * tokens / (989.4e12 * 0.4) / 3600
    gpu = [o for o in ft.one_off if o.kind == "gpu"]
    assert sum(o.cost_usd or 0 for o in gpu) == pytest.approx(hours * 2.0)
    # labelling the 10,000 examples at the sourced $0.072 each, and one evaluation run
    assert ft.one_off_cost_usd == pytest.approx(hours * 2.0 + 10_000 * 0.072 + 12.5)
    assert ft.after == ft.before  # merged adapter: no serving change
    unmerged = impact(BASE, [FineTune(method="lora", serve_unmerged=True)])
    assert unmerged.after.tpot_ms > unmerged.before.tpot_ms
    al = impact(BASE, [Alignment(pairs=1000, tokens_per_response=500)])
    assert al.one_off_cost_usd == pytest.approx(
        8 * BASE.arch.active_params * 2 * 1000 * 500 / (989.4e12 * 0.4) / 3600 * 2.0
        + 1000 * 0.30  # human preference pairs at $0.30 each
        + 12.5  # one evaluation run
    )


def test_swapping_to_a_smaller_model_is_cheaper_and_faster() -> None:
    big = replace(BASE, arch=catalog_architecture("llama_3_1_70b"), cfg=ServingConfig(n_gpus=4))
    im = impact(big, [SwapModel(catalog_architecture("llama_3_1_8b"))])
    assert im.deltas()["tpot_delta_ms"] < 0


@pytest.mark.parametrize(
    ("item", "field"),
    [
        (Speculative(alpha=1.0), "alpha"),
        (Retrieval(k=0), "k"),
        (ReasoningCompute(samples=0), "samples"),
        (FineTune(method="magic"), "method"),
    ],
)
def test_invalid_parameters_name_the_field(item, field) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InterventionError) as exc:
        impact(BASE, [item])
    assert exc.value.field == field


def test_slo_shortfall_names_each_missed_slo() -> None:
    from app.estimators.interventions import slo_shortfall

    assert slo_shortfall(900, 59.9, 1000, 60, 16) is None
    assert slo_shortfall(900, 64.8, 1000, 60, 16) == (
        "TPOT 64.8 ms at batch 16 exceeds the 60 ms SLO"
    )
    assert slo_shortfall(900, 70.6, 1000, 60, 1) == (
        "TPOT 70.6 ms at batch 1 exceeds the 60 ms SLO, so no batch meets it"
    )
    both = slo_shortfall(1200, 61, 1000, 60, 2)
    assert both is not None
    assert both.startswith("TTFT 1,200.0 ms exceeds the 1,000 ms SLO; TPOT 61.0 ms")
