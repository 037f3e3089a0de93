"""The serving-layer, traffic and prompt techniques (app.estimators.serving_interventions)."""

from __future__ import annotations

from dataclasses import replace
from importlib import resources

import pytest
import yaml

from app.estimators.engines import engine
from app.estimators.errors import FieldError
from app.estimators.inference import ServingConfig, speculative_verify_ratio
from app.estimators.interventions import (
    Impact,
    Retrieval,
    Scenario,
    Speculative,
    evaluate,
    impact,
    speculative_gain,
)
from app.estimators.precision import Precision
from app.estimators.reference_data import architecture_from_row, catalog_gpu, read_rows
from app.estimators.serving_interventions import (
    ADDED_CANDIDATES,
    GPTQ_GPU_HOURS_175B,
    GPU_KEYS,
    IN_PLACE,
    JUDGE_USD_PER_1K,
    TP_CHOICES,
    catalog_gpus,
    in_place,
    serving_params,
    smaller_model,
)
from app.estimators.speculative import speedup, speedup_at_load
from app.estimators.techniques import PARAMS, ParamError, plan, resolve_params, technique_impact
from app.estimators.training import DEFAULT_MFU

MODELS = {r["key"]: architecture_from_row(r) for r in read_rows("models.csv")}
H100 = replace(catalog_gpu("h100_sxm_80gb"), price_per_hour_usd=2.0)
S8 = Scenario(
    arch=MODELS["llama_3_1_8b"],
    gpu=H100,
    engine=engine("vllm"),
    cfg=ServingConfig(),
    input_tokens=1024,
    output_tokens=256,
    requests_per_day=2_000_000,
    ttft_slo_ms=800,
    tpot_slo_ms=50,
)
HF = replace(S8, engine=engine("hf-transformers"))
# "What was seen", bullet 4: a 70B model with 6k-token prompts on 4 x H100 misses its TTFT SLO.
S70 = Scenario(
    arch=MODELS["llama_3_1_70b"],
    gpu=H100,
    engine=engine("vllm"),
    cfg=ServingConfig(n_gpus=4),
    input_tokens=6000,
    output_tokens=300,
    requests_per_day=200_000,
    ttft_slo_ms=300,
    tpot_slo_ms=60,
)


def _after(s: Scenario, technique: str, **params: object) -> tuple[Scenario, Impact]:
    p = plan(technique, s, params=params, models=MODELS)
    assert p is not None
    im = impact(s, list(p.interventions))
    assert im.scenario is not None
    return im.scenario, im


def _catalog() -> tuple[dict[str, str], dict[str, list[str]]]:
    def load(name: str) -> object:
        return yaml.safe_load((resources.files("app.catalog") / "data" / name).read_text())

    techs = {t["key"]: t["axis"] for t in load("techniques.yaml")["techniques"]}  # type: ignore[index]
    fms = {f["key"]: f["axes"] for f in load("failure_modes.yaml")["failure_modes"]}  # type: ignore[index]
    return techs, fms


# --- registration ----------------------------------------------------------------------------
SERVING_TECHNIQUES = tuple(serving_params(lambda *a, **k: None))  # the techniques it registers


def test_every_new_technique_is_in_the_catalog_with_params_and_a_plan() -> None:
    techs, fms = _catalog()
    for t in SERVING_TECHNIQUES:
        assert t in techs, t
        assert t in PARAMS
        for p in PARAMS[t]:
            assert p.source, (t, p.name)
            assert p.check(p.default) == p.default or p.type == "float"
    for fm, added in ADDED_CANDIDATES.items():
        assert fm in fms
        for t in added:
            assert techs[t] in fms[fm], (fm, t)  # each on one of the failure mode's axes
    assert set(IN_PLACE) <= set(techs)


def test_existing_rule_set_still_validates_with_the_new_techniques() -> None:
    from app.rules.reference import catalog, default_ruleset_text, parse

    assert parse(yaml.safe_load(default_ruleset_text())).rules
    assert set(SERVING_TECHNIQUES) <= set(catalog()["techniques"])


# --- parameters --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("technique", "params", "field"),
    [
        ("weight_quant_int4", {"method": "nf4"}, "method"),
        ("prefix_caching", {"share_reused": 1.0}, "share_reused"),
        ("response_caching", {"hit_rate": -0.1}, "hit_rate"),
        ("chunked_prefill", {"chunk_tokens": 100}, "chunk_tokens"),
        ("engine_switch", {"engine": "llama.cpp"}, "engine"),
        ("gpu_right_sizing", {"gpu": "tpu_v5"}, "gpu"),
        ("cascade_routing", {"share_routed": "half"}, "share_routed"),
        ("distillation", {"examples": 0}, "examples"),
        ("guardrail_classifier", {"guard": "shieldgemma_2b"}, "guard"),
        ("policy_prompt", {"prompt_tokens": 1.5}, "prompt_tokens"),
        ("few_shot_prompting", {"shots": 3}, "shots"),
    ],
)
def test_bad_params_name_the_field(technique: str, params: dict[str, object], field: str) -> None:
    with pytest.raises(ParamError) as exc:
        resolve_params(technique, params)
    assert exc.value.field == field


def test_unknown_model_and_unfit_requests_name_the_field() -> None:
    with pytest.raises(FieldError) as exc:
        plan("cascade_routing", S8, params={"model": "gpt_9"}, models=MODELS)
    assert exc.value.field == "model"
    r = technique_impact(S8, "cascade_routing", models={"llama_3_1_8b": S8.arch})
    assert r.fields["monthly_cost_delta_usd"] is None
    assert any("no catalog model" in a for a in r.assumptions)
    r = technique_impact(HF, "prefix_caching", models=MODELS)
    assert any("switch the engine first" in a for a in r.assumptions)


# --- in place ------------------------------------------------------------------------------------


def test_vllm_already_pages_so_paging_techniques_are_in_place() -> None:
    for t in ("paged_attention", "paged_attention_speculative", "engine_switch", "chunked_prefill"):
        assert in_place(t, S8), t
    assert "vllm already pages the KV cache" in (in_place("paged_attention", S8) or "")
    for t in ("paged_attention", "paged_attention_speculative", "engine_switch", "chunked_prefill"):
        assert in_place(t, HF) is None, t
    for key in ("sglang", "tensorrt-llm"):
        assert in_place("paged_attention", replace(S8, engine=engine(key)))
    assert in_place("speculative_decoding", S8) is None
    assert in_place("speculative_decoding", replace(S8, speculative=(0.7, 4, 0.05)))


def test_quantisation_in_place_by_precision() -> None:
    fp8 = replace(S8, cfg=ServingConfig(precision=Precision.fp8))
    assert in_place("weight_quant_fp8", fp8)
    assert in_place("weight_quant_int8", fp8)
    assert in_place("weight_quant_int4", fp8) is None
    assert in_place("quantization", fp8) is None  # the KV cache is still bf16
    both = replace(S8, cfg=ServingConfig(precision=Precision.fp8, kv_cache_precision=Precision.fp8))
    assert in_place("quantization", both)
    assert in_place("fp8_kv_cache", both)
    int4 = replace(S8, cfg=ServingConfig(precision=Precision.int4))
    assert in_place("weight_quant_int4", int4)
    assert in_place("weight_quant_fp8", S8) is None


# --- effects against their sources ------------------------------------------------------------


def test_engine_switch_from_hf_transformers_is_cheaper_per_request() -> None:
    after, im = _after(HF, "engine_switch")
    assert after.engine.name == "vllm"
    b, a = im.before, im.after
    assert a.cost_per_1k_requests_usd < b.cost_per_1k_requests_usd
    assert a.requests_per_s_per_replica > b.requests_per_s_per_replica
    assert a.tpot_ms < b.tpot_ms  # CUDA graphs remove the eager launch floor
    assert im.one_off == []
    sg, _ = _after(HF, "engine_switch", engine="sglang")
    assert sg.engine.name == "sglang"
    r = technique_impact(S8, "engine_switch", models=MODELS)
    assert any("already served by vllm" in x for x in r.assumptions)


def test_weight_quantisation_bytes_peaks_calibration_and_caveat() -> None:
    before = evaluate(S8)
    fp8, im8 = _after(S8, "weight_quant_fp8")
    assert fp8.cfg.precision == Precision.fp8
    assert fp8.cfg.kv_cache_precision == Precision.bf16  # weights only
    a8 = im8.after
    # Half the weight bytes: decode TPOT at batch 1 (memory-bound) falls by a third or more;
    # FP8 tensor cores (twice the BF16 peak) speed up the compute-bound prefill.
    assert a8.tpot_ms < 0.67 * before.tpot_ms
    assert a8.ttft_ms < 0.75 * before.ttft_ms
    assert im8.one_off == []  # dynamic fp8: no calibration
    int4, im4 = _after(S8, "weight_quant_int4", method="gptq")
    a4 = im4.after
    assert a4.tpot_ms < a8.tpot_ms  # a quarter of the bytes
    assert a4.ttft_ms == pytest.approx(before.ttft_ms, rel=0.05)  # weight-only: BF16 peak
    (calib,) = im4.one_off
    hours = GPTQ_GPU_HOURS_175B * S8.arch.total_params / 175e9
    assert calib.gpu_hours == pytest.approx(hours)
    assert calib.cost_usd == pytest.approx(hours * 2.0)
    p = plan("weight_quant_int4", S8, models=MODELS)
    assert p is not None
    assert any("Kurtic" in a for a in p.assumptions)
    a100 = replace(S8, gpu=catalog_gpu("a100_sxm_80gb"))
    r = technique_impact(a100, "weight_quant_fp8", models=MODELS)
    assert r.fields["tpot_delta_ms"] is None  # no FP8 tensor cores: not priced, said why
    assert any("has no FP8" in x for x in r.assumptions)
    assert "has no FP8" in r.fields["not_priced"]


def test_fp8_kv_cache_halves_kv_bytes_and_raises_the_batch() -> None:
    long = replace(S8, input_tokens=8000, tpot_slo_ms=200)
    after, im = _after(long, "fp8_kv_cache")
    assert after.cfg.kv_cache_precision == Precision.fp8
    assert after.arch.kv_bytes_per_token(1.0) == pytest.approx(
        after.arch.kv_bytes_per_token(2.0) / 2
    )
    b, a = im.before, im.after
    assert a.batch_at_slo > b.batch_at_slo
    assert a.cost_per_1k_requests_usd < b.cost_per_1k_requests_usd


def test_tensor_parallelism_doubles_the_gpus_and_cuts_ttft() -> None:
    after, im = _after(S70, "tensor_parallelism")
    assert after.cfg.n_gpus == 8
    assert im.after.ttft_ms < 0.65 * im.before.ttft_ms
    with pytest.raises(FieldError) as exc:
        impact(S70, list(plan("tensor_parallelism", S70, params={"n_gpus": 3}).interventions))  # type: ignore[union-attr]
    assert exc.value.field == "n_gpus"


def test_gpu_right_sizing_picks_the_cheapest_catalog_option_that_meets_the_slos() -> None:
    after, im = _after(S70, "gpu_right_sizing")
    chosen = im.after
    assert chosen.meets_slo
    assert (after.gpu.key, after.cfg.n_gpus) != (S70.gpu.key, S70.cfg.n_gpus)
    for key, spec in catalog_gpus().items():  # brute force: no cheaper priced option meets
        gpu = S70.gpu if key == S70.gpu.key else spec
        for n in TP_CHOICES:
            if (key, n) == (S70.gpu.key, S70.cfg.n_gpus) or S70.arch.n_heads % n:
                continue
            if not gpu.supports(S70.cfg.precision):
                continue
            out = evaluate(replace(S70, gpu=gpu, cfg=replace(S70.cfg, n_gpus=n)))
            if out.fits and out.meets_slo and out.cost_per_1k_requests_usd is not None:
                assert out.cost_per_1k_requests_usd >= chosen.cost_per_1k_requests_usd - 1e-9
    asked, _ = _after(S70, "gpu_right_sizing", gpu="h200_sxm_141gb", n_gpus=2)
    assert asked.gpu.key == "h200_sxm_141gb"
    assert asked.cfg.n_gpus == 2
    assert "h200_sxm_141gb" in GPU_KEYS


def test_gpu_right_sizing_prices_other_gpus_at_the_organisations_effective_price() -> None:
    """Defect: right-sizing priced every other GPU type at the shipped default. An organisation
    that sets a low price for a GPU type sees right-sizing move to it, priced at its price."""
    shipped, _ = _after(S8, "gpu_right_sizing")
    assert shipped.gpu.key != "l40s"  # at the shipped defaults the L40S is not the pick
    table = tuple(
        (k, 0.10 if k == "l40s" else g.price_per_hour_usd) for k, g in catalog_gpus().items()
    )
    org = replace(S8, gpu_prices=table)
    after, im = _after(org, "gpu_right_sizing")
    assert after.gpu.key == "l40s"
    assert after.gpu.price_per_hour_usd == 0.10
    alone = evaluate(replace(S8, gpu=after.gpu, cfg=replace(S8.cfg, n_gpus=after.cfg.n_gpus)))
    assert im.after.cost_per_1k_requests_usd == pytest.approx(alone.cost_per_1k_requests_usd)
    p = plan("gpu_right_sizing", org, models=MODELS)
    assert p is not None
    assert "organisation's effective price $0.1/GPU-hour" in p.assumptions[0]
    # asked for by key, the GPU is priced from the table too; an unpriced one stays unpriced
    asked, _ = _after(org, "gpu_right_sizing", gpu="l40s", n_gpus=1)
    assert asked.gpu.price_per_hour_usd == 0.10
    none = replace(S8, gpu_prices=tuple((k, None) for k, _ in table))
    unpriced, _ = _after(none, "gpu_right_sizing", gpu="l40s", n_gpus=1)
    assert unpriced.gpu.price_per_hour_usd is None


def test_prefix_caching_prefills_only_the_uncached_share() -> None:
    long = replace(S8, input_tokens=4096)
    after, im = _after(long, "prefix_caching")
    assert after.cached_prompt_share == 0.5
    b, a = im.before, im.after
    # Half the tokens through the weights, 3/4 of the causal attention FLOPs (P² − (P/2)²).
    assert 0.4 * b.ttft_ms < a.ttft_ms < 0.62 * b.ttft_ms
    assert a.tpot_ms == pytest.approx(b.tpot_ms)  # decode attends over the whole context
    more, im9 = _after(long, "prefix_caching", share_reused=0.9)
    assert im9.after.ttft_ms < a.ttft_ms
    none, im0 = _after(long, "prefix_caching", share_reused=0.0)
    assert im0.after == im0.before


def test_chunked_prefill_bounds_activation_memory() -> None:
    trt = replace(S8, engine=engine("tensorrt-llm"), input_tokens=8000, tpot_slo_ms=200)
    after, im = _after(trt, "chunked_prefill")
    assert after.engine.max_batched_tokens == 2048
    assert im.after.batch_at_slo >= im.before.batch_at_slo
    r = technique_impact(HF, "chunked_prefill", models=MODELS)
    assert any("does not chunk prefills" in x for x in r.assumptions)


def test_response_caching_removes_the_hit_share_and_adds_the_lookup() -> None:
    after, im = _after(S8, "response_caching", hit_rate=0.3, lookup_latency_ms=7)
    assert after.requests_per_day == S8.requests_per_day  # the incoming traffic is unchanged
    assert after.load_factor == pytest.approx(0.7)  # the GPUs serve the misses only
    b, a = im.before, im.after
    assert a.ttft_ms == pytest.approx(b.ttft_ms + 7)
    assert a.monthly_gpu_hours <= b.monthly_gpu_hours
    assert a.cost_per_1k_requests_usd == pytest.approx(b.cost_per_1k_requests_usd * 0.7)


def test_cascade_routes_a_share_to_a_smaller_model_in_gpu_seconds() -> None:
    assert MODELS[smaller_model(S70.arch, MODELS) or ""].name == "Llama-3.1-8B"  # not Llama-2-13B
    after, im = _after(S70, "cascade_routing")
    small = replace(S70, arch=MODELS["llama_3_1_8b"], cfg=ServingConfig(n_gpus=1))
    big_out, small_out = evaluate(S70), evaluate(small)
    ratio = (1 / small_out.requests_per_s_per_replica) / (4 / big_out.requests_per_s_per_replica)
    assert ratio < 0.3
    assert after.load_factor == pytest.approx(0.5 + 0.5 * ratio)
    assert im.after.cost_per_1k_requests_usd == pytest.approx(
        im.before.cost_per_1k_requests_usd * (0.5 + 0.5 * ratio)
    )  # per incoming request
    assert im.after.ttft_ms == pytest.approx(im.before.ttft_ms + 10)
    none, _ = _after(S70, "cascade_routing", share_routed=0.0)
    assert none.load_factor == 1.0


def test_distillation_serves_the_student_and_prices_teacher_and_training() -> None:
    after, im = _after(S70, "distillation")
    assert after.arch.name == "Llama-3.1-8B"
    assert after.cfg.n_gpus == 1
    gen, train = im.one_off
    tokens = 100_000 * 1024
    hours = (
        6
        * after.arch.active_params
        * tokens
        * 2
        / (H100.peak_flops(Precision.bf16) * DEFAULT_MFU)
        / 3600
    )
    assert train.gpu_hours == pytest.approx(hours)
    teacher = evaluate(S70)
    assert gen.gpu_hours == pytest.approx(
        tokens * 4 / (teacher.requests_per_s_per_replica * 300) / 3600
    )
    assert im.after.cost_per_1k_requests_usd < im.before.cost_per_1k_requests_usd


def test_lazygraphrag_indexes_at_vector_rag_cost() -> None:
    corpus = 1e9
    _, lazy = _after(S8, "lazygraphrag", corpus_tokens=corpus)
    _, rag = _after(S8, "rag", corpus_tokens=corpus, k=10, chunk_tokens=600)
    _, graph = _after(S8, "graphrag", corpus_tokens=corpus)
    assert lazy.one_off_cost_usd == pytest.approx(rag.one_off_cost_usd)
    assert lazy.one_off_cost_usd < 0.1 * graph.one_off_cost_usd
    assert lazy.after == rag.after  # same query-time shape


def test_guardrail_classifier_adds_its_load_and_the_prompt_check() -> None:
    after8, im8 = _after(S8, "guardrail_classifier")
    after1, im1 = _after(S8, "guardrail_classifier", guard="llama_guard_3_1b")
    assert after8.load_factor > after1.load_factor > 1.0
    assert im8.after.ttft_ms > im1.after.ttft_ms > im1.before.ttft_ms
    # Two 8B passes over prompt + response per request: about twice the deployment's prefill.
    assert 1.2 < after8.load_factor < 3.0
    assert im8.after.cost_per_1k_requests_usd == pytest.approx(
        im8.before.cost_per_1k_requests_usd * after8.load_factor
    )


def test_prompt_work_adds_tokens_and_a_small_one_off() -> None:
    after, im = _after(S8, "policy_prompt")
    assert after.input_tokens == S8.input_tokens + 500
    assert im.one_off_cost_usd == pytest.approx(500 * JUDGE_USD_PER_1K / 1000)
    after, _ = _after(S8, "few_shot_prompting", examples=3, tokens_per_example=100)
    assert after.input_tokens == S8.input_tokens + 300


# --- "What was seen", bullet 4 ---------------------------------------------------------------


def test_70b_ttft_miss_gets_alternatives_that_meet_the_ttft_slo() -> None:
    before = evaluate(S70)
    assert before.ttft_ms > S70.ttft_slo_ms
    assert in_place("chunked_prefill", S70)  # vLLM V1 chunks already: not an alternative here
    meets = {}
    for t in ("weight_quant_fp8", "tensor_parallelism", "prefix_caching", "gpu_right_sizing"):
        _, im = _after(S70, t)
        after = im.after
        assert after.ttft_ms < before.ttft_ms, t
        meets[t] = after.ttft_ms <= S70.ttft_slo_ms
    assert all(meets.values()), meets


# --- speculative decoding under load ---------------------------------------------------------


def test_speculative_gain_shrinks_with_the_batch() -> None:
    s = replace(S70, speculative=(0.7, 4, 0.05), input_tokens=1000)
    g1, g64, g350 = (speculative_gain(s, b) for b in (1, 64, 350))
    assert g1 == pytest.approx(speedup(0.7, 4, 0.05), rel=0.01)  # Theorem 3.8 at batch 1
    assert g1 > g64 > g350
    assert g350 < 1.0  # compute-bound: verification costs more than it saves (vLLM blog 2024)
    # With 6k-token contexts the KV read keeps the step memory-bound: the gain shrinks less.
    long = replace(S70, speculative=(0.7, 4, 0.05))
    assert g350 < speculative_gain(long, 350) < speculative_gain(long, 1)
    ctx = s.input_tokens + (s.output_tokens - 1) / 2
    r = speculative_verify_ratio(s.arch, s.gpu, s.engine, s.cfg, 350, ctx, 4)
    assert g350 == pytest.approx(speedup_at_load(0.7, 4, 0.05, r))
    assert speedup_at_load(0.7, 4, 0.05, 1.0) == pytest.approx(speedup(0.7, 4, 0.05))
    with pytest.raises(ValueError, match="verify_ratio"):
        speedup_at_load(0.7, 4, 0.05, 0.5)


def test_speculative_throughput_batch_gets_the_batch_gain() -> None:
    # The SLO-limited batch search sees the gain of each batch, not the idle one.
    heavy = replace(S8, tpot_slo_ms=200)
    spec = impact(heavy, [Speculative(0.7, 4, 0.05)])
    assert spec.scenario is not None
    b = spec.after.batch_at_slo
    assert b > 32
    assert speculative_gain(spec.scenario, b) < speculative_gain(spec.scenario, 1)


def test_retrieval_class_is_reused_for_lazygraphrag() -> None:
    p = plan("lazygraphrag", S8, models=MODELS)
    assert p is not None
    (r,) = p.interventions
    assert isinstance(r, Retrieval)
    assert r.graph_extraction_passes == 0


def test_speculative_decoding_prices_the_gain_at_the_slo_batch() -> None:
    # Throughput and cost use the TPOT at the SLO batch with its gain: at a memory-bound batch
    # speculation saves money; a 70B model at a large compute-bound batch pays for it (vLLM blog
    # 2024: Llama-3-70B on 4 x H100 slows down at high QPS).
    tight = replace(S8, tpot_slo_ms=8)
    small = impact(tight, [Speculative(0.7, 4, 0.05)])
    assert small.scenario is not None
    assert speculative_gain(small.scenario, small.after.batch_at_slo) > 1.5
    assert small.after.cost_per_1k_requests_usd < small.before.cost_per_1k_requests_usd
    big = replace(S70, input_tokens=500, output_tokens=200, ttft_slo_ms=2000, tpot_slo_ms=500)
    heavy = impact(big, [Speculative(0.7, 4, 0.05)])
    assert heavy.scenario is not None
    assert speculative_gain(heavy.scenario, heavy.after.batch_at_slo) < 1
    assert heavy.after.cost_per_1k_requests_usd > heavy.before.cost_per_1k_requests_usd


def test_speculative_assumptions_say_the_gain_is_taken_at_the_load() -> None:
    for t in ("speculative_decoding", "paged_attention_speculative"):
        p = plan(t, S8, models=MODELS)
        assert p is not None
        assert any("at the batch the load produces" in a for a in p.assumptions), t


def test_right_sizing_that_finds_no_gpu_says_why_instead_of_failing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import app.estimators.serving_interventions as si

    def nothing_fits(s: Scenario) -> object:
        raise si.InterventionError("the model fits on no catalog GPU at up to 8", field="gpu")

    monkeypatch.setattr(si, "pick_gpu", nothing_fits)
    r = technique_impact(S70, "gpu_right_sizing", models=MODELS)  # no exception: a reason
    assert r.fields["monthly_cost_delta_usd"] is None
    assert any("not priced: the model fits on no catalog GPU" in a for a in r.assumptions)
