"""Issue 18 items 3-4: a card's money, time and SLO figures are one computation with a portfolio of
that item; reasoning compute is charged on the share of traffic the failure hits; monthly cost
comes from fractional GPU-hours; one-off costs are broken down with sourced unit costs; the
technique is chosen by price among the candidates, never one already in place."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.estimators.candidates import (
    BASE_CANDIDATES,
    CANDIDATES,
    Option,
    choose,
    in_place,
    merged,
    ruled_out,
)
from app.estimators.card_economics import (
    VECTOR_DB_MIN_USD,
    price_change,
    router_gpu_hours_per_request,
)
from app.estimators.engines import ENGINES
from app.estimators.inference import ServingConfig
from app.estimators.interventions import Scenario
from app.estimators.portfolio import AxisData, Item, evaluate_portfolio
from app.estimators.precision import Precision
from app.estimators.reference_data import catalog_architecture, catalog_gpu
from app.estimators.serving_interventions import ADDED_CANDIDATES
from app.estimators.techniques import plan, split_plan, technique_impact
from app.rules.reference import catalog

C = catalog()
GPU = replace(catalog_gpu("a100_sxm_80gb"), price_per_hour_usd=2.70)
BASE = Scenario(
    catalog_architecture("llama_3_1_8b"),
    GPU,
    ENGINES["vllm"],
    ServingConfig(n_gpus=1),
    1800,
    250,
    200_000,
    2000,
    50,
    peak_to_average=2.0,
)
DATA = AxisData(C["matrix"], C["profiles"], {}, C["techniques"], {})
CONTRACT = (
    "cost_per_1k_requests_usd",
    "monthly_cost_usd",
    "replicas",
    "time_to_answer_p95_ms",
    "slo_after",
    "traffic_share",
    "one_off_usd",
    "ttft_p95_ms",
    "tpot_p95_ms",
    "gpu_hours_per_month",
    "monthly_cost_delta_usd",
    "one_off_cost_usd",
    "provisioned_monthly_cost_usd",
    "ttft_delta_ms",
    "tpot_delta_ms",
)
SLOW = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _card(technique: str, s: Scenario = BASE, **params: object) -> dict:  # type: ignore[type-arg]
    return technique_impact(s, technique, params=params).fields


# ---- "What was seen", bullet 2: CoT + self-consistency -----------------------------------------
def test_cot_self_consistency_card_shows_the_time_the_portfolio_shows() -> None:
    """The card said "TTFT +0 ms" while a portfolio of the same card missed the SLO with a 57 s
    TTFT: now both are one computation, and the reasoning time is on the card."""
    card = _card("cot_self_consistency", traffic_share=0.15)
    ev = evaluate_portfolio(
        BASE, [Item("reasoning_compute", "cot_self_consistency", card["params"])], DATA
    )
    tta = card["time_to_answer_p95_ms"]
    # 600 reasoning tokens and the slowest of 5 complete samples (reasoning + answer) before the
    # vote, where the old card said "+0 ms"
    assert tta["after"] > tta["before"] + 5_000
    assert ev.time_to_answer_ms_p95 == tta["after"]
    assert ev.ttft_ms_p95 == card["ttft_p95_ms"]["after"]  # the first generated token's
    assert ev.replicas == card["replicas"]["after"]
    assert ev.monthly_cost_usd == card["monthly_cost_usd"]["after"]
    assert ev.meets_slo == all(card["slo_after"].values())
    assert card["slo_after"]["time_to_answer_ok"] is False  # 2 s TTFT SLO: the answer misses it
    assert "misses its SLO on time to answer" in " ".join(
        technique_impact(BASE, "cot_self_consistency", params={"traffic_share": 0.15}).assumptions
    )


def test_reasoning_is_charged_on_the_share_the_failure_hits() -> None:
    """The card charged the whole traffic although the failure hits 15 % of it."""
    part = _card("cot_self_consistency", traffic_share=0.15)
    whole = _card("cot_self_consistency", traffic_share=1.0)
    assert part["traffic_share"] == 0.15
    assert whole["traffic_share"] == 1.0
    assert part["params"]["traffic_share"] == 0.15
    before = part["monthly_cost_usd"]["before"]
    assert before < part["monthly_cost_usd"]["after"] < whole["monthly_cost_usd"]["after"]
    # the routed split: 85 % as today, 15 % through the reasoning path, plus the router
    b, w = part["gpu_hours_per_month"]["before"], whole["gpu_hours_per_month"]["after"]
    router = 200_000 * 730 / 24 * router_gpu_hours_per_request(BASE)
    assert part["gpu_hours_per_month"]["after"] == pytest.approx(
        0.85 * b + 0.15 * w + router, rel=1e-3
    )


def test_a_zero_share_adds_nothing_and_says_so() -> None:
    """An answered 0 %: the reasoning compute runs on no request, so no GPU-hours, no routing
    classifier and no one-off are added (not priced as every request, nor as a classifier
    routing nothing)."""
    for technique in ("cot_self_consistency", "rlvr_reasoning_model"):
        zero = technique_impact(BASE, technique, params={"traffic_share": 0.0})
        f = zero.fields
        assert f["traffic_share"] == 0
        assert f["monthly_cost_usd"]["delta"] == 0
        assert f["gpu_hours_per_month"]["after"] == f["gpu_hours_per_month"]["before"]
        assert f["replicas"]["after"] == f["replicas"]["before"]
        assert f["time_to_answer_p95_ms"]["after"] == f["time_to_answer_p95_ms"]["before"]
        assert f["one_off_usd"]["total"] == 0
        assert any("applied to 0% of requests" in a for a in zero.assumptions)


def test_a_change_to_another_gpu_is_priced_at_that_gpus_price() -> None:
    """Right-sizing onto another GPU type: its GPU-hours at its own price, not the deployment's
    GPU's price (the card showed an L40S move at the A100's $2.70)."""
    cheap = replace(catalog_gpu("l40s"), price_per_hour_usd=0.5)
    card = _card(
        "gpu_right_sizing", replace(BASE, gpu_prices=(("l40s", 0.5),)), gpu="l40s", n_gpus=1
    )
    hours = card["gpu_hours_per_month"]["after"]
    assert card["monthly_cost_usd"]["after"] == pytest.approx(
        hours * cheap.price_per_hour_usd, rel=1e-3
    )
    assert card["monthly_cost_usd"]["before"] == pytest.approx(
        card["gpu_hours_per_month"]["before"] * 2.70, rel=1e-3
    )


# ---- bullet 3: RAG on low traffic ---------------------------------------------------------------
def test_rag_on_low_traffic_costs_more_per_month_not_zero() -> None:
    """Whole replicas x 730 h showed "$0/month" while the cost per request tripled."""
    low = replace(BASE, requests_per_day=2_000)
    card = _card("rag", low)
    m, per_1k = card["monthly_cost_usd"], card["cost_per_1k_requests_usd"]
    assert card["replicas"] == {"before": 1, "after": 1}  # under one replica either way
    assert m["delta"] > 0
    assert per_1k["after"] > 1.5 * per_1k["before"]
    # fractional: monthly = the GPU-hours the requests need x the price
    hours = card["gpu_hours_per_month"]["after"]
    assert hours < 730
    assert m["after"] == pytest.approx(hours * 2.70, abs=0.01)


# ---- bullet 6: one-off costs --------------------------------------------------------------------
def test_one_off_breakdown_uses_the_sourced_unit_costs() -> None:
    q = _card("qlora", examples=20_000)["one_off_usd"]
    assert q["labelling"] == pytest.approx(20_000 * 0.072)  # economics.md §3.1 [N-SEM]
    assert q["evaluation"] == pytest.approx(12.5)  # 1,000 judgements, §3.5 [N-AE]
    assert q["gpu"] > 0
    assert q["preference_data"] == 0
    assert q["total"] == pytest.approx(sum(v for k, v in q.items() if k != "total"), abs=0.02)
    d = _card("dpo", pairs=10_000)["one_off_usd"]
    assert d["preference_data"] == pytest.approx(10_000 * 0.30)  # §3.1 [N-AE]
    cai = _card("constitutional_ai", pairs=10_000)["one_off_usd"]
    assert cai["preference_data"] == 0  # AI feedback, no human pairs
    rag = _card("rag", corpus_tokens=1e8)
    assert rag["one_off_usd"]["embedding_and_index"] > 0
    no_index = _card("rag")
    # the vector database is a monthly bill (Weaviate Flex minimum), on top of the GPU-hours
    extra = rag["monthly_cost_usd"]["after"] - no_index["monthly_cost_usd"]["after"]
    assert extra == pytest.approx(VECTOR_DB_MIN_USD, abs=0.05)


def test_graphrag_indexing_generates_output_tokens() -> None:
    """GraphRAG was priced as two prefill passes; real pipelines generate several times the
    corpus in output tokens, which dominates the index build."""
    p = plan("graphrag", BASE, params={"corpus_tokens": 1e8})
    assert p is not None
    _, costs = p.interventions[0].apply(BASE)
    labels = {o.label.split(" (")[0]: o for o in costs if o.kind == "embedding_and_index"}
    gen = next(o for o in costs if "generates" in o.label)
    read = labels["LLM graph extraction over the corpus"]
    assert gen.gpu_hours > read.gpu_hours
    assert "3e+08 output tokens" in gen.label
    g = _card("graphrag", corpus_tokens=1e8)["one_off_usd"]["embedding_and_index"]
    r = _card("rag", corpus_tokens=1e8)["one_off_usd"]["embedding_and_index"]
    assert g > 10 * r


# ---- properties ---------------------------------------------------------------------------------
TECHNIQUES = (
    "rag",
    "cot",
    "cot_self_consistency",
    "speculative_decoding",
    "quantization",
    "qlora",
    "dpo",
    "long_context_window",
)


@SLOW
@given(st.sampled_from(TECHNIQUES), st.floats(0.01, 1.0), st.sampled_from([20_000, 500_000]))
def test_the_card_is_the_single_item_portfolio(technique: str, share: float, rpd: int) -> None:
    s = replace(BASE, requests_per_day=rpd)
    params = {"traffic_share": share} if technique.startswith("cot") else {}
    card = technique_impact(s, technique, params=params).fields
    ev = evaluate_portfolio(s, [Item(C["techniques"][technique], technique, card["params"])], DATA)
    for key in CONTRACT:
        assert ev.economics[key] == card[key], key
    assert ev.monthly_cost_usd == card["monthly_cost_usd"]["after"]
    assert ev.one_off_cost_usd == card["one_off_cost_usd"]
    assert ev.replicas == card["replicas"]["after"]
    assert ev.tpot_ms_p95 == card["tpot_p95_ms"]["after"]
    assert ev.ttft_ms_p95 == card["ttft_p95_ms"]["after"]
    assert ev.time_to_answer_ms_p95 == card["time_to_answer_p95_ms"]["after"]
    assert ev.economics["provisioned_monthly_cost_usd"] == card["provisioned_monthly_cost_usd"]


@SLOW
@given(
    st.sampled_from(("cot", "cot_self_consistency", "rlvr_reasoning_model")),
    st.floats(0.0, 1.0),
    st.floats(0.0, 1.0),
)
def test_raising_the_share_never_lowers_monthly_cost(technique: str, a: float, b: float) -> None:
    lo, hi = sorted((a, b))
    p = plan(technique, BASE, params={"traffic_share": lo})
    assert p is not None
    _, limited, _ = split_plan(p)
    low = price_change(BASE, [], list(p.interventions), lo)
    high = price_change(BASE, [], list(p.interventions), hi)
    assert limited or lo == 1.0
    assert low.after.monthly_cost_usd is not None
    assert high.after.monthly_cost_usd is not None
    assert high.after.monthly_cost_usd >= low.after.monthly_cost_usd - 1e-6


def _options(s: Scenario, fm: str) -> list[Option]:
    return [Option(t, C["techniques"][t], technique_impact(s, t).fields) for t in CANDIDATES[fm]]


@pytest.mark.slow
@SLOW
@given(st.sampled_from(sorted(ENGINES)), st.sampled_from(["bf16", "fp8", "int8"]))
def test_a_technique_already_in_place_is_never_recommended(engine: str, precision: str) -> None:
    gpu = replace(catalog_gpu("h100_sxm_80gb"), price_per_hour_usd=3.99)
    s = replace(
        BASE,
        gpu=gpu,
        engine=ENGINES[engine],
        cfg=ServingConfig(precision=Precision(precision), kv_cache_precision=Precision(precision)),
    )
    excluded = {t: w for t in CANDIDATES["serving_cost"] if (w := in_place(t, s))}
    choice = choose(
        "paged_attention_speculative", "serving_optimization", _options(s, "serving_cost"), excluded
    )
    assert choice.technique not in excluded
    if engine in ("vllm", "sglang", "tensorrt-llm"):
        assert "paged_attention_speculative" in excluded
        assert "already pages the KV cache" in excluded["paged_attention_speculative"]
    if precision != "bf16":
        assert "quantization" in excluded
    alts = {a["technique"]: a for a in choice.alternatives}
    for t, why in excluded.items():
        assert alts[t]["why_not"] == why


def test_vllm_serving_cost_gets_no_paged_attention_and_lists_alternatives() -> None:
    """vLLM already pages the KV cache: the $0 'PagedAttention + speculative' advice is gone and
    the priced alternatives carry the contract fields."""
    excluded = {t: w for t in CANDIDATES["serving_cost"] if (w := in_place(t, BASE))}
    choice = choose(
        "paged_attention_speculative",
        "serving_optimization",
        _options(BASE, "serving_cost"),
        excluded,
    )
    assert choice.technique not in excluded
    assert not choice.technique.startswith("paged_attention")
    assert choice.technique in CANDIDATES["serving_cost"]
    assert choice.why
    # the pick is the cheapest per month of the alternatives that meet the SLOs
    picked = {o.technique: o for o in _options(BASE, "serving_cost")}[choice.technique]
    cheapest = picked.fields["monthly_cost_usd"]["after"]
    for alt in choice.alternatives:
        if alt["slo_after"] and all(alt["slo_after"].values()) and alt["monthly_cost_usd"]:
            assert alt["why_not"] in excluded.values() or alt["monthly_cost_usd"] >= cheapest
    for alt in choice.alternatives:
        assert set(alt) == {
            "technique",
            "axis",
            "cost_per_1k_requests_usd",
            "monthly_cost_usd",
            "time_to_answer_p95_ms",
            "slo_after",
            "why_not",
        }
        assert alt["why_not"]
    hf = replace(BASE, engine=ENGINES["hf-transformers"])
    assert in_place("paged_attention", hf) is None


def test_follow_up_answers_rule_candidates_out() -> None:
    facts = {"fm.factual_staleness.cross_document": True}
    assert ruled_out("factual_staleness", "rag", facts)
    assert ruled_out("factual_staleness", "graphrag", facts) is None
    assert ruled_out("domain_accuracy_gap", "qlora", {})  # no labelled data
    assert (
        ruled_out("domain_accuracy_gap", "qlora", {"fm.domain_accuracy_gap.labelled_data": True})
        is None
    )


def test_more_candidates_merge_with_one_line() -> None:
    m = merged(BASE_CANDIDATES, {"serving_cost": ("engine_switch", "rag"), "new_mode": ("x",)})
    assert m["serving_cost"][-2:] == ("engine_switch", "rag")
    assert m["serving_cost"][:-2] == BASE_CANDIDATES["serving_cost"]
    assert m["new_mode"] == ("x",)
    # a technique already listed keeps its first place
    assert merged(m, {"serving_cost": ("engine_switch",)}) == m
    # the serving techniques module's candidates are merged in
    assert set(ADDED_CANDIDATES["serving_cost"]) <= set(CANDIDATES["serving_cost"])


# ---- issue 19 item 6: the card's figures carry their held-out bands -----------------------------
def test_card_figures_carry_the_band_of_their_family_and_gpu_class() -> None:
    """Each figure after the change has its p10-p90 band: TTFT from the prefill family, TPOT from
    decode, money from static-batch throughput, all on the deployment's GPU generation (ampere
    for an A100), and the value lies inside its band."""
    from app.estimators import bands

    impact = technique_impact(BASE, "cot_self_consistency", params={"traffic_share": 0.15})
    card = impact.fields
    rg = card["range"]
    assert set(rg) == {
        "ttft_p95_ms",
        "tpot_p95_ms",
        "time_to_answer_p95_ms",
        "monthly_cost_usd",
        "cost_per_1k_requests_usd",
    }
    for key in rg:
        b, value = rg[key], card[key]["after"]
        assert b is not None, key
        assert b["p10"] <= value * 1.0001, key
        assert value <= b["p90"] * 1.0001, key
    pre = bands.band("prefill_ttft_unloaded", GPU.key)
    dec = bands.band("batch1_decode", GPU.key)
    assert pre is not None
    assert dec is not None
    assert pre.scope == dec.scope == "ampere"
    exp_ttft = pre.time(card["ttft_p95_ms"]["after"])
    assert rg["ttft_p95_ms"]["p10"] == pytest.approx(exp_ttft["p10"], rel=1e-3)
    assert rg["tpot_p95_ms"]["p90"] == pytest.approx(
        dec.time(card["tpot_p95_ms"]["after"])["p90"], rel=1e-3
    )
    note = next(a for a in impact.assumptions if a.startswith("range after the change"))
    assert "leave-one-source-out" in note
    assert "ampere GPUs" in note


def test_a_family_without_held_out_rows_gives_no_band_and_says_why() -> None:
    from app.estimators.card_economics import side_ranges

    after = price_change(BASE, []).after
    table = {"prefill_ttft_unloaded": {"hopper": {"p10": -0.2, "p90": 0.1, "n": 4}}}
    rg, why = side_ranges(after, GPU.key, GPU.price_per_hour_usd, table)
    assert rg["ttft_p95_ms"] is None  # an A100 is not hopper and there is no family-wide band
    assert all(v is None for v in rg.values())
    assert any("no held-out batch1_decode rows" in w for w in why)
    hopper = side_ranges(after, "h100_sxm", GPU.price_per_hour_usd, table)[0]
    assert hopper["ttft_p95_ms"] is not None
    assert hopper["tpot_p95_ms"] is None


# ---- review findings 3, 5 and the FP8 low item ---------------------------------------------------
def _fake(technique: str, monthly: float, slo: dict[str, bool]) -> Option:
    fields = {
        "monthly_cost_usd": {"before": 500.0, "after": monthly, "delta": monthly - 500},
        "slo_after": slo,
        "one_off_cost_usd": 0.0,
        "time_to_answer_p95_ms": {"before": 100.0, "after": 20_000.0},
    }
    return Option(technique, "reasoning_compute", fields)


def test_when_no_option_meets_the_slos_the_rule_is_stated_and_the_cheapest_is_shown() -> None:
    """Review finding 5: CoT + self-consistency was kept as "the rules' pick" at $5,318 while
    plain CoT, at $1,063, missed the same SLO. Now: fewest SLOs missed, then the cheapest; the
    reason names the SLO missed and the capability trade-off (Wang et al. 2023)."""
    tta_only = {"ttft_ok": True, "tpot_ok": True, "time_to_answer_ok": False}
    options = [
        _fake("cot_self_consistency", 5318.0, tta_only),
        _fake("cot", 1063.0, tta_only),
        _fake(
            "rlvr_reasoning_model",
            900.0,
            {"ttft_ok": False, "tpot_ok": False, "time_to_answer_ok": False},
        ),
    ]
    choice = choose("cot_self_consistency", "reasoning_compute", options, {})
    assert choice.technique == "cot"
    assert "rules' pick" not in choice.why
    assert "misses the time-to-answer SLO" in choice.why
    assert "TTFT" not in choice.why
    assert "Wang et al. 2023" in choice.why
    assert "self-consistency is more accurate than plain CoT" in choice.why
    alts = {a["technique"]: a["why_not"] for a in choice.alternatives}
    assert alts["cot_self_consistency"] == "misses the time-to-answer SLO"
    assert alts["rlvr_reasoning_model"] == "misses the TTFT and TPOT and time-to-answer SLOs"


def test_fp8_on_an_a100_says_the_gpu_has_no_fp8() -> None:
    """Low item: FP8 options on an A100 said "not priced: no cost model"."""
    options = _options(BASE, "serving_cost")
    excluded = {t: w for t in CANDIDATES["serving_cost"] if (w := in_place(t, BASE))}
    choice = choose("paged_attention_speculative", "serving_optimization", options, excluded)
    alts = {a["technique"]: a["why_not"] for a in choice.alternatives}
    assert "weight_quant_fp8" in alts
    assert alts["weight_quant_fp8"] == "not priced: the NVIDIA A100 SXM 80GB has no FP8"
    assert "no cost model" not in alts["weight_quant_fp8"]


def test_a_moe_model_is_in_place_on_a_moe_deployment_unless_a_better_moe_fits() -> None:
    """Review finding 3: Mixtral-8x7B was told to adopt "Sparse mixture-of-experts model"."""
    from app.estimators.reference_data import read_rows
    from app.estimators.techniques import better_models

    mix = replace(
        BASE,
        arch=catalog_architecture("mixtral_8x7b"),
        gpu=replace(catalog_gpu("h100_sxm_80gb"), price_per_hour_usd=3.99),
        cfg=ServingConfig(n_gpus=2),
    )
    why = in_place("moe_model", mix, {})
    assert why is not None
    assert "already a mixture-of-experts model" in why
    assert in_place("moe_model", BASE, {}) is None  # a dense deployment: not in place
    models = {r["key"]: catalog_architecture(r["key"]) for r in read_rows("models.csv")}
    better = better_models(mix, models, "general", moe=True)
    assert (in_place("moe_model", mix, models) is None) == bool(better)
    assert all(models[p.key].is_moe for p in better)


def test_each_model_technique_takes_its_own_kind_of_model() -> None:
    from app.estimators.reference_data import read_rows
    from app.estimators.techniques import ParamError

    models = {r["key"]: catalog_architecture(r["key"]) for r in read_rows("models.csv")}
    with pytest.raises(ParamError, match="mixture-of-experts"):
        plan("larger_base_model", BASE, models=models, params={"model": "mixtral_8x7b"})
    with pytest.raises(ParamError, match="not a mixture-of-experts"):
        plan("moe_model", BASE, models=models, params={"model": "llama_3_1_70b"})
