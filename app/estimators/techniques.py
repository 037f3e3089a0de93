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
* a larger base or a MoE model: the catalog model that is better on the failure's task family
  (published figures, :mod:`app.estimators.quality`; "general" for the capability floor) and
  fits on this GPU type (as many GPUs as its weights need, doubling from the deployment's count):
  fewest GPUs per replica first, then the largest gain. A model without published figures for
  the family is never picked automatically.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from app.estimators.architecture import Architecture
from app.estimators.card_economics import fit_swap, price_change
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
    Speculative,
    SwapModel,
    evaluate,
)
from app.estimators.precision import Precision
from app.estimators.quality import DEFAULT_FAMILY, TASK_FAMILIES, Comparison, compare
from app.estimators.serving_interventions import plan_serving, serving_params
from app.formatting import compact, number

MAX_GPUS_FOR_SWAP = 64


def _fit_gpus(s: Scenario) -> Scenario:
    """The scenario on as many GPUs as its (swapped-in) model's weights need."""
    return fit_swap(s, (SwapModel(s.arch),))


@dataclass(frozen=True, slots=True)
class Plan:
    interventions: tuple[Intervention, ...]
    assumptions: tuple[str, ...]
    traffic_share: float | None = None  # None: every request; else the share it applies to


@dataclass(frozen=True, slots=True)
class ModelPick:
    """A catalog model chosen for a capability-floor or capacity item, and why."""

    key: str
    comparison: Comparison
    n_gpus: int  # GPUs per replica it needs on the deployment's GPU type


def _better_models(
    s: Scenario, models: Mapping[str, Architecture], family: str, *, moe: bool
) -> list[ModelPick]:
    """Catalog models of the wanted kind (dense, or mixture-of-experts) with a published figure
    above the deployment's model on the family's first common benchmark, that fit on this GPU
    type within ``MAX_GPUS_FOR_SWAP`` GPUs per replica."""
    current = s.arch
    out = []
    for k, a in models.items():
        if a.is_moe != moe or a.name == current.name:
            continue
        cmp = compare(current.quality, a.quality, family)
        if cmp is None or cmp.gain <= 0:
            continue
        fitted = _fit_gpus(replace(s, arch=a))
        if not evaluate(fitted).fits:
            continue
        out.append(ModelPick(k, cmp, fitted.cfg.n_gpus))
    return out


def better_models(
    s: Scenario, models: Mapping[str, Architecture], family: str, *, moe: bool
) -> list[ModelPick]:
    """The better models, best first: compared on figures of the same checkpoint kind first (a
    base figure against a base figure), then on the fewest GPUs per replica, then with the largest
    gain (then the fewest active parameters: the cheaper to serve)."""
    return sorted(
        _better_models(s, models, family, moe=moe),
        key=lambda p: (
            p.comparison.matched == "settings differ",
            p.n_gpus,
            -p.comparison.gain,
            models[p.key].active_params,
            p.key,
        ),
    )


def _pick_model(
    s: Scenario, models: Mapping[str, Architecture], family: str, *, moe: bool
) -> ModelPick | None:
    """The best of :func:`better_models`, or None."""
    found = better_models(s, models, family, moe=moe)
    return found[0] if found else None


def _larger_dense(
    s: Scenario, models: Mapping[str, Architecture], family: str = DEFAULT_FAMILY
) -> ModelPick | None:
    """Capability floor: a dense catalog model that is better on the task family and fits."""
    return _pick_model(s, models, family, moe=False)


def _moe(
    s: Scenario, models: Mapping[str, Architecture], family: str = DEFAULT_FAMILY
) -> ModelPick | None:
    """Capacity at low cost: a mixture-of-experts model that is better on the task family and
    fits (from a MoE deployment too: a better MoE is still an option)."""
    return _pick_model(s, models, family, moe=True)


def _pick_note(s: Scenario, models: Mapping[str, Architecture], key: str, family: str) -> str:
    """What the swap buys on the task family, with its source, or why that is not known."""
    cmp = compare(s.arch.quality, models[key].quality, family)
    if cmp is None:
        return (
            f"no published {family} figures ({', '.join(TASK_FAMILIES[family])}) for both "
            f"{s.arch.name} and {models[key].name}: the gain is not known"
        )
    verb = "better" if cmp.gain > 0 else "not better"
    return f"{verb} on {family} tasks: {cmp.describe(s.arch.name, models[key].name)}"


@dataclass(frozen=True, slots=True)
class Param:
    """One tunable parameter of a technique: type ``int``, ``float``, ``bool``, ``choice`` or
    ``model`` (a catalog model key; empty = the automatic pick)."""

    name: str
    type: str
    unit: str
    default: float | int | bool | str
    source: str
    minimum: float | None = None
    maximum: float | None = None
    exclusive_maximum: bool = False
    choices: tuple[str, ...] = ()

    def check(self, value: object) -> object:
        """The value coerced to the parameter's type, or ValueError with a plain message."""
        if self.type == "bool":
            if not isinstance(value, bool):
                raise ValueError(f"{self.name} must be true or false")
            return value
        if self.type in ("choice", "model"):
            if not isinstance(value, str) or (self.choices and value not in self.choices):
                allowed = ", ".join(self.choices) or "a catalog model key"
                raise ValueError(f"{self.name} must be one of {allowed}")
            return value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{self.name} must be a number")
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{self.name} must be a finite number")
        if self.type == "int" and isinstance(value, float) and not value.is_integer():
            raise ValueError(f"{self.name} must be a whole number")
        if self.type == "int":
            v: int | float = int(value)
        else:
            try:
                v = float(value)
            except OverflowError:  # an int beyond any float: too large for every maximum
                raise ValueError(f"{self.name} must be a finite number") from None
        if self.minimum is not None and v < self.minimum:
            raise ValueError(f"{self.name} must be at least {self.minimum:g}")
        if self.maximum is not None and (
            v >= self.maximum if self.exclusive_maximum else v > self.maximum
        ):
            rel = "below" if self.exclusive_maximum else "at most"
            raise ValueError(f"{self.name} must be {rel} {self.maximum:g}")
        return v


LEWIS = "Lewis et al. 2020 (arXiv 2005.11401) retrieve 5-10 passages; formulas.md §4"
EDGE = "Edge et al. 2024 (arXiv 2404.16130) §2.2: 600-token chunks, one gleaning round"
LATENCY = "a vector-index lookup plus re-ranking; an assumption, set your own"
CORPUS = "your corpus; 0 leaves the index-build cost out"
WANG = "Wang et al. 2023 (arXiv 2203.11171): most of the gain by 5-10 samples"
COT = "Wei et al. 2022 (arXiv 2201.11903): a few hundred reasoning tokens; an assumption"
LEVIATHAN = "Leviathan et al. 2023 (arXiv 2211.17192) Table 2 ranges"
DETTMERS = "Dettmers et al. 2023 (arXiv 2305.14314): Guanaco-scale data, rank 16-64"
RAFAILOV = "Rafailov et al. 2023 (arXiv 2305.18290): ~10k-100k preference pairs"
SHARE = (
    "the questionnaire's share of traffic the failure hits: reasoning compute only on those "
    "requests, the rest served as today (1 = every request)"
)
_SHARE = Param("traffic_share", "float", "share of requests", 1.0, SHARE, 0, 1)
# Techniques applied only to the share of traffic a failure hits (with a routing classifier).
SHARE_LIMITED = frozenset({"cot", "cot_self_consistency", "rlvr_reasoning_model"})


def _retrieval(k: int, chunk: int, passes: int | None = None) -> tuple[Param, ...]:
    out = [
        Param("k", "int", "chunks", k, EDGE if passes else LEWIS, 1, 1000),
        Param("chunk_tokens", "int", "tokens", chunk, EDGE if passes else LEWIS, 1, 100_000),
        Param("retrieval_latency_ms", "float", "ms", 40.0, LATENCY, 0, 60_000),
        Param("corpus_tokens", "float", "tokens", 0.0, CORPUS, 0, 1e13),
    ]
    if passes is not None:
        out.append(Param("extraction_passes", "int", "passes", passes, EDGE, 0, 10))
    return tuple(out)


_SPEC = (
    Param("alpha", "float", "acceptance rate", 0.7, LEVIATHAN, 0, 1, exclusive_maximum=True),
    Param("gamma", "int", "draft tokens", 4, LEVIATHAN, 1, 64),
    Param("c", "float", "draft/target cost", 0.05, LEVIATHAN, 0, 1),
)
_FT = (
    Param("rank", "int", "", 16, DETTMERS, 1, 4096),
    Param("examples", "int", "examples", 20_000, DETTMERS, 1, 10**9),
    Param("tokens_per_example", "int", "tokens", 512, DETTMERS, 1, 1_000_000),
    Param("epochs", "int", "epochs", 3, DETTMERS, 1, 1000),
    Param("serve_unmerged", "bool", "", False, "Hu et al. 2022: merged adapters add no latency"),
)
_ALIGN = (
    Param("pairs", "int", "pairs", 10_000, RAFAILOV, 1, 10**9),
    Param("tokens_per_response", "int", "tokens", 512, RAFAILOV, 1, 1_000_000),
    Param("epochs", "int", "epochs", 1, RAFAILOV, 1, 1000),
)
_SWAP = (
    Param(
        "model",
        "model",
        "",
        "",
        "empty: the catalog model that is better on the task family and fits, chosen automatically",
    ),
    Param(
        "task_family",
        "choice",
        "",
        DEFAULT_FAMILY,
        "benchmarks that measure the failure's tasks (app/estimators/quality.py)",
        choices=tuple(TASK_FAMILIES),
    ),
)

PARAMS: dict[str, tuple[Param, ...]] = {
    "rag": _retrieval(5, 512),
    "graphrag": _retrieval(10, 600, passes=2),
    "retrieval_then_long_context": _retrieval(8, 1024),
    "long_context_window": (
        Param(
            "input_tokens", "int", "tokens", 32_768, "Gemini 1.5 (arXiv 2403.05530)", 1, 10_000_000
        ),
    ),
    "cot": (Param("cot_tokens", "int", "tokens", 600, COT, 0, 1_000_000), _SHARE),
    "cot_self_consistency": (
        Param("cot_tokens", "int", "tokens", 600, COT, 0, 1_000_000),
        Param("samples", "int", "samples (k)", 5, WANG, 1, 1000),
        _SHARE,
    ),
    "rlvr_reasoning_model": (
        Param(
            "cot_tokens",
            "int",
            "tokens",
            2000,
            "Guo et al. 2025 (arXiv 2501.12948) report "
            "long traces; an order-of-magnitude assumption",
            0,
            1_000_000,
        ),
        _SHARE,
    ),
    "speculative_decoding": _SPEC,
    "paged_attention": (),
    "paged_attention_speculative": _SPEC,
    "quantization": (
        Param(
            "precision",
            "choice",
            "",
            "fp8",
            "NVIDIA FP8 (Hopper); Dettmers et al. 2022 int8",
            choices=("fp8", "int8", "int4"),
        ),
    ),
    "flash_attention": (),
    "qlora": _FT,
    "lora": _FT,
    "instruction_tuning": (
        Param("examples", "int", "examples", 100_000, "Chung et al. 2024 (JMLR 25:70)", 1, 10**9),
        Param("tokens_per_example", "int", "tokens", 512, "Chung et al. 2024", 1, 1_000_000),
        Param("epochs", "int", "epochs", 3, "an assumption", 1, 1000),
    ),
    "dpo": _ALIGN,
    "rlhf_ppo": _ALIGN,
    "constitutional_ai": _ALIGN,
    "larger_base_model": _SWAP,
    "moe_model": _SWAP,
    "chinchilla_reallocation": (),
}
SPECULATIVE_UNDER_LOAD = (
    "; the gain is taken at the batch the load produces: the verification step of γ+1 tokens "
    "per sequence costs more once the step is compute-bound, so it shrinks with the batch and can "
    "turn into a slowdown with a fixed draft length (economics.md §5)"
)
# Engine, quantisation, GPU, caching, routing, distillation, LazyGraphRAG, guardrail and prompt
# techniques: their parameters and sources in app.estimators.serving_interventions.
PARAMS.update(serving_params(Param))


# Techniques the estimators do not price: FlashAttention is already in every engine profile's
# fitted efficiencies; compute-optimal reallocation is a pretraining decision (the scaling lab).
UNPRICED = frozenset({"flash_attention", "chinchilla_reallocation"})


class ParamError(FieldError):
    pass


def resolve_params(technique: str, given: Mapping[str, object]) -> dict[str, object]:
    """The full parameter set: defaults, overridden by ``given`` (each checked)."""
    spec = {p.name: p for p in PARAMS.get(technique, ())}
    unknown = sorted(set(given) - set(spec))
    if unknown:
        known = ", ".join(spec) or "none"
        raise ParamError(
            f"unknown parameter(s) {', '.join(unknown)} for {technique}; its parameters: {known}",
            field=unknown[0],
        )
    out: dict[str, object] = {}
    for name, p in spec.items():
        if name in given:
            try:
                out[name] = p.check(given[name])
            except ValueError as exc:
                raise ParamError(str(exc), field=name) from None
        else:
            out[name] = p.default
    return out


def pricing_params(technique: str, corpus_tokens: float = 0.0) -> dict[str, object]:
    """The parameters a recommendation card is priced with beyond the defaults: the corpus the
    questionnaire gave, for the techniques that index one. A portfolio made from the card starts
    from these, so it costs what the card said."""
    if corpus_tokens and "corpus_tokens" in {p.name for p in PARAMS.get(technique, ())}:
        return {"corpus_tokens": corpus_tokens}
    return {}


def plan(
    technique: str,
    s: Scenario,
    *,
    params: Mapping[str, object] | None = None,
    corpus_tokens: float = 0.0,
    models: Mapping[str, Architecture] | None = None,
) -> Plan | None:
    """The interventions that model ``technique`` with ``params`` (defaults for the rest) on
    scenario ``s``; None when the estimators have no serving or training model for it
    (FlashAttention is in every engine profile already; compute-optimal reallocation is a
    pretraining decision priced in the scaling lab)."""
    models = models or {}
    given = {**pricing_params(technique, corpus_tokens), **(params or {})}
    v: dict[str, Any] = resolve_params(technique, given)
    if technique in ("rag", "graphrag", "retrieval_then_long_context"):
        passes = int(v.get("extraction_passes", 0))
        r = Retrieval(
            k=v["k"],
            chunk_tokens=v["chunk_tokens"],
            retrieval_latency_ms=v["retrieval_latency_ms"],
            corpus_tokens=v["corpus_tokens"],
            graph_extraction_passes=passes,
        )
        corpus = (
            f"; index build over {compact(v['corpus_tokens'])} corpus tokens"
            if v["corpus_tokens"]
            else "; corpus size not given, so no index-build cost"
        )
        extra = f", {passes} LLM extraction passes over the corpus" if passes else ""
        return Plan(
            (r,),
            (
                f"{technique}: {v['k']} chunks of {v['chunk_tokens']} tokens added "
                f"to each prompt, {v['retrieval_latency_ms']:g} ms retrieval"
                f"{extra}{corpus}",
            ),
        )
    if technique == "long_context_window":
        n = v["input_tokens"]
        return Plan((LongerContext(n),), (f"prompts of {n:,} tokens (whole documents)",))
    if technique in ("cot", "cot_self_consistency", "rlvr_reasoning_model"):
        cot, k = v["cot_tokens"], v.get("samples", 1)
        samples = f"{k} sample{'s' if k != 1 else ''}"
        text = f"{cot} reasoning tokens before the answer, {samples} per request"
        return Plan((ReasoningCompute(cot, k),), (text,), traffic_share=v["traffic_share"])
    if technique in ("speculative_decoding", "paged_attention_speculative"):
        spec = Speculative(alpha=v["alpha"], gamma=v["gamma"], c=v["c"])
        text = f"speculative decoding α={v['alpha']:g}, γ={v['gamma']}, draft cost c={v['c']:g}"
        text += SPECULATIVE_UNDER_LOAD
        if technique == "speculative_decoding":
            return Plan((spec,), (text,))
        return Plan(
            (PagedAttention(), spec), ("PagedAttention KV allocation (<4% waste) plus " + text,)
        )
    if technique == "paged_attention":
        return Plan((PagedAttention(),), ("PagedAttention KV allocation (<4% waste)",))
    if technique == "quantization":
        p = v["precision"]
        if p == "fp8" and not s.gpu.supports(Precision.fp8):
            p = "int8"
        return Plan((Quantize(p, p),), (f"weights and KV cache served at {p}",))
    if technique in ("qlora", "lora"):
        merged = (
            "served unmerged (adds its weights per token)"
            if v["serve_unmerged"]
            else ("adapter merged before serving (no added latency)")
        )
        ft = FineTune(
            method=technique,
            rank=v["rank"],
            examples=v["examples"],
            tokens_per_example=v["tokens_per_example"],
            epochs=v["epochs"],
            serve_unmerged=v["serve_unmerged"],
        )
        text = (
            f"{technique}: rank {v['rank']}, {v['examples']:,} examples × "
            f"{v['tokens_per_example']} tokens × {v['epochs']} epochs, {merged}"
        )
        return Plan((ft,), (text,))
    if technique == "instruction_tuning":
        return Plan(
            (
                FineTune(
                    method="full",
                    examples=v["examples"],
                    tokens_per_example=v["tokens_per_example"],
                    epochs=v["epochs"],
                ),
            ),
            (
                f"full fine-tune on {v['examples']:,} instructions × "
                f"{v['tokens_per_example']} tokens × {v['epochs']} epochs",
            ),
        )
    if technique in ("dpo", "rlhf_ppo", "constitutional_ai"):
        method = {"dpo": "dpo", "rlhf_ppo": "rlhf", "constitutional_ai": "constitutional"}
        return Plan(
            (
                Alignment(
                    method=method[technique],
                    pairs=v["pairs"],
                    tokens_per_response=v["tokens_per_response"],
                    epochs=v["epochs"],
                ),
            ),
            (
                f"{method[technique]}: {v['pairs']:,} preference pairs × "
                f"{v['tokens_per_response']} tokens, {v['epochs']} epoch(s)",
            ),
        )
    if technique in ("larger_base_model", "moe_model"):
        family = str(v["task_family"])
        pick = v["model"]
        if not pick:
            picker = _larger_dense if technique == "larger_base_model" else _moe
            chosen = picker(s, models, family)
            if chosen is None:
                return None
            pick = chosen.key
        if pick not in models:
            raise ParamError(f"unknown model '{pick}'", field="model")
        if technique == "moe_model" and not models[pick].is_moe:
            raise ParamError(f"'{pick}' is not a mixture-of-experts model", field="model")
        if technique == "larger_base_model" and models[pick].is_moe:
            raise ParamError(
                f"'{pick}' is a mixture-of-experts model: a larger dense base model "
                "is the capability-floor option; MoE models go under the sparse MoE "
                "technique",
                field="model",
            )
        return Plan(
            (SwapModel(models[pick]),),
            (f"serve {models[pick].name} instead", _pick_note(s, models, pick, family)),
        )
    serving = plan_serving(technique, s, v, models)
    if serving is not None:
        return Plan(*serving)
    return None


@dataclass(frozen=True, slots=True)
class TechniqueImpact:
    fields: dict[str, Any]
    assumptions: tuple[str, ...]


def split_plan(p: Plan) -> tuple[list[Intervention], list[Intervention], float]:
    """A plan's interventions on every request, those on a share only, and that share."""
    if p.traffic_share is not None and p.traffic_share < 1.0:
        return [], list(p.interventions), p.traffic_share
    return list(p.interventions), [], 1.0


def technique_impact(
    s: Scenario,
    technique: str,
    *,
    corpus_tokens: float = 0.0,
    models: Mapping[str, Architecture] | None = None,
    params: Mapping[str, object] | None = None,
) -> TechniqueImpact:
    """The card's figures for ``technique`` with ``params`` on scenario ``s``: the same
    computation as a portfolio of that single item with those params
    (:func:`app.estimators.card_economics.price_change`)."""
    given = {**pricing_params(technique, corpus_tokens), **(params or {})}
    empty: dict[str, Any] = {
        "monthly_cost_delta_usd": None,
        "one_off_cost_usd": None,
        "ttft_delta_ms": None,
        "tpot_delta_ms": None,
        "params": dict(given),
    }
    try:
        p = plan(technique, s, params=given, models=models)
    except FieldError as exc:
        return TechniqueImpact({**empty, "not_priced": str(exc)}, (f"not priced: {exc}",))
    if p is None:
        why = "the estimators have no cost model for this technique"
        return TechniqueImpact({**empty, "not_priced": why}, (why,))
    notes = list(p.assumptions)
    whole, limited, share = split_plan(p)
    try:
        priced = price_change(s, whole, limited, share)
    except FieldError as exc:
        return TechniqueImpact({**empty, "not_priced": str(exc)}, (*notes, f"not priced: {exc}"))
    fields = priced.fields()
    fields["params"] = {**resolve_params(technique, given)}
    notes.extend(priced.assumptions)
    if priced.after_scenario.cfg.n_gpus != s.cfg.n_gpus:
        n = priced.after_scenario.cfg.n_gpus
        notes.append(f"on {n} GPU{'s' if n != 1 else ''} per replica so the weights fit")
    notes.extend(
        f"one-off: {o.label}" + (f", {number(o.gpu_hours)} GPU-hours" if o.gpu_hours else "")
        for o in priced.one_offs
    )
    if not priced.after.fits:
        notes.append(f"after the change: {priced.after.reason or 'does not fit'}")
    elif not priced.meets_slo:
        words = {"ttft_ok": "TTFT", "tpot_ok": "TPOT", "time_to_answer_ok": "time to answer"}
        misses = [words[k] for k, ok in priced.slo_after().items() if not ok]
        notes.append("after the change the deployment misses its SLO on " + ", ".join(misses))
    if s.gpu.price_per_hour_usd is None:
        notes.append("no GPU price in the catalog for this GPU: dollar figures unavailable")
    elif s.requests_per_day <= 0:
        notes.append("no traffic (0 requests/day): no monthly or per-request cost")
    return TechniqueImpact(fields, tuple(notes))


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
