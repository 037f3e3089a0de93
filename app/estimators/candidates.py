"""Which techniques can address a failure mode, which are already in place, and which one to
recommend by price (pure).

:data:`CANDIDATES` maps each failure mode to every technique that can address it (the seed's
Table 4 technique first, then the other catalog techniques of the failure mode's axes that address
the same failure). :data:`NOT_FOR` removes a candidate when a questionnaire follow-up rules it out
(the rules' own conditions: plain RAG does not synthesise across documents; a principled control
need takes Constitutional AI; PEFT needs labelled data on a stable distribution).
:func:`in_place` says why a technique is already part of the deployment (the engine already pages
the KV cache; the weights are already quantised; ...). :func:`choose` picks, among the priced
candidates on the recommended item's axis, the cheapest that fits and meets the SLOs, and lists
the others as alternatives with the reason each was not chosen.

More techniques merge in with one line: ``CANDIDATES = merged(BASE_CANDIDATES, ADDED)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from app.estimators.architecture import Architecture
from app.estimators.interventions import Scenario
from app.estimators.precision import Precision
from app.estimators.quality import DEFAULT_FAMILY
from app.estimators.serving_interventions import ADDED_CANDIDATES, IN_PLACE
from app.estimators.techniques import better_models

BASE_CANDIDATES: dict[str, tuple[str, ...]] = {
    "factual_staleness": ("rag", "graphrag"),
    "cross_document_synthesis": ("graphrag", "retrieval_then_long_context"),
    "policy_noncompliance": ("dpo", "constitutional_ai", "rlhf_ppo"),
    "domain_accuracy_gap": ("qlora", "lora", "rag"),
    "complex_task_errors": ("cot_self_consistency", "cot", "rlvr_reasoning_model"),
    "serving_cost": (
        "paged_attention_speculative",
        "paged_attention",
        "speculative_decoding",
        "quantization",
        "flash_attention",
    ),
    "long_input_loss": ("retrieval_then_long_context", "long_context_window", "rag"),
    "undertrained_budget": ("chinchilla_reallocation",),
    "capacity_at_low_cost": ("moe_model",),
    "capability_floor": ("larger_base_model", "moe_model"),
}


def merged(*maps: Mapping[str, Sequence[str]]) -> dict[str, tuple[str, ...]]:
    """The union of candidate maps, each failure mode's techniques in first-seen order."""
    out: dict[str, tuple[str, ...]] = {}
    for m in maps:
        for fm, techniques in m.items():
            out[fm] = tuple(dict.fromkeys((*out.get(fm, ()), *techniques)))
    return out


CANDIDATES: dict[str, tuple[str, ...]] = merged(BASE_CANDIDATES, ADDED_CANDIDATES)

# (failure mode, technique) -> (follow-up fact, value that rules it out, why)
NOT_FOR: dict[tuple[str, str], tuple[str, object, str]] = {
    ("factual_staleness", "rag"): (
        "cross_document",
        True,
        "the questions need cross-document synthesis, which local retrieval does not give",
    ),
    ("policy_noncompliance", "dpo"): (
        "control_need",
        "principled",
        "the control need is principled: DPO learns from pairs, not stated principles",
    ),
    ("policy_noncompliance", "rlhf_ppo"): (
        "control_need",
        "principled",
        "the control need is principled: RLHF learns from pairs, not stated principles",
    ),
    ("domain_accuracy_gap", "qlora"): (
        "labelled_data",
        False,
        "PEFT needs labelled domain data, and there is none",
    ),
    ("domain_accuracy_gap", "lora"): (
        "labelled_data",
        False,
        "PEFT needs labelled domain data, and there is none",
    ),
}
NOT_FOR_SHIFTING = frozenset({("domain_accuracy_gap", "qlora"), ("domain_accuracy_gap", "lora")})

PAGING_ENGINES = frozenset({"vllm", "sglang", "tensorrt-llm"})
QUANTISED = frozenset({Precision.fp8, Precision.int8, Precision.int4})


def ruled_out(fm: str, technique: str, facts: Mapping[str, object]) -> str | None:
    """Why a follow-up answer rules ``technique`` out for ``fm``, or None."""
    rule = NOT_FOR.get((fm, technique))
    if rule is not None:
        name, value, why = rule
        got = facts.get(f"fm.{fm}.{name}")
        if got == value:
            return why
        if value is False and got is None:
            # not answered is not "no": say what is missing and how to have it considered
            words = name.replace("_", " ")
            return (
                f"{why.split(',')[0]}, and whether there is any was not answered "
                f"({words}: not answered; answer yes to have it priced)"
            )
    if (fm, technique) in NOT_FOR_SHIFTING and facts.get(f"fm.{fm}.distribution") == "shifting":
        return "the task distribution is shifting: an adapter would go stale"
    return None


def _pages(s: Scenario) -> bool:
    if s.cfg.paged_attention is not None:
        return s.cfg.paged_attention
    return bool(s.engine.paged_attention) or s.engine.name.lower() in PAGING_ENGINES


def in_place(
    technique: str, s: Scenario, models: Mapping[str, Architecture] | None = None
) -> str | None:
    """Why ``technique`` is already part of the deployment ``s``, or None when it is not. A
    mixture-of-experts model is in place on a MoE deployment unless ``models`` (the catalog)
    holds a better MoE model that fits (then the card replaces the current one)."""
    check = IN_PLACE.get(technique)
    if check is not None and (why := check(s)) is not None:
        return why
    engine = s.engine.name
    if technique in ("paged_attention", "paged_attention_speculative") and _pages(s):
        return f"{engine} already pages the KV cache (PagedAttention-style allocation)"
    if technique == "speculative_decoding" and s.speculative is not None:
        return "the deployment already decodes speculatively"
    if technique == "quantization" and s.cfg.precision in QUANTISED:
        return f"the weights are already served at {s.cfg.precision.value}"
    if technique == "moe_model" and s.arch.is_moe:
        if models is None or not better_models(s, models, DEFAULT_FAMILY, moe=True):
            return (
                f"{s.arch.name} is already a mixture-of-experts model, and no catalog MoE "
                f"model that fits is better on {DEFAULT_FAMILY} tasks"
            )
    if technique == "flash_attention":
        return f"{engine} already uses fused (Flash) attention kernels; its fitted profile has it"
    return None


@dataclass(frozen=True, slots=True)
class Option:
    technique: str
    axis: str
    fields: Mapping[str, Any]  # the card figures (technique_impact fields)


@dataclass(frozen=True, slots=True)
class Choice:
    technique: str
    why: str
    alternatives: list[dict[str, Any]] = field(default_factory=list)


def _meets(f: Mapping[str, Any]) -> bool:
    slo = f.get("slo_after")
    return isinstance(slo, Mapping) and bool(slo) and all(slo.values())


SLO_WORDS = {"ttft_ok": "TTFT", "tpot_ok": "TPOT", "time_to_answer_ok": "time-to-answer"}

# (chosen, other) -> what the cheaper pick gives up, with its source
TRADE_OFFS: dict[tuple[str, str], str] = {
    ("cot", "cot_self_consistency"): (
        "CoT + self-consistency is more accurate than plain CoT (Wang et al. 2023, arXiv "
        "2203.11171: +17.9 points on GSM8K with PaLM 540B) at k times the reasoning tokens"
    ),
}


def _misses(f: Mapping[str, Any]) -> list[str]:
    slo = f.get("slo_after")
    if not isinstance(slo, Mapping):
        return []
    return [SLO_WORDS.get(str(k), str(k)) for k, ok in slo.items() if not ok]


def missing_words(f: Mapping[str, Any]) -> str:
    """ "misses the time-to-answer SLO", "misses the TTFT and TPOT SLOs"."""
    m = _misses(f)
    if not m:
        return "meets the SLOs"
    return f"misses the {' and '.join(m)} SLO{'s' if len(m) > 1 else ''}"


def _unpriced(f: Mapping[str, Any]) -> str:
    return str(f.get("not_priced") or "the estimators have no cost model for it")


def _monthly(f: Mapping[str, Any]) -> float | None:
    m = f.get("monthly_cost_usd")
    after = m.get("after") if isinstance(m, Mapping) else None
    if after is None:  # no price: compare the GPU-hours the same way
        h = f.get("gpu_hours_per_month")
        after = h.get("after") if isinstance(h, Mapping) else None
    return None if after is None else float(after)


def _one_off(f: Mapping[str, Any]) -> float:
    v = f.get("one_off_cost_usd")
    return float(v) if isinstance(v, int | float) else float("inf")


def _money(v: float | None) -> str:
    return "unpriced" if v is None else f"${v:,.0f}/month"


def _alt(o: Option, why_not: str) -> dict[str, Any]:
    f = o.fields

    def after(key: str) -> Any:
        v = f.get(key)
        return v.get("after") if isinstance(v, Mapping) else None

    return {
        "technique": o.technique,
        "axis": o.axis,
        "cost_per_1k_requests_usd": after("cost_per_1k_requests_usd"),
        "monthly_cost_usd": after("monthly_cost_usd"),
        "time_to_answer_p95_ms": after("time_to_answer_p95_ms"),
        "slo_after": f.get("slo_after"),
        "why_not": why_not,
    }


def choose(
    engine_pick: str,
    axis: str,
    options: Sequence[Option],
    excluded: Mapping[str, str],
) -> Choice:
    """The technique to recommend on ``axis``: among the priced ``options`` on that axis, the
    cheapest per month (then one-off) that meets the SLOs; when none does, the one that misses the
    fewest SLOs, then the cheapest (the reason says which SLOs it misses). ``excluded`` maps
    techniques to why they cannot be chosen (already in place, ruled out by an answer); every
    other option is an alternative."""
    eligible = [
        o
        for o in options
        if o.axis == axis and o.technique not in excluded and _monthly(o.fields) is not None
    ]

    def key(o: Option) -> tuple[float, float]:
        return (_monthly(o.fields) or 0.0, _one_off(o.fields))

    meeting = sorted((o for o in eligible if _meets(o.fields)), key=key)
    if meeting:
        pick = meeting[0]
        n = len(meeting)
        why = (
            f"the cheapest of {n} priced options on this axis that meet the SLOs "
            f"({_money(_monthly(pick.fields))} after the change)"
            if n > 1
            else f"the only priced option on this axis that meets the SLOs "
            f"({_money(_monthly(pick.fields))} after the change)"
        )
    elif eligible:
        # None meets the SLOs: a stated rule, not the rules' pick kept silently (review finding
        # 5): the option that misses the fewest SLOs, then the cheapest per month.
        pick = min(eligible, key=lambda o: (len(_misses(o.fields)), *key(o)))
        n = len(eligible)
        what = "the only priced option" if n == 1 else f"none of the {n} priced options"
        verb = "does not meet" if n == 1 else "meets"
        why = (
            f"{what} on this axis {verb} the SLOs"
            + ("" if n == 1 else "; shown: the one that misses the fewest, then the cheapest")
            + f" ({_money(_monthly(pick.fields))} after the change); it "
            + missing_words(pick.fields)
        )
    else:
        return Choice(
            engine_pick,
            "no option on this axis could be priced",
            [
                _alt(o, excluded.get(o.technique, "not priced: " + _unpriced(o.fields)))
                for o in options
                if o.technique != engine_pick
            ],
        )
    trade = [
        TRADE_OFFS[(pick.technique, o.technique)]
        for o in eligible
        if (pick.technique, o.technique) in TRADE_OFFS
    ]
    if trade:
        why += "; capability trade-off: " + "; ".join(trade)
    alts = []
    chosen_cost = _monthly(pick.fields)
    for o in options:
        if o.technique == pick.technique:
            continue
        if o.technique in excluded:
            why_not = excluded[o.technique]
        elif _monthly(o.fields) is None:
            why_not = "not priced: " + _unpriced(o.fields)
        elif o.axis != axis:
            why_not = f"on the {o.axis.replace('_', ' ')} axis, which the rules rank on its own"
        elif not _meets(o.fields):
            why_not = missing_words(o.fields)
        else:
            cost = _monthly(o.fields) or 0.0
            diff = cost - (chosen_cost or 0.0)
            why_not = (
                f"{_money(cost)}: ${diff:,.0f}/month more than the chosen option"
                if diff > 0
                else f"{_money(cost)}: the same monthly cost, more up front"
            )
        alts.append(_alt(o, why_not))
    return Choice(pick.technique, why, alts)
