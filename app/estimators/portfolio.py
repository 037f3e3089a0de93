"""Axis portfolios: evaluate a set of interventions on a deployment as a whole, and compare (pure).

Evaluation chains every item's interventions (:func:`app.estimators.techniques.plan`) in the
canonical order of :func:`app.estimators.interventions.apply_all` — model-changing options first,
serving-layer options last, so serving changes apply to the model the others produce — then:

* money, replicas, latency and SLOs from :func:`app.estimators.card_economics.price_change`,
  the same computation as a recommendation card (``economics``): monthly cost from the GPU-hours
  actually needed (fractional) at the SLO-limited rate of the static estimator, replicas sized
  for the peak, p95 TTFT/TPOT from the load simulation of one replica at its share of the peak
  (retrieval latency on TTFT, speculative and unmerged-adapter factors on TPOT), ``ttft_ms_p95``
  the first generated token's, ``time_to_answer_ms_p95`` the answer's (reasoning tokens × TPOT
  added; with k samples the slowest of k);
  share-limited items (reasoning compute on the failure's share) served through a router;
  one-off costs summed by kind (GPU, labelling, preference data, embedding and index,
  evaluation);
* dimension scores: the mean matrix level (1-5, 5 most favourable) of the portfolio's axes on each
  dimension (Table 1 of seed 000); capability score = the capability mean; profile suitability =
  the profiles' weighted means of those scores (Fig. 2); governance burden accumulates over the
  axes as 6 − governance level each (seed 000 §6: "governance burden accumulates across axes"),
  plus :data:`REGULATED_RETRIEVAL_BURDEN` for retrieval on PII or regulated data;
* risks: the OWASP LLM Top 10 (2025) and NIST AI 600-1 entries each axis brings in
  (reference/governance.md §7.4, an editorial mapping) and interaction warnings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from app.estimators.architecture import Architecture
from app.estimators.card_economics import LOAD_REQUESTS, price_change
from app.estimators.errors import FieldError
from app.estimators.interventions import (
    Intervention,
    Scenario,
)
from app.estimators.techniques import plan, split_plan
from app.formatting import number

DIMENSIONS = ("capability", "cost", "latency", "governance")
REGULATED_RETRIEVAL_BURDEN = 2  # the rule set's govern effect for the same case (seed 000 §6)
SECONDS_PER_DAY = 86400.0
PII_RETRIEVAL = "retrieval on PII or regulated data"
RULE_CONTROLS = "the rule set's controls on the recommendation"
LOW_HEADROOM = 0.3  # latency headroom below which reasoning-time compute warns (rule set)


class PortfolioError(FieldError):
    pass


@dataclass(frozen=True, slots=True)
class Item:
    axis: str
    technique: str
    params: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AxisData:
    """What the evaluation reads from the catalog: the matrix, profile weights, the risks each
    axis brings in, which techniques belong to which axis, and the models a swap may pick."""

    matrix: Mapping[str, Mapping[str, int]]
    profiles: Mapping[str, Mapping[str, float]]
    risks: Mapping[str, Sequence[str]]
    technique_axis: Mapping[str, str]
    models: Mapping[str, Architecture] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PortfolioEvaluation:
    monthly_cost_usd: float | None
    one_off_cost_usd: float | None
    ttft_ms_p95: float | None
    tpot_ms_p95: float | None
    meets_slo: bool
    capability_score: float | None
    governance_burden: int
    dimension_scores: dict[str, float | None]
    profile_suitability: dict[str, float | None]
    risks: list[str]
    warnings: list[str]
    assumptions: dict[str, list[str]]
    replicas: int | None
    gpus_per_replica: int
    fits: bool
    governance_parts: dict[str, int] = field(default_factory=dict)
    """Where the governance burden comes from: each axis, and retrieval on regulated data."""
    economics: dict[str, Any] = field(default_factory=dict)
    """The card figures of :func:`app.estimators.card_economics.price_change` (before/after)."""
    time_to_answer_ms_p95: float | None = None
    """TTFT + reasoning tokens x TPOT (with k samples the slowest of k): the user's wait for the
    answer's first token (``ttft_ms_p95`` is the first generated token's)."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_items(items: Sequence[Item], data: AxisData) -> None:
    """Each item's technique belongs to its axis; no technique twice."""
    seen: set[str] = set()
    for i, item in enumerate(items):
        axis = data.technique_axis.get(item.technique)
        if axis is None:
            raise PortfolioError(
                f"unknown technique '{item.technique}'", field=f"items[{i}].technique"
            )
        if axis != item.axis:
            raise PortfolioError(
                f"'{item.technique}' is a technique of {axis}, not of {item.axis}",
                field=f"items[{i}].axis",
            )
        if item.technique in seen:
            raise PortfolioError(f"'{item.technique}' appears twice", field=f"items[{i}].technique")
        seen.add(item.technique)


def _mean(values: Sequence[float]) -> float | None:
    return round(sum(values) / len(values), 3) if values else None


def evaluate_portfolio(
    base: Scenario,
    items: Sequence[Item],
    data: AxisData,
    *,
    regulated: bool = False,
    rule_burden: Mapping[str, int] | None = None,
    planner: bool = True,
) -> PortfolioEvaluation:
    """``rule_burden``: for a portfolio made from a recommendation, the burden the rule set's
    ``govern`` effects added to each axis there (retrieval on regulated data, alignment audits,
    reasoning verification, ...), replacing the regulated-retrieval estimate, so the portfolio's
    burden is the recommendation's: one sum, 6 − governance level + the rule set's extra, per
    axis. ``planner=False``: the portfolio search's screening figures (static SLO-limited rate,
    see :func:`app.estimators.card_economics.plan_stream`)."""
    check_items(items, data)
    whole: list[Intervention] = []
    limited: list[Intervention] = []
    share = 0.0
    assumptions: dict[str, list[str]] = {}
    warnings: list[str] = []
    for i, item in enumerate(items):
        try:
            p = plan(item.technique, base, params=item.params, models=data.models)
        except FieldError as exc:
            raise PortfolioError(str(exc), field=f"items[{i}].params.{exc.field}") from None
        if p is None:
            assumptions[item.technique] = ["no serving or training cost model: not priced"]
            continue
        w, lim, s = split_plan(p)
        whole.extend(w)
        limited.extend(lim)
        if lim:
            share = max(share, s)  # several share-limited items: the largest share (cautious)
        assumptions[item.technique] = list(p.assumptions)
    try:
        priced = price_change(base, whole, limited, share if limited else 1.0, planner=planner)
    except FieldError as exc:
        raise PortfolioError(str(exc), field=exc.field or "items") from None
    after, static = priced.after_scenario, priced.after
    if after.cfg.n_gpus != base.cfg.n_gpus:
        assumptions.setdefault("serving", []).append(
            f"{after.cfg.n_gpus} GPU{'s' if after.cfg.n_gpus != 1 else ''} per replica so the "
            "swapped-in model fits"
        )
    assumptions.setdefault("serving", []).extend(priced.assumptions)
    for o in priced.one_offs:
        hours = f": {number(o.gpu_hours)} GPU-hours" if o.gpu_hours else ""
        assumptions.setdefault("one-off", []).append(f"{o.label}{hours}")
    economics = priced.fields()
    one_off = economics["one_off_cost_usd"]
    ttft, answer = static.ttft_p95_ms, static.time_to_answer_p95_ms
    tpot = static.tpot_p95_ms
    if static.fits:
        if static.saturated:
            warnings.append("a replica saturates at its share of the traffic: queues grow")
        assumptions.setdefault("latency", []).append(
            f"p95 of {LOAD_REQUESTS} simulated requests (Poisson) per replica at the peak on "
            f"{static.replicas} replica(s); TTFT = to the first answer token (retrieval latency "
            "and reasoning tokens included; with k samples the slowest of k)"
        )
    else:
        warnings.append(f"does not fit: {static.reason}")
    meets = bool(static.fits and priced.meets_slo)

    axes = list(dict.fromkeys(i.axis for i in items))
    dims: dict[str, float | None] = {
        d: _mean([float(data.matrix[a][d]) for a in axes]) for d in DIMENSIONS
    }
    suitability: dict[str, float | None] = {}
    for name, weights in data.profiles.items():
        total = sum(weights[d] for d in DIMENSIONS)
        suitability[name] = (
            None
            if not axes
            else round(sum(weights[d] * (dims[d] or 0.0) for d in DIMENSIONS) / total, 3)
        )
    burden_parts = {a: 6 - data.matrix[a]["governance"] for a in axes}
    if rule_burden is not None:
        for a in axes:
            if rule_burden.get(a, 0) > 0:
                burden_parts[f"{a}: {RULE_CONTROLS}"] = rule_burden[a]
    elif regulated and "retrieval" in axes:
        burden_parts[PII_RETRIEVAL] = REGULATED_RETRIEVAL_BURDEN
    if regulated and "retrieval" in axes:
        warnings.append(
            "retrieval over PII or regulated data: provenance tracking, PII redaction "
            "and access control on retrieved passages are part of this portfolio"
        )
    risks = list(dict.fromkeys(r for a in axes for r in data.risks.get(a, ())))
    headroom = None
    if answer is not None and tpot is not None:  # the answer waits on the TTFT SLO
        headroom = 1 - max(answer / base.ttft_slo_ms, tpot / base.tpot_slo_ms)
    if "reasoning_compute" in axes and headroom is not None and headroom < LOW_HEADROOM:
        warnings.append(
            "reasoning-time compute with little latency headroom: optimise serving "
            "first or keep it to the hard-task segment"
        )
    if "dense_pretraining" in axes and "serving_optimization" not in axes:
        warnings.append(
            "a larger base model without serving optimisation: every request costs "
            "more; address serving first (seed 000 §7)"
        )
    if static.fits and not meets:
        words = {"ttft_ok": "TTFT", "tpot_ok": "TPOT", "time_to_answer_ok": "time-to-answer"}
        missed = [words[k] for k, ok in priced.slo_after().items() if not ok]
        warnings.append(
            f"misses the {' and '.join(missed)} SLO{'s' if len(missed) > 1 else ''} at p95"
        )
    base_out = priced.before
    if (
        base_out.monthly_cost_usd is not None
        and static.monthly_cost_usd is not None
        and static.monthly_cost_usd > base_out.monthly_cost_usd
    ):
        warnings.append(
            f"raises the monthly serving bill by "
            f"${static.monthly_cost_usd - base_out.monthly_cost_usd:,.0f}"
        )
    return PortfolioEvaluation(
        monthly_cost_usd=economics["monthly_cost_usd"]["after"],
        one_off_cost_usd=one_off,
        ttft_ms_p95=None if ttft is None else round(ttft, 3),
        time_to_answer_ms_p95=None if answer is None else round(answer, 3),
        tpot_ms_p95=None if tpot is None else round(tpot, 4),
        meets_slo=meets,
        capability_score=dims["capability"],
        governance_burden=sum(burden_parts.values()),
        dimension_scores=dims,
        profile_suitability=suitability,
        risks=risks,
        warnings=warnings,
        assumptions=assumptions,
        replicas=static.replicas,
        gpus_per_replica=after.cfg.n_gpus,
        fits=static.fits,
        governance_parts=burden_parts,
        economics=economics,
    )


# ---- comparison ----------------------------------------------------------------------------
LOWER = (
    "monthly_cost_usd",
    "one_off_cost_usd",
    "ttft_ms_p95",
    "tpot_ms_p95",
    "time_to_answer_ms_p95",
    "governance_burden",
)
HIGHER = ("capability_score",)


@dataclass(frozen=True, slots=True)
class Comparison:
    best: dict[str, Any]
    pareto_ids: list[Any]
    summary: list[str]


def _dominates(a: PortfolioEvaluation, b: PortfolioEvaluation) -> bool:
    """a is no worse on cost, time to answer p95 and capability, and better on one."""

    def key(e: PortfolioEvaluation) -> tuple[float, float, float]:
        inf = float("inf")
        return (
            e.monthly_cost_usd if e.monthly_cost_usd is not None else inf,
            e.time_to_answer_ms_p95 if e.time_to_answer_ms_p95 is not None else inf,
            -(e.capability_score or 0.0),
        )

    ka, kb = key(a), key(b)
    return all(x <= y for x, y in zip(ka, kb, strict=True)) and ka != kb


def compare(evals: Mapping[Any, PortfolioEvaluation], names: Mapping[Any, str]) -> Comparison:
    ids = list(evals)
    best: dict[str, Any] = {}
    for f in LOWER + HIGHER:
        vals = [(getattr(evals[i], f), i) for i in ids if getattr(evals[i], f) is not None]
        if vals:
            pick = (min if f in LOWER else max)(vals, key=lambda v: v[0])
            if sum(1 for v in vals if v[0] == pick[0]) < len(ids):  # a tie for all is no best
                best[f] = pick[1]
    for profile in next(iter(evals.values())).profile_suitability if evals else {}:
        vals = [
            (evals[i].profile_suitability[profile], i)
            for i in ids
            if evals[i].profile_suitability.get(profile) is not None
        ]
        if vals:
            best[f"profile_suitability.{profile}"] = max(vals, key=lambda v: v[0])[1]
    fits = [i for i in ids if evals[i].fits]
    pareto = [i for i in fits if not any(_dominates(evals[j], evals[i]) for j in fits if j != i)]
    return Comparison(best, pareto, _summaries(evals, names))


def _pct(new: float, old: float) -> str:
    return f"{abs(new - old) / old * 100:.0f} %"


def _money(v: float) -> str:
    return f"${v:,.0f}"


def cost_sentence(e: PortfolioEvaluation, ref: PortfolioEvaluation, rname: str) -> str | None:
    """The monthly cost row: cheaper, dearer, the same, or why it cannot be said."""
    if e.monthly_cost_usd is None or ref.monthly_cost_usd is None:
        return (
            None
            if e.monthly_cost_usd == ref.monthly_cost_usd
            else "has no monthly cost to compare (no GPU price or it does not fit)"
        )
    if e.monthly_cost_usd == ref.monthly_cost_usd:
        return f"costs the same per month as {rname}"
    word = "cheaper" if e.monthly_cost_usd < ref.monthly_cost_usd else "dearer"
    amount = _money(abs(e.monthly_cost_usd - ref.monthly_cost_usd))
    pct = f" ({_pct(e.monthly_cost_usd, ref.monthly_cost_usd)})" if ref.monthly_cost_usd else ""
    return f"is {amount}{pct} {word} per month than {rname}"


def one_off_sentence(e: PortfolioEvaluation, ref: PortfolioEvaluation, rname: str) -> str | None:
    """The one-off cost row: more or less up front than the reference, or not priced."""
    if e.one_off_cost_usd is None:
        return (
            None
            if ref.one_off_cost_usd is None
            else "has a one-off cost the estimators cannot price"
        )
    mine, theirs = e.one_off_cost_usd, ref.one_off_cost_usd
    if theirs is None or mine == theirs:
        return f"needs {_money(mine)} up front" if mine and theirs is None else None
    word = "more" if mine > theirs else "less"
    return f"needs {_money(abs(mine - theirs))} {word} up front than {rname} ({_money(mine)})"


def slo_sentence(e: PortfolioEvaluation) -> str:
    """The SLO row, with the reason when it does not fit."""
    if not e.fits:
        return "does not fit on its GPUs"
    return "meets the SLOs at p95" if e.meets_slo else "misses an SLO at p95"


def capability_sentence(e: PortfolioEvaluation, ref: PortfolioEvaluation, rname: str) -> str | None:
    mine, theirs = e.capability_score, ref.capability_score
    if mine == theirs:
        return None
    if mine is None:
        return "changes no axis, so has no capability rating"
    if theirs is None:
        return f"rates {mine:g} on capability ({rname} changes no axis)"
    word = "higher" if mine > theirs else "lower"
    return f"rates {word} on capability ({mine:g} vs {theirs:g})"


def governance_sentence(e: PortfolioEvaluation, ref: PortfolioEvaluation, rname: str) -> str | None:
    """The governance burden row, naming only the sources that differ from the reference."""
    diff = e.governance_burden - ref.governance_burden
    sources = sorted(set(e.governance_parts) | set(ref.governance_parts))
    changes = [(k, e.governance_parts.get(k, 0) - ref.governance_parts.get(k, 0)) for k in sources]
    named = [f"{'+' if d > 0 else '−'}{abs(d)} {k.replace('_', ' ')}" for k, d in changes if d]
    if not diff and not named:
        return None
    head = (
        f"{'adds' if diff > 0 else 'removes'} governance burden ({abs(diff)}: "
        f"{e.governance_burden} vs {ref.governance_burden})"
        if diff
        else f"has the same governance burden as {rname} ({e.governance_burden})"
    )
    return head + (f" from {', '.join(named)}" if named else "")


def _summaries(evals: Mapping[Any, PortfolioEvaluation], names: Mapping[Any, str]) -> list[str]:
    """One plain sentence per portfolio against the first one, each clause from a figure of the
    comparison table (monthly cost, one-off cost, SLOs, capability, governance burden)."""
    ids = list(evals)
    if len(ids) < 2:
        return []
    ref, rname, out = evals[ids[0]], names[ids[0]], []
    for i in ids[1:]:
        e = evals[i]
        parts = [
            cost_sentence(e, ref, rname),
            one_off_sentence(e, ref, rname),
            slo_sentence(e),
            capability_sentence(e, ref, rname),
            governance_sentence(e, ref, rname),
        ]
        out.append(f"{names[i]} " + ", ".join(p for p in parts if p) + ".")
    return out
