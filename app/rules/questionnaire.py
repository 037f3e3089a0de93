"""The failure-mode questionnaire as data, and the facts the rules read from its answers (pure).

For each failure mode an answer gives a severity (0-4), the share of traffic affected, the
deployment's evaluation segments it hits, and the follow-ups the rules need. :func:`facts` turns
answers plus the deployment's context into the flat fact mapping of :mod:`app.rules.conditions`::

    fm.<failure_mode>.severity | traffic_share | segment_risk | <follow-up>
    ctx.cost_over_budget | slo_missed | latency_headroom | regulated_data | profile

``segment_risk`` is the highest risk among the segments hit (low 1, medium 2, high 3; none 0).
The serving facts use what the product lead observed when given, else the estimators' numbers for
the deployment, and say which in ``ctx.serving_source``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from app.rules.conditions import Fact

SEVERITY_LEVELS: dict[int, tuple[str, str]] = {  # 0 .. engine.SEVERITY_MAX
    0: ("None", "Not observed in evaluation or production."),
    1: ("Minor", "Occasional and cosmetic; users work around it without noticing."),
    2: ("Moderate", "Regular enough that users notice and some tasks need a second try."),
    3: ("Serious", "Frequent, or it costs users real time, money or trust."),
    4: (
        "Critical",
        "Blocks the use case, or a single occurrence has legal or safety consequences.",
    ),
}
RISK_LEVELS = {"low": 1, "medium": 2, "high": 3}
# Flags whose data makes retrieval a provenance and PII matter (seed 000 §6).
REGULATED_FLAGS = frozenset({"pii", "phi", "financial", "regulated_sector", "minors"})


@dataclass(frozen=True, slots=True)
class FollowUp:
    """One follow-up question: ``kind`` is ``bool``, ``choice`` or ``number``."""

    name: str
    label: str
    kind: str
    help: str = ""
    choices: tuple[tuple[str, str], ...] = ()
    minimum: float = 0.0
    maximum: float = 0.0


LABELLED = FollowUp(
    "labelled_data",
    "Labelled domain examples are available",
    "bool",
    "QLoRA needs labelled examples of the task (seed 000 §6).",
)
DISTRIBUTION = FollowUp(
    "distribution",
    "How stable is the task distribution?",
    "choice",
    "QLoRA suits narrow, stable distributions; a shifting one keeps moving away from the adapter.",
    (
        ("stable", "Stable: the same kinds of request month to month"),
        ("shifting", "Shifting: new products, policies or topics arrive often"),
    ),
)
CORPUS = FollowUp(
    "corpus_tokens",
    "Corpus size (tokens)",
    "number",
    "Prices the index build: embedding, and for GraphRAG the LLM's pass over the corpus.",
    minimum=0,
    maximum=1e13,
)
CROSS_DOC = FollowUp(
    "cross_document",
    "Questions need synthesis across several documents",
    "bool",
    "Standard RAG retrieves local passages; GraphRAG answers global, cross-document questions.",
)
CONTROL = FollowUp(
    "control_need",
    "What matters most in the policy fix?",
    "choice",
    "DPO where simplicity and cost matter; Constitutional AI for scalable, principled control.",
    (
        ("simplicity_cost", "Simplicity and cost"),
        ("principled", "Scalable, principle-based control over many policies"),
    ),
)

FOLLOW_UPS: dict[str, tuple[FollowUp, ...]] = {
    "domain_accuracy_gap": (LABELLED, DISTRIBUTION),
    "factual_staleness": (CORPUS, CROSS_DOC),
    "cross_document_synthesis": (CORPUS,),
    "policy_noncompliance": (CONTROL,),
}
FOLLOW_UP_NAMES = frozenset(f.name for fs in FOLLOW_UPS.values() for f in fs)
# Failure modes whose answers make the observed serving numbers worth asking for.
SERVING_FAILURE_MODES = frozenset({"serving_cost", "complex_task_errors", "long_input_loss"})

# Every fact :func:`facts` can produce: a rule may read nothing else.
ANSWER_FACTS = frozenset({"severity", "traffic_share", "segment_risk"}) | FOLLOW_UP_NAMES
CONTEXT_FACTS = frozenset(
    {
        "ctx.profile",
        "ctx.regulated_data",
        "ctx.serving_source",
        "ctx.monthly_cost_usd",
        "ctx.cost_over_budget",
        "ctx.latency_headroom",
        "ctx.slo_missed",
        "ctx.monthly_budget_usd",
        "ctx.ttft_ms",
        "ctx.tpot_ms",
        "ctx.ttft_slo_ms",
        "ctx.tpot_slo_ms",
    }
)


def is_known_fact(name: str, failure_modes: Sequence[str]) -> bool:
    if name in CONTEXT_FACTS:
        return True
    head, _, rest = name.partition(".")
    mode, _, field_name = rest.partition(".")
    return head == "fm" and mode in failure_modes and field_name in ANSWER_FACTS


@dataclass(frozen=True, slots=True)
class Answer:
    failure_mode: str
    severity: int
    traffic_share: float | None = None  # None: not answered (no fact; priced on every request)
    segments: tuple[str, ...] = ()
    follow_ups: Mapping[str, Fact] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ServingContext:
    """A deployment's targets and current serving numbers (observed, else estimated)."""

    profile: str
    regulatory_flags: tuple[str, ...]
    segments: Mapping[str, str]  # name -> risk
    ttft_slo_ms: float
    tpot_slo_ms: float
    monthly_budget_usd: float
    monthly_cost_usd: float | None
    ttft_ms: float | None
    tpot_ms: float | None
    source: str  # "observed", "estimated" or "mixed"


def check_answer(answer: Answer, known_segments: Sequence[str]) -> list[tuple[str, str]]:
    """Field problems of one answer (beyond types and ranges): (field, message)."""
    problems = []
    allowed = {f.name: f for f in FOLLOW_UPS.get(answer.failure_mode, ())}
    for name, value in answer.follow_ups.items():
        fu = allowed.get(name)
        if fu is None:
            problems.append((name, f"{name} does not apply to {answer.failure_mode}"))
        elif fu.kind == "choice" and value not in {c for c, _ in fu.choices}:
            choices = ", ".join(c for c, _ in fu.choices)
            problems.append((name, f"{name} must be one of {choices}"))
    lower = {s.lower() for s in known_segments}
    for s in answer.segments:
        if s.lower() not in lower:
            known = ", ".join(known_segments) or "none defined"
            problems.append(("segments", f"unknown segment '{s}'; the deployment's: {known}"))
    return problems


def headroom(ctx: ServingContext) -> float | None:
    """1 − the worse of TTFT/SLO and TPOT/SLO: 0.4 means 40% of the tighter SLO is still free."""
    ratios = [
        v / slo
        for v, slo in ((ctx.ttft_ms, ctx.ttft_slo_ms), (ctx.tpot_ms, ctx.tpot_slo_ms))
        if v is not None and slo > 0
    ]
    return round(1.0 - max(ratios), 4) if ratios else None


def facts(answers: Sequence[Answer], ctx: ServingContext) -> dict[str, Fact]:
    segment_risk = {name.lower(): RISK_LEVELS[risk] for name, risk in ctx.segments.items()}
    out: dict[str, Fact] = {}
    for a in sorted(answers, key=lambda a: a.failure_mode):
        p = f"fm.{a.failure_mode}"
        out[f"{p}.severity"] = a.severity
        if a.traffic_share is not None:
            out[f"{p}.traffic_share"] = a.traffic_share
        out[f"{p}.segment_risk"] = max(
            (segment_risk.get(s.lower(), 0) for s in a.segments), default=0
        )
        for name, value in sorted(a.follow_ups.items()):
            out[f"{p}.{name}"] = value
    out["ctx.profile"] = ctx.profile
    out["ctx.regulated_data"] = bool(REGULATED_FLAGS & set(ctx.regulatory_flags))
    out["ctx.serving_source"] = ctx.source
    out["ctx.monthly_budget_usd"] = ctx.monthly_budget_usd
    out["ctx.ttft_slo_ms"] = ctx.ttft_slo_ms
    out["ctx.tpot_slo_ms"] = ctx.tpot_slo_ms
    if ctx.monthly_cost_usd is not None:
        out["ctx.monthly_cost_usd"] = round(ctx.monthly_cost_usd, 2)
        out["ctx.cost_over_budget"] = ctx.monthly_cost_usd > ctx.monthly_budget_usd
    for name, v in (("ttft", ctx.ttft_ms), ("tpot", ctx.tpot_ms)):
        if v is not None:
            out[f"ctx.{name}_ms"] = round(v, 2)
    room = headroom(ctx)
    if room is not None:
        out["ctx.latency_headroom"] = room
        out["ctx.slo_missed"] = room < 0
    return out
