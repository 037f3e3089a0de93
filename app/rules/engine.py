"""The rules engine: answers and context in, ranked and explained axis recommendations out (pure).

A rule set is data (``app/rules/data/ruleset.yaml``): each rule has an ``id``, a ``when``
condition (:mod:`app.rules.conditions`) and ``then`` effects:

* ``recommend: {failure_mode, axis, technique, outcome?}`` — an item for that failure mode
  (``outcome``: the item's expected outcome when it is not the failure mode's own, as for a
  serving item that makes room for a reasoning fix);
* ``gate: {axis, reason}`` — that axis ranks first and every other item waits on it (the seed:
  serving economics "must be addressed before any other axis investment");
* ``order: {first, then, reason}`` — when both axes are recommended, ``first`` ranks above
  ``then`` whatever the scores (the conclusion's "address X before evaluating Y" sentences);
* ``warn: {axis, message}`` — a warning on the axis's item (or the whole result);
* ``govern: {axis, burden, controls}`` — extra governance burden and controls on an axis.

Scoring (each factor shown in the item's breakdown)::

    score = 100 · severity/4 · (0.5 + 0.5·traffic_share) · (1 + 0.25·segment_risk) · fit/5

where a failure mode without an answered ``traffic_share`` scores with share 0 (reach 0.5, the
floor; its card is still priced on every request, :mod:`app.assessments.service`) and ``fit`` is
the profile's suitability of the axis from the axis matrix (Fig. 2 of seed 000:
profiles change the ranking through the matrix, not by exceptions). Items of one axis and
technique merge (highest score, every rule and reason kept). Governance burden per axis is
``6 − governance level`` of the matrix plus the ``govern`` effects, summed over the recommended
axes and compared with the organisation's capacity. Deterministic: same inputs, same output.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from app.rules.conditions import ConditionError, Fact, evaluate, facts_used, validate
from app.rules.matrix import Matrix, suitability
from app.rules.questionnaire import is_known_fact

EFFECTS = ("recommend", "gate", "order", "warn", "govern")
SEVERITY_MAX = 4
RISK_STEP = 0.25


class RuleSetError(ValueError):
    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path


@dataclass(frozen=True, slots=True)
class Recommend:
    """An item for ``failure_mode`` on ``axis`` by ``technique`` (``outcome``: the item's expected
    outcome when it is not the failure mode's own)."""

    failure_mode: str
    axis: str
    technique: str
    outcome: str | None = None


@dataclass(frozen=True, slots=True)
class Gate:
    """``axis`` ranks first and every other item waits on it."""

    axis: str
    reason: str


@dataclass(frozen=True, slots=True)
class Order:
    """When both axes are recommended, ``first`` ranks above ``then`` whatever the scores."""

    first: str
    then: str
    reason: str


@dataclass(frozen=True, slots=True)
class Warn:
    """A warning on the axis's item, or on the whole result when ``axis`` is None."""

    message: str
    axis: str | None = None


@dataclass(frozen=True, slots=True)
class Govern:
    """Extra governance burden and controls on an axis."""

    axis: str
    burden: int
    controls: tuple[str, ...] = ()


Effect = Recommend | Gate | Order | Warn | Govern


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    description: str
    when: Mapping[str, Any]
    effects: tuple[Effect, ...]
    """The ``then`` effects, parsed once, in :data:`EFFECTS` order."""
    source: str = ""


@dataclass(frozen=True, slots=True)
class RuleSet:
    version: int
    rules: tuple[Rule, ...]

    def without(self, rule_id: str) -> RuleSet:
        return RuleSet(self.version, tuple(r for r in self.rules if r.id != rule_id))


def _require(d: Mapping[str, Any], key: str, kind: type | tuple[type, ...], path: str) -> Any:
    if key not in d:
        raise RuleSetError(f"{path}.{key}", "is required")
    if not isinstance(d[key], kind) or isinstance(d[key], bool) and kind is not bool:
        raise RuleSetError(f"{path}.{key}", f"has the wrong type ({type(d[key]).__name__})")
    return d[key]


def parse_ruleset(
    data: Any, *, axes: Sequence[str], techniques: Mapping[str, str], failure_modes: Sequence[str]
) -> RuleSet:
    """Validate a loaded YAML document against the schema and the catalog; every error names its
    path (``rules[3].then.recommend.technique``)."""
    if not isinstance(data, Mapping):
        raise RuleSetError("$", "a rule set is a mapping with version and rules")
    version = _require(data, "version", int, "$")
    rules_raw = _require(data, "rules", list, "$")
    catalog = _Catalog(axes, techniques, failure_modes)
    seen: set[str] = set()
    rules = tuple(_parse_rule(raw, f"rules[{i}]", catalog, seen) for i, raw in enumerate(rules_raw))
    return RuleSet(version, rules)


@dataclass(frozen=True, slots=True)
class _Catalog:
    axes: Sequence[str]
    techniques: Mapping[str, str]
    failure_modes: Sequence[str]


def _parse_rule(raw: Any, path: str, catalog: _Catalog, seen: set[str]) -> Rule:
    """One rule, validated; ``seen`` (the ids so far) gains its id."""
    if not isinstance(raw, Mapping):
        raise RuleSetError(path, "a rule is a mapping")
    extra = set(raw) - {"id", "description", "when", "then", "source"}
    if extra:
        raise RuleSetError(path, f"unknown keys {sorted(extra)}")
    rid = _require(raw, "id", str, path)
    if rid in seen:
        raise RuleSetError(f"{path}.id", f"duplicate rule id '{rid}'")
    seen.add(rid)
    try:
        validate(raw.get("when"), f"{path}.when")
    except ConditionError as exc:
        raise RuleSetError(exc.path, str(exc).split(": ", 1)[1]) from None
    for fact in facts_used(raw["when"]):
        if not is_known_fact(fact, catalog.failure_modes):
            raise RuleSetError(f"{path}.when", f"unknown fact '{fact}'")
    then = _require(raw, "then", Mapping, path)
    if not then or set(then) - set(EFFECTS):
        raise RuleSetError(f"{path}.then", f"effects are {', '.join(EFFECTS)}")
    parsed = {
        effect: _parse_effect(effect, body, f"{path}.then.{effect}", catalog)
        for effect, body in then.items()
    }
    effects = tuple(parsed[e] for e in EFFECTS if e in parsed)
    description, source = str(raw.get("description", "")), str(raw.get("source", ""))
    return Rule(rid, description, raw["when"], effects, source)


def _parse_effect(effect: str, body: Any, epath: str, catalog: _Catalog) -> Effect:
    if not isinstance(body, Mapping):
        raise RuleSetError(epath, "must be a mapping")
    if effect == "order":
        for key in ("first", "then"):
            if body.get(key) not in catalog.axes:
                raise RuleSetError(f"{epath}.{key}", f"unknown axis '{body.get(key)}'")
        return Order(body["first"], body["then"], _require(body, "reason", str, epath))
    axis = body.get("axis")
    if (effect != "warn" or axis is not None) and axis not in catalog.axes:
        raise RuleSetError(f"{epath}.axis", f"unknown axis '{axis}'")
    if effect == "warn":
        return Warn(_require(body, "message", str, epath), axis)
    axis = str(axis)  # a known axis from here on
    if effect == "recommend":
        return _parse_recommend(body, axis, epath, catalog)
    if effect == "gate":
        return Gate(axis, _require(body, "reason", str, epath))
    burden = _require(body, "burden", int, epath)
    if not 0 <= burden <= 10:
        raise RuleSetError(f"{epath}.burden", "must be 0-10")
    controls = body.get("controls", [])
    if not isinstance(controls, list) or not all(isinstance(c, str) for c in controls):
        raise RuleSetError(f"{epath}.controls", "must be a list of strings")
    return Govern(axis, burden, tuple(controls))


def _parse_recommend(
    body: Mapping[str, Any], axis: str, epath: str, catalog: _Catalog
) -> Recommend:
    tech = _require(body, "technique", str, epath)
    if catalog.techniques.get(tech) != axis:
        raise RuleSetError(f"{epath}.technique", f"'{tech}' is not a technique of axis '{axis}'")
    fm = _require(body, "failure_mode", str, epath)
    if fm not in catalog.failure_modes:
        raise RuleSetError(f"{epath}.failure_mode", f"unknown failure mode '{fm}'")
    outcome = _require(body, "outcome", str, epath) if "outcome" in body else None
    return Recommend(fm, axis, tech, outcome)


# ---- evaluation ----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class FailureModeInfo:
    key: str
    name: str
    expected_outcome: str
    citation: str


@dataclass(frozen=True, slots=True)
class Context:
    facts: Mapping[str, Fact]
    matrix: Matrix
    profile_weights: Mapping[str, float]
    failure_modes: Mapping[str, FailureModeInfo]
    technique_citations: Mapping[str, str]
    technique_names: Mapping[str, str]
    impacts: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    impact_assumptions: Mapping[str, Sequence[str]] = field(default_factory=dict)
    governance_capacity: int | None = None
    axis_names: Mapping[str, str] = field(default_factory=dict)

    def axis_name(self, axis: str) -> str:
        return self.axis_names.get(axis) or axis.replace("_", " ")


@dataclass(slots=True)
class Item:
    axis: str
    technique: str
    technique_name: str
    score: float
    breakdown: dict[str, float]
    failure_modes: list[str]
    expected_outcome: str
    rationale: list[str]
    rules_fired: list[dict[str, Any]]
    impact: dict[str, Any]
    impact_assumptions: list[str]
    warnings: list[str]
    citations: list[str]
    governance_burden: int
    controls: list[str]
    waiting_on: str | None = None
    rank: int = 0
    alternatives: list[dict[str, Any]] = field(default_factory=list)
    """Other techniques priced for the same failure modes, each with why it was not chosen."""


@dataclass(frozen=True, slots=True)
class Result:
    items: list[Item]
    governance_burden: int
    governance_capacity: int | None
    notes: list[str]
    warnings: list[str]
    rules_fired: list[str]
    no_intervention: bool
    plan: dict[str, Any] | None = None
    """What all the items together do to the deployment (one portfolio evaluation), when
    priced."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "items": [{k: getattr(i, k) for k in Item.__slots__} for i in self.items],
            "governance_burden": self.governance_burden,
            "governance_capacity": self.governance_capacity,
            "notes": self.notes,
            "warnings": self.warnings,
            "rules_fired": self.rules_fired,
            "no_intervention": self.no_intervention,
            "plan": self.plan,
        }


def _num(facts: Mapping[str, Fact], name: str, default: float) -> float:
    v = facts.get(name, default)
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else default


def _score(ctx: Context, fm: str, axis: str) -> tuple[float, dict[str, float]]:
    f = ctx.facts
    severity = _num(f, f"fm.{fm}.severity", 0)
    share = min(max(_num(f, f"fm.{fm}.traffic_share", 0), 0.0), 1.0)
    risk = _num(f, f"fm.{fm}.segment_risk", 0)
    fit = suitability(ctx.matrix[axis], ctx.profile_weights)
    parts = {
        "severity": round(severity / SEVERITY_MAX, 4),
        "reach": round(0.5 + 0.5 * share, 4),
        "segment_risk": round(1 + RISK_STEP * risk, 4),
        "profile_fit": round(fit / 5, 4),
    }
    score = 100.0
    for v in parts.values():
        score *= v
    return round(score, 2), parts


def _why(rule: Rule, facts: Mapping[str, Fact]) -> dict[str, Any]:
    used = sorted(set(facts_used(rule.when)))
    return {
        "rule": rule.id,
        "description": rule.description,
        "source": rule.source,
        "facts": {k: facts.get(k) for k in used},
    }


def _money(v: Fact | None) -> str:
    return f"${float(v):,.0f}" if isinstance(v, int | float) and not isinstance(v, bool) else "?"


def _slo_misses(facts: Mapping[str, Fact]) -> list[str]:
    out = []
    for name, label in (("ttft", "TTFT p95"), ("tpot", "TPOT p95")):
        v, slo = facts.get(f"ctx.{name}_ms"), facts.get(f"ctx.{name}_slo_ms")
        if isinstance(v, int | float) and isinstance(slo, int | float) and v > slo:
            out.append(f"{label} misses its SLO: {float(v):,.1f} ms vs {float(slo):,.0f} ms")
    return out or ["a latency SLO is missed"]


def _leaf_reason(cond: Mapping[str, Any], ctx: Context) -> list[str]:
    """What a true leaf condition says about the deployment, in words."""
    f, name = ctx.facts, str(cond["fact"])
    value = f.get(name)
    if name.startswith("fm.") and name.endswith(".severity") and value:
        fm = name.split(".")[1]
        info = ctx.failure_modes.get(fm)
        label = info.name if info is not None else fm.replace("_", " ")
        return [f"“{label}” reported as a failure (severity {value})"]
    if name == "ctx.cost_over_budget" and value is True:
        cost, budget = f.get("ctx.monthly_cost_usd"), f.get("ctx.monthly_budget_usd")
        return [f"over the monthly budget: {_money(cost)} vs {_money(budget)}"]
    if name == "ctx.slo_missed" and value is True:
        return _slo_misses(f)
    if name == "ctx.latency_headroom" and isinstance(value, int | float):
        return [f"latency headroom {float(value):.0%} of the tighter SLO"]
    return [f"{name} = {value}"]


def triggers(cond: Mapping[str, Any], ctx: Context) -> list[str]:
    """The true parts of a fired rule's condition, described (a ``not`` is not a reason)."""
    if "all" in cond or "any" in cond:
        parts = cond.get("all") or cond.get("any") or []
        out: list[str] = []
        for c in parts:
            if evaluate(c, ctx.facts):
                out.extend(r for r in triggers(c, ctx) if r not in out)
        return out
    if "not" in cond:
        return []
    return _leaf_reason(cond, ctx) if evaluate(cond, ctx.facts) else []


def _place_before(items: list[Item], first: str, after: str) -> list[Item]:
    """Move the ``first`` axis's items just above the highest-ranked ``after`` item, if below."""
    firsts = [i for i in items if i.axis == first]
    afters = [k for k, i in enumerate(items) if i.axis == after]
    if not firsts or not afters or items.index(firsts[0]) < afters[0]:
        return items
    rest = [i for i in items if i.axis != first]
    pos = rest.index(items[afters[0]])
    return rest[:pos] + firsts + rest[pos:]


@dataclass(slots=True)
class _Effects:
    """What the fired rules' effects add up to, before ranking."""

    items: dict[tuple[str, str], Item] = field(default_factory=dict)
    gates: list[tuple[str, str, Rule]] = field(default_factory=list)
    """(axis, reason with what holds, rule) per gate effect, in rule order."""
    orders: list[tuple[Order, Rule]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    axis_warnings: dict[str, list[str]] = field(default_factory=dict)
    govern: dict[str, tuple[int, list[str]]] = field(default_factory=dict)

    def gate_axes(self) -> list[str]:
        return list(dict.fromkeys(axis for axis, _reason, _rule in self.gates))


def _recommend(acc: _Effects, rec: Recommend, rule: Rule, ctx: Context) -> None:
    axis, tech, fm = rec.axis, rec.technique, rec.failure_mode
    score, parts = _score(ctx, fm, axis)
    info = ctx.failure_modes[fm]
    item = acc.items.get((axis, tech))
    if item is None:
        item = Item(
            axis=axis,
            technique=tech,
            technique_name=ctx.technique_names.get(tech, tech),
            score=score,
            breakdown=parts,
            failure_modes=[fm],
            expected_outcome=str(rec.outcome or info.expected_outcome),
            rationale=[],
            rules_fired=[],
            impact=dict(ctx.impacts.get(tech, {})),
            impact_assumptions=list(ctx.impact_assumptions.get(tech, ())),
            warnings=[],
            citations=[],
            governance_burden=0,
            controls=[],
        )
        acc.items[(axis, tech)] = item
    elif fm not in item.failure_modes:
        item.failure_modes.append(fm)
    if score > item.score:
        item.score, item.breakdown = score, parts
    item.rationale.append(f"{info.name}: {rule.description}")
    item.rules_fired.append(_why(rule, ctx.facts))
    for c in (info.citation, ctx.technique_citations.get(tech, "")):
        if c and c not in item.citations:
            item.citations.append(c)


def _gate(acc: _Effects, gate: Gate, rule: Rule, ctx: Context) -> None:
    # the reason says what actually holds (review finding 2), then the rule's reason
    because = "; ".join(triggers(rule.when, ctx))
    acc.gates.append((gate.axis, f"{because}. {gate.reason}" if because else gate.reason, rule))


def _warn(acc: _Effects, warn: Warn) -> None:
    if warn.axis:
        acc.axis_warnings.setdefault(warn.axis, []).append(warn.message)
    else:
        acc.warnings.append(warn.message)


def _govern(acc: _Effects, gov: Govern) -> None:
    burden, controls = acc.govern.get(gov.axis, (0, []))
    new = [c for c in gov.controls if c not in controls]
    acc.govern[gov.axis] = (burden + gov.burden, controls + new)


def _apply(acc: _Effects, rule: Rule, ctx: Context) -> None:
    for effect in rule.effects:
        match effect:
            case Recommend():
                _recommend(acc, effect, rule, ctx)
            case Gate():
                _gate(acc, effect, rule, ctx)
            case Order():
                acc.orders.append((effect, rule))
            case Warn():
                _warn(acc, effect)
            case Govern():
                _govern(acc, effect)


def _no_failure(facts: Mapping[str, Fact]) -> bool:
    severities = [v for k, v in facts.items() if k.startswith("fm.") and k.endswith(".severity")]
    return not any(isinstance(s, int | float) and s > 0 for s in severities)


def _no_intervention(acc: _Effects, ctx: Context, fired: list[Rule]) -> Result:
    note = (
        "No failure mode has a severity above 0: no intervention is needed. Re-assess when "
        "production evaluation shows a failure."
    )
    if ctx.facts.get("ctx.cost_over_budget") is True or ctx.facts.get("ctx.slo_missed") is True:
        acc.warnings.append(
            "The serving figures put this deployment over its budget or outside its SLOs; "
            "if production confirms it, rate the serving-cost failure mode."
        )
    return Result([], 0, ctx.governance_capacity, [note], acc.warnings, [r.id for r in fired], True)


def _settle_items(acc: _Effects, ctx: Context) -> None:
    """Each item's axis warnings, governance burden and controls, and the gate it waits on."""
    gate_axes = acc.gate_axes()
    for item in acc.items.values():
        item.warnings.extend(acc.axis_warnings.get(item.axis, []))
        extra, controls = acc.govern.get(item.axis, (0, []))
        item.governance_burden = 6 - ctx.matrix[item.axis]["governance"] + extra
        item.controls = list(controls)
        item.impact["governance_burden"] = item.governance_burden
        if gate_axes and item.axis not in gate_axes:
            item.waiting_on = gate_axes[0]
    for axis, reason, rule in acc.gates:
        for item in acc.items.values():
            if item.axis == axis:
                item.rationale.insert(0, f"Precedence: {reason}")
                if _why(rule, ctx.facts) not in item.rules_fired:
                    item.rules_fired.append(_why(rule, ctx.facts))


def _rank(acc: _Effects, ctx: Context) -> tuple[list[Item], list[str]]:
    """Items by score, then the order effects, then the gates first; with the order notes."""
    ordered = sorted(acc.items.values(), key=lambda i: (-i.score, i.axis, i.technique))
    order_notes = []
    for order, rule in acc.orders:
        first, after = order.first, order.then
        ordered = _place_before(ordered, first, after)
        axes_present = {i.axis for i in ordered}
        if first in axes_present and after in axes_present:
            order_notes.append(
                f"{ctx.axis_name(first)} comes before {ctx.axis_name(after)}: {order.reason}"
            )
        for item in ordered:
            if item.axis == after and first in axes_present:
                item.rationale.append(f"After {ctx.axis_name(first)}: {order.reason}")
                item.rules_fired.append(_why(rule, ctx.facts))
    gate_axes = acc.gate_axes()
    ordered.sort(key=lambda i: i.axis not in gate_axes)  # stable: gates first, order kept
    for n, item in enumerate(ordered, start=1):
        item.rank = n
    return ordered, order_notes


def run(rules: RuleSet, ctx: Context) -> Result:
    fired = [r for r in rules.rules if evaluate(r.when, ctx.facts)]
    acc = _Effects()
    for rule in fired:
        _apply(acc, rule, ctx)
    if _no_failure(ctx.facts):
        return _no_intervention(acc, ctx, fired)
    _settle_items(acc, ctx)
    ordered, order_notes = _rank(acc, ctx)
    burden = sum({i.axis: i.governance_burden for i in ordered}.values())
    notes = []
    gate_axes = acc.gate_axes()
    if gate_axes:
        notes.append(f"Every other item waits on {ctx.axis_name(gate_axes[0])}: " + acc.gates[0][1])
    notes.extend(order_notes)
    cap = ctx.governance_capacity
    if cap is not None and burden > cap:
        acc.warnings.append(
            f"The recommended axes carry a governance burden of {burden}, above the stated "
            f"capacity of {cap}: stage them, or add review capacity first."
        )
    return Result(ordered, burden, cap, notes, acc.warnings, [r.id for r in fired], False)
