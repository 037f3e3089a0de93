"""Portfolio evaluation equals the composition of its items' estimator results; commuting items
commute; an empty portfolio is the baseline; comparison marks the best and the Pareto set."""

from __future__ import annotations

from dataclasses import replace

import pytest

from app.estimators.card_economics import Stream, serve
from app.estimators.engines import ENGINES
from app.estimators.inference import ServingConfig, StepModel, Workload, estimate_inference
from app.estimators.interventions import (
    FineTune,
    PagedAttention,
    Retrieval,
    Scenario,
    Speculative,
    apply_all,
    evaluate,
    impact,
    speculative_gain,
)
from app.estimators.portfolio import (
    PII_RETRIEVAL,
    AxisData,
    Item,
    PortfolioError,
    PortfolioEvaluation,
    capability_sentence,
    compare,
    cost_sentence,
    evaluate_portfolio,
    governance_sentence,
    one_off_sentence,
    slo_sentence,
)
from app.estimators.reference_data import catalog_architecture, catalog_gpu
from app.estimators.simulation import plan_capacity, running_limits
from app.rules.reference import catalog

C = catalog()
GPU = replace(catalog_gpu("a100_sxm_80gb"), price_per_hour_usd=1.5)
BASE = Scenario(
    catalog_architecture("llama_3_1_8b"),
    GPU,
    ENGINES["vllm"],
    ServingConfig(n_gpus=2),
    1800,
    250,
    2_000_000,
    2000,
    50,
)
DATA = AxisData(
    C["matrix"],
    C["profiles"],
    {"retrieval": ("LLM08:2025",)},
    C["techniques"],
    {"mixtral_8x7b": catalog_architecture("mixtral_8x7b")},
)
RAG = Item("retrieval", "rag", {"k": 5, "chunk_tokens": 512, "corpus_tokens": 1e9})
SPEC = Item("serving_optimization", "paged_attention_speculative")
QLORA = Item("peft", "qlora")


def test_empty_portfolio_is_the_baseline() -> None:
    ev = evaluate_portfolio(BASE, [], DATA)
    # the deployment page's capacity planner (p95 SLOs, simulated continuous batching)
    sm = StepModel.build(BASE.arch, BASE.gpu, BASE.engine, BASE.cfg)
    one = estimate_inference(BASE.arch, BASE.gpu, BASE.engine, BASE.cfg, Workload(1800, 250))
    limits = running_limits(BASE.engine, sm, one.memory)
    cap = plan_capacity(
        sm,
        requests_per_day=2_000_000,
        input_tokens=1800,
        output_tokens=250,
        ttft_slo_ms=2000,
        tpot_slo_ms=50,
        max_seqs=limits.max_seqs,
        max_batched_tokens=limits.max_batched_tokens,
        price_per_gpu_hour=1.5,
    )
    # the GPU-hours actually needed (fractional), not whole replicas x 730 h
    hours = 2_000_000 / 86400 / cap.max_rate_per_replica * 730 * 2
    assert ev.monthly_cost_usd == pytest.approx(hours * 1.5)
    assert ev.replicas == cap.replicas
    # the provisioned figure: the peak's replicas all month, as the deployment page
    assert ev.economics["provisioned_monthly_cost_usd"]["after"] == pytest.approx(
        cap.monthly_cost_usd
    )
    assert ev.one_off_cost_usd == 0
    assert ev.governance_burden == 0
    assert ev.risks == []
    assert ev.capability_score is None
    assert ev.meets_slo == (ev.time_to_answer_ms_p95 <= 2000 and ev.tpot_ms_p95 <= 50)


def test_costs_are_the_chained_interventions() -> None:
    ev = evaluate_portfolio(BASE, [RAG, SPEC, QLORA], DATA)
    chained, one_offs = apply_all(
        BASE,
        [
            Retrieval(k=5, chunk_tokens=512, corpus_tokens=1e9),
            PagedAttention(),
            Speculative(0.7, 4, 0.05),
            FineTune(method="qlora", rank=16),
        ],
    )
    served = serve(BASE, [Stream(chained, 1.0)], router=False)
    assert ev.monthly_cost_usd == pytest.approx(served.monthly_cost_usd)
    # one-off = the index build plus the fine-tune, each as its own item's impact prices it
    rag_one = impact(BASE, [Retrieval(k=5, chunk_tokens=512, corpus_tokens=1e9)])
    ft_one = impact(BASE, [FineTune(method="qlora", rank=16)])
    assert ev.one_off_cost_usd == pytest.approx(
        (rag_one.one_off_cost_usd or 0) + (ft_one.one_off_cost_usd or 0), abs=0.01
    )
    # index build + its evaluation; fine-tune GPU, labelling and its evaluation
    assert sorted(o.kind for o in one_offs) == sorted(
        ["evaluation", "embedding_and_index", "gpu", "labelling", "evaluation"]
    )


def test_tpot_p95_carries_the_speculative_factor() -> None:
    plain = evaluate_portfolio(BASE, [Item("serving_optimization", "paged_attention")], DATA)
    spec = evaluate_portfolio(BASE, [SPEC], DATA)
    after, _ = apply_all(BASE, [PagedAttention(), Speculative(0.7, 4, 0.05)])
    no_spec = replace(after, speculative=None, extra_weight_bytes=0.0)
    factor = evaluate(after).tpot_ms / evaluate(no_spec).tpot_ms
    assert factor < 1
    # The idle (batch-1) gain no longer applies to the p95 at load: the gain is taken at the
    # simulation's mean batch, where the verification step costs more (economics.md §5).
    assert factor == pytest.approx(1 / speculative_gain(after, 1), rel=1e-3)
    assert plain.tpot_ms_p95 * factor < spec.tpot_ms_p95 < plain.tpot_ms_p95


def test_retrieval_latency_and_reasoning_tokens_reach_ttft() -> None:
    slow = evaluate_portfolio(BASE, [Item("retrieval", "rag", {"retrieval_latency_ms": 500})], DATA)
    fast = evaluate_portfolio(BASE, [Item("retrieval", "rag", {"retrieval_latency_ms": 0})], DATA)
    assert slow.ttft_ms_p95 - fast.ttft_ms_p95 == pytest.approx(500, rel=1e-6)
    cot = evaluate_portfolio(BASE, [Item("reasoning_compute", "cot", {"cot_tokens": 300})], DATA)
    # the answer waits for the reasoning tokens; TTFT is still the first generated token's
    assert cot.time_to_answer_ms_p95 == pytest.approx(
        cot.ttft_ms_p95 + 300 * cot.tpot_ms_p95, rel=1e-3
    )
    assert cot.ttft_ms_p95 < 300 * cot.tpot_ms_p95


def test_matrix_scores_and_accumulated_burden_by_hand() -> None:
    ev = evaluate_portfolio(BASE, [RAG, SPEC], DATA, regulated=True)
    m = C["matrix"]
    for dim in ("capability", "cost", "latency", "governance"):
        assert ev.dimension_scores[dim] == pytest.approx(
            (m["retrieval"][dim] + m["serving_optimization"][dim]) / 2, abs=1e-3
        )
    assert (
        ev.governance_burden
        == (6 - m["retrieval"]["governance"]) + (6 - m["serving_optimization"]["governance"]) + 2
    )
    w = C["profiles"]["startup"]
    expected = sum(w[d] * ev.dimension_scores[d] for d in w) / sum(w.values())
    assert ev.profile_suitability["startup"] == pytest.approx(expected, abs=1e-3)
    assert "LLM08:2025" in ev.risks
    assert any("PII" in w for w in ev.warnings)


@pytest.mark.parametrize(
    "pair", [(RAG, QLORA), (SPEC, Item("serving_optimization", "quantization"))]
)
def test_commuting_items_commute(pair: tuple[Item, Item]) -> None:
    a = evaluate_portfolio(BASE, list(pair), DATA)
    b = evaluate_portfolio(BASE, list(reversed(pair)), DATA)
    assert a.as_dict() == b.as_dict() | {"assumptions": a.assumptions}
    assert a.assumptions.keys() == b.assumptions.keys()


@pytest.mark.parametrize(
    ("item", "field"),
    [
        (
            Item("reasoning_compute", "cot_self_consistency", {"samples": 0}),
            "items[0].params.samples",
        ),
        (
            Item("serving_optimization", "speculative_decoding", {"alpha": 1.0}),
            "items[0].params.alpha",
        ),
        (Item("peft", "rag"), "items[0].axis"),
        (Item("retrieval", "rag", {"colour": 1}), "items[0].params.colour"),
        (Item("sparse_moe", "moe_model", {"model": "llama_3_1_70b"}), "items[0].params.model"),
    ],
)
def test_bad_items_name_their_field(item: Item, field: str) -> None:
    with pytest.raises(PortfolioError) as e:
        evaluate_portfolio(BASE, [item], DATA)
    assert e.value.field == field


def test_compare_marks_best_pareto_and_says_it_plainly() -> None:
    evs = {
        1: evaluate_portfolio(BASE, [], DATA),
        2: evaluate_portfolio(BASE, [SPEC], DATA),
        3: evaluate_portfolio(BASE, [RAG, SPEC], DATA, regulated=True),
        4: evaluate_portfolio(BASE, [Item("reasoning_compute", "cot_self_consistency")], DATA),
    }
    cmp = compare(evs, {1: "A", 2: "B", 3: "C", 4: "D"})
    costs = {i: e.monthly_cost_usd for i, e in evs.items()}
    assert cmp.best["monthly_cost_usd"] == min(costs, key=lambda i: costs[i])
    assert cmp.best["governance_burden"] == 1

    def dominated(i: int) -> bool:
        ki = (
            evs[i].monthly_cost_usd,
            evs[i].time_to_answer_ms_p95,
            -(evs[i].capability_score or 0),
        )
        for j in evs:
            kj = (
                evs[j].monthly_cost_usd,
                evs[j].time_to_answer_ms_p95,
                -(evs[j].capability_score or 0),
            )
            if j != i and all(a <= b for a, b in zip(kj, ki, strict=True)) and kj != ki:
                return True
        return False

    assert cmp.pareto_ids  # the efficient set: exactly the portfolios nothing dominates
    assert sorted(cmp.pareto_ids) == sorted(i for i in evs if not dominated(i))
    assert 4 in cmp.pareto_ids  # the most capable one stays, however slow
    assert len(cmp.summary) == 3
    assert cmp.summary[0].startswith("B ")
    assert "per month" in cmp.summary[0]
    assert "None" not in " ".join(cmp.summary)
    assert "governance burden" in cmp.summary[1]
    assert "PII" in cmp.summary[1]


# ---- the summary sentences: each from the figure of its table row (issue 22 item 9) ---------
def _ev(**figures: object) -> PortfolioEvaluation:
    base: dict[str, object] = {
        "monthly_cost_usd": 1000.0,
        "one_off_cost_usd": 0.0,
        "ttft_ms_p95": 100.0,
        "tpot_ms_p95": 20.0,
        "meets_slo": True,
        "capability_score": 3.0,
        "governance_burden": 0,
        "dimension_scores": {},
        "profile_suitability": {},
        "risks": [],
        "warnings": [],
        "assumptions": {},
        "replicas": 1,
        "gpus_per_replica": 1,
        "fits": True,
        "governance_parts": {},
    }
    return PortfolioEvaluation(**{**base, **figures})  # type: ignore[arg-type]


def test_cost_sentence_follows_the_monthly_cost_row() -> None:
    ref = _ev()
    assert cost_sentence(_ev(monthly_cost_usd=750.0), ref, "A") == (
        "is $250 (25 %) cheaper per month than A"
    )
    assert cost_sentence(_ev(monthly_cost_usd=1500.0), ref, "A") == (
        "is $500 (50 %) dearer per month than A"
    )
    assert cost_sentence(_ev(), ref, "A") == "costs the same per month as A"
    assert "no monthly cost" in str(cost_sentence(_ev(monthly_cost_usd=None), ref, "A"))


def test_one_off_sentence_compares_with_the_reference() -> None:
    ref = _ev(one_off_cost_usd=5000.0)
    assert one_off_sentence(_ev(one_off_cost_usd=2000.0), ref, "A") == (
        "needs $3,000 less up front than A ($2,000)"
    )  # not "needs $2,000 up front" as if new
    assert one_off_sentence(_ev(one_off_cost_usd=9000.0), ref, "A") == (
        "needs $4,000 more up front than A ($9,000)"
    )
    assert one_off_sentence(_ev(one_off_cost_usd=5000.0), ref, "A") is None
    assert "cannot price" in str(one_off_sentence(_ev(one_off_cost_usd=None), ref, "A"))


def test_slo_sentence_says_when_it_does_not_fit() -> None:
    assert slo_sentence(_ev()) == "meets the SLOs at p95"
    assert slo_sentence(_ev(meets_slo=False)) == "misses an SLO at p95"
    assert slo_sentence(_ev(meets_slo=False, fits=False)) == "does not fit on its GPUs"


def test_capability_sentence_never_compares_with_nothing() -> None:
    ref = _ev()
    assert capability_sentence(_ev(capability_score=4.0), ref, "A") == (
        "rates higher on capability (4 vs 3)"
    )
    assert capability_sentence(_ev(capability_score=2.5), ref, "A") == (
        "rates lower on capability (2.5 vs 3)"
    )
    assert capability_sentence(_ev(capability_score=None), ref, "A") == (
        "changes no axis, so has no capability rating"
    )
    assert capability_sentence(_ev(), ref, "A") is None


def test_governance_sentence_names_only_the_sources_that_differ() -> None:
    """The reported case: B also runs retrieval on PII, so PII is not why B's burden is lower."""
    pii = {"retrieval": 3, PII_RETRIEVAL: 2}
    a = _ev(governance_burden=13, governance_parts={**pii, "peft": 3, "alignment": 5})
    b = _ev(governance_burden=5, governance_parts=dict(pii))
    text = str(governance_sentence(b, a, "A"))
    assert text == "removes governance burden (8: 5 vs 13) from −5 alignment, −3 peft"
    assert "PII" not in text
    c = _ev(governance_burden=7, governance_parts={"retrieval": 3, PII_RETRIEVAL: 2, "peft": 2})
    assert governance_sentence(c, b, "B") == "adds governance burden (2: 7 vs 5) from +2 peft"
    assert governance_sentence(_ev(governance_burden=5, governance_parts=dict(pii)), b, "B") is None


def test_evaluation_burden_parts_add_up_and_summary_uses_them() -> None:
    plain = evaluate_portfolio(BASE, [RAG], DATA)
    pii = evaluate_portfolio(BASE, [RAG], DATA, regulated=True)
    assert sum(pii.governance_parts.values()) == pii.governance_burden
    assert pii.governance_parts[PII_RETRIEVAL] == 2
    assert PII_RETRIEVAL not in plain.governance_parts
    summary = compare({1: plain, 2: pii}, {1: "A", 2: "B"}).summary
    slo = "meets the SLOs at p95" if pii.meets_slo else "misses an SLO at p95"
    assert summary == [
        f"B costs the same per month as A, {slo}, adds governance burden "
        f"(2: {pii.governance_burden} vs {plain.governance_burden}) from "
        f"+2 {PII_RETRIEVAL}."
    ]
