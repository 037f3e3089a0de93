"""Assessment use cases: validate a questionnaire against the deployment and the catalog, run the
rules engine with the deployment's estimated economics and the techniques' priced impacts, store
the recommendation as an immutable snapshot, and record the audit event."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.assessments.models import Assessment, Recommendation
from app.assessments.repository import AssessmentRepository
from app.assessments.schemas import AssessmentIn, DryRunChange, DryRunOut
from app.audit import service as audit
from app.auth.context import Caller
from app.catalog import hosted
from app.catalog import service as catalog_service
from app.catalog.repository import CatalogRepository
from app.db import utcnow
from app.deployments import service as deployments
from app.deployments.models import Deployment
from app.deployments.schemas import DeploymentEconomics
from app.errors import Conflict, InvalidInput, NotFound
from app.estimates.service import (
    PlanUnavailable,
    StaticEconomics,
    deployment_economics,
    deployment_serving_plan,
    serving_plan_fields,
)
from app.estimators import ESTIMATOR_VERSION
from app.estimators import hosted as hosted_calc
from app.estimators.architecture import Architecture
from app.estimators.candidates import CANDIDATES, Option, choose, in_place, ruled_out
from app.estimators.errors import FieldError
from app.estimators.interventions import Scenario
from app.estimators.portfolio import AxisData, evaluate_portfolio
from app.estimators.portfolio import Item as PortfolioItem
from app.estimators.quality import DEFAULT_FAMILY
from app.estimators.techniques import (
    SHARE_LIMITED,
    TechniqueImpact,
    better_models,
    pricing_params,
    technique_impact,
)
from app.formatting import money, ms
from app.rules.conditions import Fact
from app.rules.engine import Context, FailureModeInfo, Item, Result, RuleSet, run
from app.rules.questionnaire import ServingContext, check_answer, facts
from app.rulesets import service as rulesets

SERVING_FIELDS = (
    "observed_ttft_ms",
    "observed_tpot_ms",
    "observed_monthly_cost_usd",
    "governance_capacity",
)
PREVIEW_ITEMS = 3


@dataclass(frozen=True, slots=True)
class RuleEvaluation:
    facts: dict[str, Fact]
    result: Result
    matrix_version: int
    rules_version: int
    serving: ServingContext


# ---- reference data ------------------------------------------------------------------------
REFERENCE_TTL_S = 30.0  # how stale a process's copy of the catalog and matrix may get


@dataclass(frozen=True, slots=True)
class FailureModeRow:
    key: str
    name: str
    origin: str
    axes: tuple[str, ...]
    expected_outcome: str


@dataclass(frozen=True, slots=True)
class Catalog:
    """The reference data the questionnaire and the engine read: one consistent snapshot (the
    matrix levels always come with their own version number)."""

    matrix_version: int
    matrix: dict[str, dict[str, int]]
    profiles: dict[str, dict[str, float]]
    failure_modes: dict[str, FailureModeInfo]
    rows: tuple[FailureModeRow, ...]
    technique_names: dict[str, str]
    technique_citations: dict[str, str]
    technique_axis: dict[str, str]
    models: tuple[tuple[str, Architecture], ...]
    loaded_at: float
    axis_names: dict[str, str] = field(default_factory=dict)


_CATALOG: list[Catalog] = []  # the organisation-independent part (its matrix fields are empty)
# An organisation's matrix levels by (org id, matrix version row id): versions are immutable, so
# an entry never goes stale, and one organisation never gets another's matrix.
_MATRICES: dict[tuple[int, int], tuple[int, dict[str, dict[str, int]]]] = {}
_MATRICES_MAX = 1024


def clear_reference_cache() -> None:
    _CATALOG.clear()
    _MATRICES.clear()


def _shared_catalog(session: Session) -> Catalog:
    """A per-process snapshot of the organisation-independent reference data, refreshed after
    ``REFERENCE_TTL_S`` (profiles, failure modes, techniques and released models change only by a
    seed)."""
    if _CATALOG and time.monotonic() - _CATALOG[0].loaded_at < REFERENCE_TTL_S:
        return _CATALOG[0]
    repo = CatalogRepository(session)
    techniques = repo.techniques()
    fms = repo.failure_modes()
    cat = Catalog(
        matrix_version=0,
        matrix={},
        profiles={p.key: p.weights for p in repo.profiles()},
        failure_modes={
            f.key: FailureModeInfo(f.key, f.name, f.expected_outcome, f.citation) for f in fms
        },
        rows=tuple(
            FailureModeRow(f.key, f.name, f.origin, tuple(f.axes), f.expected_outcome) for f in fms
        ),
        technique_names={t.key: t.name for t in techniques},
        technique_citations={t.key: t.citation for t in techniques},
        technique_axis={t.key: t.axis_key for t in techniques},
        models=tuple(
            sorted(
                (m.key, catalog_service.architecture_of(m))
                for m in repo.models()
                if m.published_total_params is not None  # released models, not research designs
            )
        ),
        loaded_at=time.monotonic(),
        axis_names={a.key: a.name for a in repo.axes()},
    )
    _CATALOG[:] = [cat]
    return cat


def shared_catalog(session: Session) -> Catalog:
    """The organisation-independent reference data (failure modes, techniques, profiles,
    models); its matrix fields are empty: use :func:`catalog` for an organisation's matrix."""
    return _shared_catalog(session)


def catalog(session: Session, org_id: int) -> Catalog:
    """The reference data as the organisation sees it: the shared snapshot with the
    organisation's current matrix (one small query to find its newest version; the levels of a
    version are cached by its row id)."""
    shared = _shared_catalog(session)
    repo = CatalogRepository(session)
    ref = repo.current_matrix_ref(org_id)
    if ref is None:
        catalog_service.current_matrix(session, org_id)  # the shipped version 1, created lazily
        ref = repo.current_matrix_ref(org_id)
        if ref is None:
            raise NotFound("no matrix loaded; run seed")
    key = (org_id, ref[0])
    if key not in _MATRICES:
        if len(_MATRICES) >= _MATRICES_MAX:
            _MATRICES.clear()
        view = catalog_service.current_matrix(session, org_id, ref[1])
        _MATRICES[key] = (view.version, view.levels)
    version, levels = _MATRICES[key]
    return replace(shared, matrix_version=version, matrix=levels)


# ---- validation ----------------------------------------------------------------------------
def validate(session: Session, dep: Deployment, data: AssessmentIn) -> None:
    """Domain checks beyond the schema: known failure modes, the deployment's segments, and
    follow-ups that apply. Raises :class:`InvalidInput` naming ``answers[i].field``."""
    known = set(catalog(session, dep.org_id).failure_modes)
    segments = [s["name"] for s in dep.segments]
    for i, a in enumerate(data.engine_answers):
        if a.failure_mode not in known:
            raise InvalidInput(
                f"unknown failure mode '{a.failure_mode}'; known: {', '.join(sorted(known))}",
                field=f"answers[{i}].failure_mode",
            )
        for fld, msg in check_answer(a, segments):
            raise InvalidInput(msg, field=f"answers[{i}].{fld}")


# ---- evaluation ----------------------------------------------------------------------------
def _serving_context(
    dep: Deployment, data: AssessmentIn, plan: DeploymentEconomics | PlanUnavailable
) -> ServingContext:
    """The serving figures the rules judge (over budget, SLO missed): what the user observed, else
    the deployment page's own figures (``deployment_serving_plan``: peak replicas, p95 at the
    planned rate), so the banner and the deployment page never disagree."""
    est: dict[str, float | None] = {"cost": None, "ttft": None, "tpot": None}
    if isinstance(plan, DeploymentEconomics):
        est = {"cost": plan.monthly_cost_usd, "ttft": plan.ttft_p95_ms, "tpot": plan.tpot_p95_ms}
    obs = {
        "cost": data.observed_monthly_cost_usd,
        "ttft": data.observed_ttft_ms,
        "tpot": data.observed_tpot_ms,
    }
    used = {k: obs[k] if obs[k] is not None else est[k] for k in obs}
    given = [k for k in obs if obs[k] is not None]
    source = "observed" if len(given) == len(obs) else ("mixed" if given else "estimated")
    return ServingContext(
        profile=dep.profile,
        regulatory_flags=tuple(dep.regulatory_flags),
        segments={s["name"]: s["risk"] for s in dep.segments},
        ttft_slo_ms=dep.ttft_slo_ms,
        tpot_slo_ms=dep.tpot_slo_ms,
        monthly_budget_usd=dep.monthly_budget_usd,
        monthly_cost_usd=used["cost"],
        ttft_ms=used["ttft"],
        tpot_ms=used["tpot"],
        source=source,
    )


def _engine_context(
    session: Session,
    org_id: int,
    fact_map: dict[str, Fact],
    profile: str,
    capacity: int | None,
) -> tuple[Context, int]:
    cat = catalog(session, org_id)
    ctx = Context(
        facts=fact_map,
        matrix=cat.matrix,
        profile_weights=cat.profiles[profile],
        failure_modes=cat.failure_modes,
        technique_citations=cat.technique_citations,
        technique_names=cat.technique_names,
        governance_capacity=capacity,
        axis_names=cat.axis_names,
    )
    return ctx, cat.matrix_version


@lru_cache(maxsize=4096)
def _cached_impact(
    scenario: Scenario,
    technique: str,
    params: CardParams,
    models: tuple[tuple[str, Architecture], ...],
) -> TechniqueImpact:
    """Pure and deterministic, so memoised: resubmitting for an unchanged deployment reprices
    nothing (the key holds every input: scenario, technique, parameters and catalog models)."""
    return technique_impact(scenario, technique, params=dict(params), models=dict(models))


def priced_outcome(fields: dict[str, Any], rule_technique: str, table_outcome: str) -> str:
    """A card's expected outcome when the price chose another technique than the rule's: its
    own priced figures, then the rule's outcome, which describes the rule's technique (a
    distillation card no longer promises PagedAttention's "up to 24x throughput")."""
    parts = []
    cost = fields.get("cost_per_1k_requests_usd") or {}
    if cost.get("before") is not None and cost.get("after") is not None:
        parts.append(
            f"{money(cost['before'], 3)} → {money(cost['after'], 3)} per 1,000 "
            "requests (GPU-hours actually needed)"
        )
    tta = fields.get("time_to_answer_p95_ms") or {}
    if tta.get("before") is not None and tta.get("after") is not None:
        parts.append(f"p95 time to answer {ms(tta['before'])} → {ms(tta['after'])}")
    slo = fields.get("slo_after") or {}
    if slo:
        parts.append("meets every SLO" if all(slo.values()) else "misses an SLO")
    figures = ", ".join(parts) or "not priced"
    return (
        f"{figures[:1].upper()}{figures[1:]}, priced on this deployment (the rules' "
        f"outcome for {rule_technique}: {table_outcome})"
    )


# A card's pricing parameters as (name, value) pairs sorted by name: hashable, so they key the
# pricing memo (``_cached_impact``) as they are.
CardParams = tuple[tuple[str, object], ...]


def card_params(technique: str, corpus_tokens: float, share: float) -> CardParams:
    """The parameters a card is priced with: the questionnaire's corpus for the techniques that
    index one, and for reasoning-time compute the share of traffic the failure hits."""
    params: dict[str, object] = dict(pricing_params(technique, corpus_tokens))
    if technique in SHARE_LIMITED:
        params["traffic_share"] = share
    return tuple(sorted(params.items()))


def _item_share(item: Item, fact_map: dict[str, Fact]) -> float:
    """The largest share of traffic the item's failure modes hit (1 when none was given; an
    answered 0 % is 0, not "not given": the share-limited change then runs on no request)."""
    shares = [fact_map.get(f"fm.{fm}.traffic_share") for fm in item.failure_modes]
    values = [float(v) for v in shares if isinstance(v, int | float) and not isinstance(v, bool)]
    if not values:
        return 1.0
    return min(max(max(values), 0.0), 1.0)


def _price_and_choose(
    session: Session,
    org_id: int,
    scenario: Scenario,
    result: Result,
    fact_map: dict[str, Fact],
    corpus: float,
) -> Result:
    """Price every candidate technique of each item's failure modes on the deployment, recommend
    the cheapest on the item's axis that meets the SLOs (never one already in place), and list the
    others as alternatives; the items' order stays the rules' (app.estimators.candidates)."""
    cat = catalog(session, org_id)
    models = cat.models
    kept: list[Item] = []
    notes = list(result.notes)
    fm_axes = {row.key: row.axes for row in cat.rows}
    for item in result.items:
        share = _item_share(item, fact_map)
        techniques = [item.technique, *_item_candidates(item, cat, fm_axes)]
        techniques = list(dict.fromkeys(techniques))
        excluded: dict[str, str] = {}
        priced: dict[str, TechniqueImpact] = {}
        for t in techniques:
            params = card_params(t, corpus, share)
            priced[t] = _cached_impact(scenario, t, params, models)
            placed = in_place(t, scenario, dict(models))
            if placed is not None:
                excluded[t] = f"already in place: {placed}"
                continue
            whys = [ruled_out(fm, t, fact_map) for fm in item.failure_modes]
            why = next((w for w in whys if w), None)
            if why is not None:
                excluded[t] = why
        options = [Option(t, cat.technique_axis[t], priced[t].fields) for t in techniques]
        choice = choose(item.technique, item.axis, options, excluded)
        if choice.technique in excluded:
            notes.append(
                f"{item.technique_name}: {excluded[choice.technique]}; no other priced "
                "option on its axis, so it is not recommended"
            )
            continue
        pick = choice.technique
        same = next((k for k in kept if (k.axis, k.technique) == (item.axis, pick)), None)
        if same is not None:
            # Two failure modes land on one technique of one axis: one card, not two (review
            # finding 4: a second card with the other failure's outcome and a worse option).
            _merge_into(same, item, cat)
            continue
        if pick != item.technique:
            old = item.technique
            item.citations = [c for c in item.citations if c != cat.technique_citations.get(old)]
            if cat.technique_citations.get(pick):
                item.citations.append(cat.technique_citations[pick])
            item.rationale.insert(
                0, f"Chosen by price over {cat.technique_names.get(old, old)}: {choice.why}"
            )
            item.expected_outcome = priced_outcome(
                priced[pick].fields, cat.technique_names.get(old, old), item.expected_outcome
            )
            item.technique, item.technique_name = pick, cat.technique_names.get(pick, pick)
        else:
            item.rationale.insert(0, f"Priced against the alternatives: {choice.why}")
        if pick == "moe_model" and scenario.arch.is_moe:
            item.rationale.insert(1, _moe_replacement(scenario, dict(models)))
        item.impact = {**priced[pick].fields, "governance_burden": item.governance_burden}
        item.impact_assumptions = list(priced[pick].assumptions)
        item.alternatives = [a for a in choice.alternatives if a["technique"] != pick]
        kept.append(item)
    for n, item in enumerate(kept, start=1):
        item.rank = n
    return replace(result, items=kept, notes=notes, plan=_whole_plan(cat, scenario, kept))


def _item_candidates(item: Item, cat: Catalog, fm_axes: dict[str, tuple[str, ...]]) -> list[str]:
    """The techniques a card is priced against: its failure modes' candidates; for an item a
    rule put on an axis none of its failure modes' candidates lies on (serving optimisation for
    the latency headroom reasoning needs), the candidates of that axis's own failure modes on that
    axis only, so the card's alternatives answer the card's question."""
    own = [
        t for fm in item.failure_modes for t in CANDIDATES.get(fm, ()) if t in cat.technique_axis
    ]
    if not fm_axes or any(cat.technique_axis[t] == item.axis for t in own):
        return own
    return [
        t
        for fm, axes in fm_axes.items()
        if item.axis in axes
        for t in CANDIDATES.get(fm, ())
        if cat.technique_axis.get(t) == item.axis
    ]


def _merge_into(card: Item, other: Item, cat: Catalog) -> None:
    """``other`` chose the technique ``card`` already recommends on the same axis: one card for
    both failure modes, with every reason and rule kept."""
    names = [
        cat.failure_modes[fm].name if fm in cat.failure_modes else fm
        for fm in other.failure_modes
        if fm not in card.failure_modes
    ]
    card.failure_modes.extend(fm for fm in other.failure_modes if fm not in card.failure_modes)
    if other.score > card.score:
        card.score, card.breakdown = other.score, other.breakdown
    if names:
        card.rationale.append(
            f"Also addresses {', '.join(names)}: the same option is the "
            "cheapest on this axis that meets the SLOs for it too"
        )
    card.rationale.extend(r for r in other.rationale if r not in card.rationale)
    card.rules_fired.extend(r for r in other.rules_fired if r not in card.rules_fired)
    card.warnings.extend(w for w in other.warnings if w not in card.warnings)
    card.citations.extend(c for c in other.citations if c not in card.citations)
    card.controls.extend(c for c in other.controls if c not in card.controls)


def _moe_replacement(scenario: Scenario, models: dict[str, Architecture]) -> str:
    """What a MoE card means for a deployment already on a MoE model."""
    current = scenario.arch.name
    found = better_models(scenario, models, DEFAULT_FAMILY, moe=True)
    if not found:
        return f"{current} is already a mixture-of-experts model"
    new = models[found[0].key].name
    return (
        f"{current} is already a mixture-of-experts model: this replaces it with {new}, "
        f"{found[0].comparison.describe(current, new)}"
    )


def _add_hosted_alternatives(
    session: Session, dep: Deployment, econ: StaticEconomics, result: Result
) -> None:
    """On serving-cost cards, the cheapest suitable hosted APIs join the alternatives (issue 20
    item 5), priced by the hosted-alternatives endpoint's own computation at the organisation's
    prices; the recommendation itself stays self-hosted."""
    items = [i for i in result.items if i.axis == "serving_optimization"]
    if not items:
        return
    plan = serving_plan_fields(deployment_serving_plan(session, dep))
    rows = hosted.alternatives(dep, plan, hosted.effective_models(session, dep.org_id), None)
    outcome = econ.outcome
    self_monthly = None if outcome is None else outcome.monthly_cost_usd
    alts = hosted_calc.card_alternatives(
        rows["items"],
        regulatory_flags=list(dep.regulatory_flags),
        ttft_slo_ms=float(dep.ttft_slo_ms),
        tpot_slo_ms=float(dep.tpot_slo_ms),
        self_monthly_usd=self_monthly,
    )
    for item in items:
        item.alternatives = [*item.alternatives, *(dict(a) for a in alts)]


def _whole_plan(cat: Catalog, scenario: Scenario, items: Sequence[Item]) -> dict[str, Any] | None:
    """All the items together on the deployment: one portfolio evaluation, each item with the
    parameters its card was priced with."""
    if not items:
        return None
    data = AxisData(cat.matrix, cat.profiles, {}, cat.technique_axis, dict(cat.models))
    chosen = [PortfolioItem(i.axis, i.technique, dict(i.impact.get("params") or {})) for i in items]
    try:
        ev = evaluate_portfolio(scenario, chosen, data)
    except FieldError as exc:
        return {"error": str(exc)}
    warnings = list(ev.warnings)
    verdict = None
    if ev.fits and not ev.meets_slo:
        verdict, culprits = _plan_misses(scenario, ev.economics, items)
        own = f". Items that miss it on their own card too: {culprits}" if culprits else ""
        warnings = [f"The whole plan {verdict}{own}"] + [
            w for w in warnings if not w.startswith("misses the ")
        ]
    return {
        **ev.economics,
        "meets_slo": ev.meets_slo,
        "fits": ev.fits,
        "warnings": warnings,
        "slo_verdict": verdict,
        "items": [f"{i.axis}/{i.technique}" for i in items],
    }


def _plan_budget(plan: dict[str, Any] | None, budget: float | None) -> None:
    """Say so, first after a missed SLO, when the whole plan's provisioned bill (the deployment
    page's monthly figure) ends over the deployment's monthly budget."""
    if not plan or plan.get("error") or budget is None:
        return
    prov = plan.get("provisioned_monthly_cost_usd") or {}
    after, before = prov.get("after"), prov.get("before")
    if after is None or after <= budget:
        return
    now = (
        ""
        if before is None
        else f"; {'already over' if before > budget else 'within'} it today at {money(before)}"
    )
    warnings = plan.setdefault("warnings", [])
    at = 1 if warnings and str(warnings[0]).startswith("The whole plan misses") else 0
    warnings.insert(
        at,
        f"The whole plan's provisioned bill, {money(after)} a month (the peak's replicas all "
        f"month, as on the deployment page), is over the monthly budget of {money(budget)}{now}",
    )


PLAN_SLOS = (  # (slo_after key, words, economics figure, which SLO)
    ("ttft_ok", "TTFT", "ttft_p95_ms", "ttft"),
    ("tpot_ok", "TPOT", "tpot_p95_ms", "tpot"),
    ("time_to_answer_ok", "time-to-answer", "time_to_answer_p95_ms", "ttft"),
)


def _plan_misses(
    scenario: Scenario, economics: dict[str, Any], items: Sequence[Item]
) -> tuple[str, str]:
    """Which SLOs the whole plan misses, with the figures ("misses the time-to-answer SLO at p95:
    163,974 ms vs 300 ms"), and the items whose own card misses one of them."""
    slo_after = economics.get("slo_after") or {}
    missed, figures, keys = [], [], []
    for key, words, figure, which in PLAN_SLOS:
        if slo_after.get(key, True):
            continue
        after = (economics.get(figure) or {}).get("after")
        slo = scenario.ttft_slo_ms if which == "ttft" else scenario.tpot_slo_ms
        missed.append(words)
        keys.append(key)
        if after is not None:
            figures.append(f"{words} {after:,.0f} ms vs {slo:,.0f} ms")
    plural = "s" if len(missed) > 1 else ""
    verdict = f"misses the {' and '.join(missed)} SLO{plural} at p95"
    if figures:
        verdict += f" ({'; '.join(figures)})"
    culprits = [
        i.technique_name
        for i in items
        if any(not (i.impact.get("slo_after") or {}).get(k, True) for k in keys)
    ]
    return verdict, ", ".join(culprits)


def answered_corpus(values: Iterable[float | None]) -> float:
    """The corpus size the recommendation is priced with: the largest the answers give."""
    return max((v or 0.0 for v in values), default=0.0)


def evaluate(
    session: Session,
    dep: Deployment,
    data: AssessmentIn,
    *,
    rules: RuleSet | None = None,
    with_impacts: bool = True,
) -> RuleEvaluation:
    """Facts from the answers and the deployment, then the engine; twice when pricing, so the
    estimators run only for the techniques that are recommended."""
    if rules is None:
        rules = rulesets.current_ruleset(session, dep.org_id)
    econ = deployment_economics(session, dep)
    serving = _serving_context(dep, data, deployment_serving_plan(session, dep))
    fact_map = facts(data.engine_answers, serving)
    if data.governance_capacity is not None:
        fact_map["ctx.governance_capacity"] = data.governance_capacity
    ctx, matrix_version = _engine_context(
        session, dep.org_id, fact_map, dep.profile, data.governance_capacity
    )
    result = run(rules, ctx)
    scenario = econ.scenario
    if with_impacts and result.items and scenario is not None:
        corpus = answered_corpus(a.corpus_tokens for a in data.answers)
        result = _price_and_choose(session, dep.org_id, scenario, result, fact_map, corpus)
        _plan_budget(result.plan, dep.monthly_budget_usd)
        _add_hosted_alternatives(session, dep, econ, result)
    return RuleEvaluation(fact_map, result, matrix_version, rules.version, serving)


# ---- storage -------------------------------------------------------------------------------
def _request_hash(data: AssessmentIn) -> str:
    body = json.dumps(data.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(body.encode()).hexdigest()


def _answers_json(data: AssessmentIn) -> list[dict[str, Any]]:
    return [a.model_dump(mode="json", exclude_none=True) for a in data.answers]


def _store_recommendation(
    session: Session,
    caller: Caller,
    assessment: Assessment,
    ev: RuleEvaluation,
    previous: Recommendation | None,
) -> Recommendation:
    rec = Recommendation(
        assessment_id=assessment.id,
        previous_id=previous.id if previous else None,
        matrix_version=ev.matrix_version,
        rules_version=ev.rules_version,
        estimator_version=ESTIMATOR_VERSION,
        facts=dict(ev.facts),
        result=json.loads(json.dumps(ev.result.as_dict())),
        created_by=caller.email,
    )
    AssessmentRepository(session, caller.org_id).add(rec)
    return rec


def _summary(rec: Recommendation) -> dict[str, Any]:
    items = rec.result["items"]
    return {
        "recommendation": rec.id,
        "versions": {
            "matrix": rec.matrix_version,
            "rules": rec.rules_version,
            "estimator": rec.estimator_version,
        },
        "top": [f"{i['axis']}/{i['technique']}" for i in items[:PREVIEW_ITEMS]],
        "no_intervention": rec.result["no_intervention"],
        "governance_burden": rec.result["governance_burden"],
    }


def submit(
    session: Session,
    caller: Caller,
    deployment_id: int,
    data: AssessmentIn,
    *,
    audit_key: bytes,
    idempotency_key: str | None = None,
) -> tuple[Assessment, bool]:
    """Create a submitted assessment and its first recommendation. Returns (assessment, replayed):
    the same Idempotency-Key with the same body returns the stored one; with another body, 409."""
    dep = deployments.get(session, caller, deployment_id)
    deployments.require_active(dep)
    repo = AssessmentRepository(session, caller.org_id)
    digest = _request_hash(data)
    if idempotency_key is not None:
        if not 1 <= len(idempotency_key) <= 200:
            raise InvalidInput("Idempotency-Key must be 1-200 characters", field="Idempotency-Key")
        found = repo.by_key(idempotency_key)
        if found is not None:
            return _replay(found, deployment_id, digest), True
    validate(session, dep, data)
    ev = evaluate(session, dep, data)
    assessment = Assessment(
        deployment_id=dep.id,
        status="submitted",
        answers=_answers_json(data),
        serving=data.model_dump(include=set(SERVING_FIELDS), exclude_none=True),
        idempotency_key=idempotency_key,
        request_hash=digest,
        created_by=caller.email,
        submitted_at=utcnow(),
    )
    try:
        with session.begin_nested():
            repo.add(assessment)
    except IntegrityError:
        # A concurrent request with the same key won the race: return what it stored.
        found = repo.by_key(idempotency_key or "")
        if found is None:
            raise
        return _replay(found, deployment_id, digest), True
    rec = _store_recommendation(session, caller, assessment, ev, None)
    draft = repo.draft(dep.id, caller.email)
    if draft is not None:
        session.delete(draft)
    audit.record(
        session,
        audit_key,
        actor=caller.actor,
        action="assessment.submit",
        entity_type="assessment",
        entity_id=assessment.id,
        after={
            "deployment": dep.name,
            "deployment_id": dep.id,
            "answers": assessment.answers,
            **assessment.serving,
            **_summary(rec),
        },
    )
    return assessment, False


def _replay(found: Assessment, deployment_id: int, digest: str) -> Assessment:
    if found.deployment_id != deployment_id or found.request_hash != digest:
        raise Conflict(
            "this Idempotency-Key was used for a different request", field="Idempotency-Key"
        )
    return found


def get(session: Session, caller: Caller, assessment_id: int) -> Assessment:
    a = AssessmentRepository(session, caller.org_id).get(assessment_id)
    if a is None or a.status != "submitted":
        raise NotFound(f"assessment {assessment_id} not found")
    return a


def recommendations(session: Session, caller: Caller, assessment_id: int) -> list[Recommendation]:
    return list(AssessmentRepository(session, caller.org_id).recommendations(assessment_id))


def stored_input(a: Assessment) -> AssessmentIn:
    return AssessmentIn.model_validate({"answers": a.answers, **a.serving})


def rerun(
    session: Session, caller: Caller, assessment_id: int, *, audit_key: bytes
) -> Recommendation:
    """A new recommendation for the same answers under the current rule set, matrix, estimators
    and deployment, linked to the one it follows."""
    a = get(session, caller, assessment_id)
    dep = deployments.get(session, caller, a.deployment_id)
    deployments.require_active(dep)
    previous = recommendations(session, caller, a.id)[-1]
    ev = evaluate(session, dep, stored_input(a))
    rec = _store_recommendation(session, caller, a, ev, previous)
    audit.record(
        session,
        audit_key,
        actor=caller.actor,
        action="assessment.rerun",
        entity_type="assessment",
        entity_id=a.id,
        before=_summary(previous),
        after=_summary(rec),
    )
    return rec


def list_for_deployment(session: Session, caller: Caller, deployment_id: int) -> list[Assessment]:
    deployments.get(session, caller, deployment_id)
    return list(AssessmentRepository(session, caller.org_id).for_deployment(deployment_id))


@dataclass(frozen=True, slots=True)
class AssessmentSummary:
    """A submitted assessment, its latest recommendation and that recommendation's top item (as
    stored in its result; None when no intervention is needed)."""

    assessment: Assessment
    rec: Recommendation
    top: dict[str, Any] | None


def summaries(session: Session, caller: Caller, deployment_id: int) -> list[AssessmentSummary]:
    """Each submitted assessment of a deployment with its latest recommendation's top item."""
    out = []
    submitted = list_for_deployment(session, caller, deployment_id)
    latest_of = AssessmentRepository(session, caller.org_id).latest_recommendations(
        [a.id for a in submitted]
    )
    for a in submitted:
        latest = latest_of[a.id]
        items = latest.result["items"]
        out.append(AssessmentSummary(a, latest, items[0] if items else None))
    return out


# ---- drafts (the questionnaire page) -------------------------------------------------------
def load_draft(session: Session, caller: Caller, deployment_id: int) -> Assessment | None:
    return AssessmentRepository(session, caller.org_id).draft(deployment_id, caller.email)


def save_draft(
    session: Session, caller: Caller, deployment_id: int, values: dict[str, Any]
) -> Assessment:
    """Keep the form as typed (valid or not) so a half-filled questionnaire is never lost."""
    dep = deployments.get(session, caller, deployment_id)
    repo = AssessmentRepository(session, caller.org_id)
    draft = repo.draft(dep.id, caller.email)
    if draft is None:
        draft = Assessment(
            deployment_id=dep.id, status="draft", answers=[], serving={}, created_by=caller.email
        )
        repo.add(draft)
    draft.form = _answers_only(values)
    session.flush()
    return draft


# Form fields that are not answers: the CSRF token the pages post (asgi-csrf's field name). A
# token stored in a draft would outlive the page and sit in the database.
NOT_ANSWERS = frozenset({"csrftoken"})


def _answers_only(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in sorted(values.items()) if k not in NOT_ANSWERS}


def draft_values(draft: Assessment | None) -> dict[str, Any]:
    """The saved form (a token saved by an older version is dropped)."""
    return _answers_only(dict(draft.form or {})) if draft is not None else {}


# ---- rule-set dry run ----------------------------------------------------------------------
def _ranked(result: Result) -> list[str]:
    return [f"{i.axis}/{i.technique}" for i in result.items]


def dry_run(session: Session, caller: Caller, candidate: RuleSet) -> DryRunOut:
    """How each submitted assessment's ranking would change under ``candidate``: both rule sets
    run on the facts stored with its latest recommendation, under the current matrix."""
    row, current = rulesets.current(session, caller.org_id)
    repo = AssessmentRepository(session, caller.org_id)
    changes = []
    assessments = repo.submitted()
    latest_of = repo.latest_recommendations([a.id for a in assessments])
    for a in assessments:
        latest = latest_of.get(a.id)
        if latest is None:
            continue
        dep = deployments.get(session, caller, a.deployment_id)
        stored = latest.facts
        capacity = stored.get("ctx.governance_capacity")
        ctx, _ = _engine_context(session, caller.org_id, stored, dep.profile, capacity)
        before, after = _ranked(run(current, ctx)), _ranked(run(candidate, ctx))
        if before != after:
            changes.append(
                DryRunChange(
                    assessment_id=a.id,
                    deployment=dep.name,
                    before=before,
                    after=after,
                    top_changed=before[:1] != after[:1],
                    added=[x for x in after if x not in before],
                    removed=[x for x in before if x not in after],
                )
            )
    return DryRunOut(
        current_version=row.version,
        assessments=len(assessments),
        changed=len(changes),
        changes=changes,
    )


@dataclass(frozen=True, slots=True)
class Moved:
    """An item kept by a rerun whose rank or score moved: (before, after) of each."""

    item: str
    rank: tuple[int, int]
    score: tuple[float, float]


@dataclass(frozen=True, slots=True)
class RerunChanges:
    versions: dict[str, tuple[Any, Any]]
    """Name (matrix, rules, estimator) -> (before, after), for those that changed."""
    added: list[str]
    removed: list[str]
    moved: list[Moved]
    facts: list[str]
    """The facts whose value changed."""
    unchanged: bool


def changes(previous: Recommendation, current: Recommendation) -> RerunChanges:
    """What a rerun changed: versions, items added or removed, rank and score moves."""

    def keyed(rec: Recommendation) -> dict[str, dict[str, Any]]:
        return {f"{i['axis']}/{i['technique']}": i for i in rec.result["items"]}

    old, new = keyed(previous), keyed(current)
    versions = {
        name: (getattr(previous, attr), getattr(current, attr))
        for name, attr in (
            ("matrix", "matrix_version"),
            ("rules", "rules_version"),
            ("estimator", "estimator_version"),
        )
        if getattr(previous, attr) != getattr(current, attr)
    }
    moved = [
        Moved(k, (old[k]["rank"], new[k]["rank"]), (old[k]["score"], new[k]["score"]))
        for k in new
        if k in old and (old[k]["rank"], old[k]["score"]) != (new[k]["rank"], new[k]["score"])
    ]
    return RerunChanges(
        versions=versions,
        added=[k for k in new if k not in old],
        removed=[k for k in old if k not in new],
        moved=moved,
        facts=sorted(
            k
            for k in set(previous.facts) | set(current.facts)
            if previous.facts.get(k) != current.facts.get(k)
        ),
        unchanged=not versions and old == new,
    )
