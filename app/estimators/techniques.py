"""What each catalog technique does to a deployment, as estimator interventions (pure).

:func:`plan` maps a technique key to the :mod:`app.estimators.interventions` that model it, with
the assumed parameters spelled out; :func:`technique_impacts` prices a set of techniques against
one deployment scenario and returns the recommendation's impact fields
(``monthly_cost_delta_usd, one_off_cost_usd, ttft_delta_ms, tpot_delta_ms``) with the assumptions.

Default parameters and their sources:

* RAG: k = 5 chunks of 512 tokens, 40 ms retrieval (Lewis et al. 2020 retrieve 5-10 passages;
  formulas.md §4); GraphRAG: k = 10 community/entity summaries of 600-token chunks and 2 LLM
  extraction passes over the corpus (Edge et al. 2024: 600-token chunks, one gleaning round);
* CoT + self-consistency: 600 reasoning tokens, k = 5 samples (Wang et al. 2023 report most of
  the gain by 5-10 samples); CoT alone: 600 tokens, 1 sample; an RL-trained reasoning model:
  2,000 reasoning tokens (Guo et al. 2025 report long traces; an order-of-magnitude assumption);
* speculative decoding: α = 0.7, γ = 4, c = 0.05 (Leviathan et al. 2023 Table 2 ranges);
* QLoRA / LoRA: rank 16, 20k examples × 512 tokens × 3 epochs (Dettmers et al. 2023 Guanaco
  scale); DPO: 10k preference pairs × 512 tokens (Rafailov et al. 2023);
* long context: 32,768-token prompts; retrieval then long context: 8 chunks of 1,024 tokens;
* a larger base or a MoE model: the catalog's next larger dense model or its MoE model, on as many
  GPUs as its weights need (doubling from the deployment's count).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from app.estimators.architecture import Architecture
from app.estimators.errors import FieldError
from app.estimators.interventions import (
    Alignment,
    FineTune,
    Intervention,
    LongerContext,
    PagedAttention,
    Quantize,
    ReasoningCompute,
    Retrieval,
    Scenario,
    ServingOutcome,
    Speculative,
    SwapModel,
    evaluate,
    impact,
)
from app.estimators.precision import Precision

MAX_GPUS_FOR_SWAP = 64
LARGER_FACTOR = 1.5  # "larger" = at least 1.5x the total parameters


@dataclass(frozen=True, slots=True)
class Plan:
    interventions: tuple[Intervention, ...]
    assumptions: tuple[str, ...]


def _larger_dense(current: Architecture, models: Mapping[str, Architecture]) -> str | None:
    bigger = [
        (a.total_params, k)
        for k, a in models.items()
        if not a.is_moe and a.total_params >= LARGER_FACTOR * current.total_params
    ]
    return min(bigger)[1] if bigger else None


def _moe(current: Architecture, models: Mapping[str, Architecture]) -> str | None:
    if current.is_moe:
        return None
    moes = [(a.active_params, k) for k, a in models.items() if a.is_moe]
    return min(moes)[1] if moes else None


def plan(
    technique: str,
    s: Scenario,
    *,
    corpus_tokens: float = 0.0,
    models: Mapping[str, Architecture] | None = None,
) -> Plan | None:
    """The interventions that model ``technique`` on scenario ``s``; None when the estimators have
    no serving or training model for it (e.g. FlashAttention, already in every engine profile)."""
    models = models or {}
    corpus = (
        f"; index build over {corpus_tokens:.3g} corpus tokens"
        if corpus_tokens
        else "; corpus size not given, so no index-build cost"
    )
    if technique == "rag":
        return Plan(
            (Retrieval(k=5, chunk_tokens=512, corpus_tokens=corpus_tokens),),
            ("RAG: 5 chunks of 512 tokens added to each prompt, 40 ms retrieval" + corpus,),
        )
    if technique == "graphrag":
        r = Retrieval(
            k=10, chunk_tokens=600, corpus_tokens=corpus_tokens, graph_extraction_passes=2
        )
        return Plan(
            (r,),
            (
                "GraphRAG: 10 summaries of 600 tokens per prompt, 40 ms retrieval, "
                "2 LLM extraction passes over the corpus" + corpus,
            ),
        )
    if technique == "retrieval_then_long_context":
        return Plan(
            (Retrieval(k=8, chunk_tokens=1024, corpus_tokens=corpus_tokens),),
            ("8 retrieved sections of 1,024 tokens reasoned over in one long prompt",),
        )
    if technique == "long_context_window":
        return Plan((LongerContext(32768),), ("prompts of 32,768 tokens (whole documents)",))
    if technique in ("cot", "cot_self_consistency", "rlvr_reasoning_model"):
        cot, k = {
            "cot": (600, 1),
            "cot_self_consistency": (600, 5),
            "rlvr_reasoning_model": (2000, 1),
        }[technique]
        return Plan(
            (ReasoningCompute(cot, k),),
            (f"{cot} reasoning tokens before the answer, {k} sample(s) per request",),
        )
    if technique == "speculative_decoding":
        return Plan((Speculative(),), ("speculative decoding α=0.7, γ=4, draft cost c=0.05",))
    if technique == "paged_attention":
        return Plan((PagedAttention(),), ("PagedAttention KV allocation (<4% waste)",))
    if technique == "paged_attention_speculative":
        return Plan(
            (PagedAttention(), Speculative()),
            (
                "PagedAttention KV allocation (<4% waste) plus speculative decoding "
                "α=0.7, γ=4, c=0.05",
            ),
        )
    if technique == "quantization":
        p = Precision.fp8 if s.gpu.supports(Precision.fp8) else Precision.int8
        return Plan((Quantize(p.value, p.value),), (f"weights and KV cache served at {p.value}",))
    if technique in ("qlora", "lora"):
        return Plan(
            (FineTune(method=technique, rank=16),),
            (
                f"{technique}: rank 16, 20k examples × 512 tokens × 3 epochs, "
                "adapter merged before serving (no added latency)",
            ),
        )
    if technique == "instruction_tuning":
        return Plan(
            (FineTune(method="full", examples=100_000),),
            ("full fine-tune on 100k instructions × 512 tokens × 3 epochs",),
        )
    if technique in ("dpo", "rlhf_ppo", "constitutional_ai"):
        method = {"dpo": "dpo", "rlhf_ppo": "rlhf", "constitutional_ai": "constitutional"}
        return Plan(
            (Alignment(method=method[technique]),),
            (f"{method[technique]}: 10k preference pairs × 512 tokens, 1 epoch",),
        )
    if technique in ("larger_base_model", "moe_model"):
        pick = (_larger_dense if technique == "larger_base_model" else _moe)(s.arch, models)
        if pick is None:
            return None
        return Plan((SwapModel(models[pick]),), (f"serve {models[pick].name} instead",))
    return None


def _fit_gpus(s: Scenario) -> Scenario:
    """Double the GPU count until the scenario's weights and KV fit (a swapped-in larger model)."""
    while not evaluate(s).fits and s.cfg.n_gpus * 2 <= MAX_GPUS_FOR_SWAP:
        s = replace(s, cfg=replace(s.cfg, n_gpus=s.cfg.n_gpus * 2))
    return s


@dataclass(frozen=True, slots=True)
class TechniqueImpact:
    fields: dict[str, float | None]
    assumptions: tuple[str, ...]


def technique_impact(
    s: Scenario,
    technique: str,
    *,
    corpus_tokens: float = 0.0,
    models: Mapping[str, Architecture] | None = None,
) -> TechniqueImpact:
    p = plan(technique, s, corpus_tokens=corpus_tokens, models=models)
    empty: dict[str, float | None] = {
        "monthly_cost_delta_usd": None,
        "one_off_cost_usd": None,
        "ttft_delta_ms": None,
        "tpot_delta_ms": None,
    }
    if p is None:
        return TechniqueImpact(empty, ("the estimators have no cost model for this technique",))
    notes = list(p.assumptions)
    try:
        if isinstance(p.interventions[0], SwapModel):
            swapped = _fit_gpus(replace(s, arch=p.interventions[0].arch))
            if swapped.cfg.n_gpus != s.cfg.n_gpus:
                notes.append(f"on {swapped.cfg.n_gpus} GPUs per replica so the weights fit")
            before, after, one_off = evaluate(s), evaluate(swapped), None
            one_off_cost: float | None = 0.0
        else:
            imp = impact(s, list(p.interventions))
            before, after, one_off_cost = imp.before, imp.after, imp.one_off_cost_usd
            one_off = imp.one_off
    except FieldError as exc:
        return TechniqueImpact(empty, (*notes, f"not priced: {exc}"))
    fields = _deltas(before, after)
    fields["one_off_cost_usd"] = one_off_cost
    if one_off:
        notes.extend(f"one-off: {o.label}, {o.gpu_hours:.3g} GPU-hours" for o in one_off)
    if not after.fits:
        notes.append(f"after the change: {after.reason or 'does not fit'}")
    elif not after.meets_slo:
        notes.append("after the change the deployment misses its TTFT or TPOT SLO")
    if before.monthly_cost_usd is None or after.monthly_cost_usd is None:
        notes.append("no GPU price in the catalog for this GPU: dollar figures unavailable")
    return TechniqueImpact(fields, tuple(notes))


def _deltas(before: ServingOutcome, after: ServingOutcome) -> dict[str, float | None]:
    def d(a: float | None, b: float | None) -> float | None:
        return None if a is None or b is None else round(b - a, 4)

    return {
        "monthly_cost_delta_usd": d(before.monthly_cost_usd, after.monthly_cost_usd),
        "one_off_cost_usd": None,
        "ttft_delta_ms": d(before.ttft_ms, after.ttft_ms) if after.fits else None,
        "tpot_delta_ms": d(before.tpot_ms, after.tpot_ms) if after.fits else None,
    }


def technique_impacts(
    s: Scenario,
    techniques: Sequence[str],
    *,
    corpus_tokens: float = 0.0,
    models: Mapping[str, Architecture] | None = None,
) -> dict[str, TechniqueImpact]:
    return {
        t: technique_impact(s, t, corpus_tokens=corpus_tokens, models=models)
        for t in sorted(set(techniques))
    }
