"""Portfolio use cases: validate items against the catalog and the estimators' parameter table,
store them with every parameter resolved, evaluate one or compare two to four (audited writes)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from functools import cache, lru_cache
from typing import Any

from sqlalchemy.orm import Session

from app import frameworks
from app.assessments import service as assessments
from app.audit import service as audit
from app.auth.context import Caller
from app.db import MAX_ID, utcnow
from app.deployments import service as deployments
from app.deployments.models import Deployment
from app.errors import Conflict, InvalidInput, NotFound
from app.estimates.service import deployment_scenario
from app.estimators.errors import FieldError, field_prefix
from app.estimators.interventions import Scenario
from app.estimators.portfolio import (
    AxisData,
    Item,
    PortfolioEvaluation,
    check_items,
    compare,
    evaluate_portfolio,
)
from app.estimators.techniques import plan, pricing_params, resolve_params
from app.portfolios import workflow
from app.portfolios.models import Portfolio
from app.portfolios.repository import PortfolioRepository
from app.portfolios.schemas import ItemIn, PortfolioCreate, PortfolioOut, PortfolioUpdate
from app.rules.questionnaire import REGULATED_FLAGS

MAX_COMPARE = 4


@cache
def axis_risks() -> dict[str, tuple[str, ...]]:
    """The risks each axis brings in, from the versioned framework mapping."""
    return {axis: frameworks.risk_labels(axis) for axis in frameworks.mapping()["axes"]}


def _axis_data(session: Session, org_id: int) -> AxisData:
    cat = assessments.catalog(session, org_id)
    return AxisData(
        matrix=cat.matrix,
        profiles=cat.profiles,
        risks=axis_risks(),
        technique_axis=cat.technique_axis,
        models=dict(cat.models),
    )


def _scenario(session: Session, dep: Deployment) -> Scenario:
    found = deployment_scenario(session, dep)
    if isinstance(found, str):
        raise InvalidInput(found, field="deployment_id")
    return found.scenario


def _resolve(session: Session, dep: Deployment, items: Sequence[ItemIn]) -> list[dict[str, Any]]:
    """Items with every parameter resolved; 422 naming ``items[i]...`` for anything wrong."""
    data = _axis_data(session, dep.org_id)
    scenario = _scenario(session, dep)
    check_items([Item(i.axis, i.technique) for i in items], data)
    out = []
    for i, item in enumerate(items):
        with field_prefix(f"items[{i}].params."):
            params = resolve_params(item.technique, item.params)
            plan(item.technique, scenario, params=params, models=data.models)
        out.append({"axis": item.axis, "technique": item.technique, "params": params})
    return out


def item_errors(session: Session, dep: Deployment, items: Sequence[ItemIn]) -> dict[str, str]:
    """Every item's parameter errors at once, ``items[i].params.<name>`` → message (the form shows
    them all rather than the first, then the next on resubmitting): each parameter checked on its
    own, then the item as a whole. :func:`_resolve` still refuses the first on saving."""
    data = _axis_data(session, dep.org_id)
    scenario = _scenario(session, dep)
    errors: dict[str, str] = {}
    for i, item in enumerate(items):
        mine: dict[str, str] = {}
        for name, value in item.params.items():  # each parameter on its own: all of them at once
            try:
                with field_prefix(f"items[{i}].params."):
                    resolve_params(item.technique, {name: value})
            except (FieldError, InvalidInput) as exc:
                mine.setdefault(exc.field or f"items[{i}]", exc.message)
        if not mine:  # then the whole set, and whether the estimators can plan it
            try:
                with field_prefix(f"items[{i}].params."):
                    params = resolve_params(item.technique, item.params)
                    plan(item.technique, scenario, params=params, models=data.models)
            except (FieldError, InvalidInput) as exc:
                mine[exc.field or f"items[{i}]"] = exc.message
        errors.update(mine)
    return errors


def _name_taken(
    session: Session, caller: Caller, dep_id: int, name: str, exclude: int | None = None
) -> bool:
    return PortfolioRepository(session, caller.org_id).name_taken(dep_id, name, exclude_id=exclude)


Snapshot = dict[str, Any] | None


def _audit(
    session: Session,
    caller: Caller,
    key: bytes,
    action: str,
    p: Portfolio,
    before: Snapshot = None,
    after: Snapshot = None,
) -> None:
    audit.record(
        session,
        key,
        actor=caller.actor,
        action=action,
        entity_type="portfolio",
        entity_id=p.id,
        before=before,
        after=after,
    )


def create(
    session: Session,
    caller: Caller,
    data: PortfolioCreate,
    *,
    audit_key: bytes,
    source_assessment_id: int | None = None,
    contributors: Sequence[str] = (),
) -> Portfolio:
    """``contributors``: authors of the content it copies (a duplicate's original), who may not
    decide on the copy either."""
    dep = deployments.get(session, caller, data.deployment_id)
    deployments.require_active(dep)
    if _name_taken(session, caller, dep.id, data.name):
        raise Conflict(f"this deployment already has a portfolio named '{data.name}'", field="name")
    p = Portfolio(
        org_id=caller.org_id,
        deployment_id=dep.id,
        name=data.name,
        items=_resolve(session, dep, data.items),
        created_by=caller.email,
        contributors=[caller.email, *contributors],
        source_assessment_id=source_assessment_id,
    )
    PortfolioRepository(session, caller.org_id).add(p)
    _audit(session, caller, audit_key, "portfolio.create", p, after=p.audit_dict())
    return p


def get(session: Session, caller: Caller, portfolio_id: int) -> Portfolio:
    p = PortfolioRepository(session, caller.org_id).get(portfolio_id)
    if p is None:
        raise NotFound(f"portfolio {portfolio_id} not found")
    return p


def list_(session: Session, caller: Caller, deployment_id: int | None = None) -> list[Portfolio]:
    if deployment_id is not None:
        deployments.get(session, caller, deployment_id)
    return PortfolioRepository(session, caller.org_id).list(deployment_id)


def update(
    session: Session, caller: Caller, portfolio_id: int, data: PortfolioUpdate, *, audit_key: bytes
) -> Portfolio:
    """Edit; the editor becomes a contributor, and a change of content voids the decisions in
    force (bound to the content's SHA-256) and returns the portfolio to draft."""
    p = get(session, caller, portfolio_id)
    dep = deployments.get(session, caller, p.deployment_id)
    deployments.require_active(dep)
    before = p.audit_dict()
    if data.name is not None and data.name != p.name:
        if _name_taken(session, caller, p.deployment_id, data.name, exclude=p.id):
            raise Conflict(
                f"this deployment already has a portfolio named '{data.name}'", field="name"
            )
        p.name = data.name
    if data.items is not None:
        p.items = _resolve(session, dep, data.items)
    if p.audit_dict() == before:
        return p
    workflow.add_contributor(p, caller.email)
    p.submitted_at, p.submitted_by = None, None
    session.flush()
    _audit(session, caller, audit_key, "portfolio.update", p, before=before, after=p.audit_dict())
    workflow.void_stale(
        session,
        caller,
        "portfolio",
        p.id,
        workflow.content_sha256(workflow.portfolio_content(p)),
        reason="the portfolio was edited after the decision",
        audit_key=audit_key,
    )
    return p


def submit(session: Session, caller: Caller, portfolio_id: int, *, audit_key: bytes) -> Portfolio:
    """Ask governance for a decision: the portfolio enters the queue; the submitter becomes a
    contributor (and so may not decide on it)."""
    p = get(session, caller, portfolio_id)
    deployments.require_active(deployments.get(session, caller, p.deployment_id))
    status = workflow.portfolio_statuses(session, caller.org_id, [p])[p.id]
    if status != "draft":
        raise Conflict(
            f"portfolio {p.id} is {status}; only a draft can be submitted (edit it "
            "to start a new version)",
            field="portfolio_id",
        )
    workflow.add_contributor(p, caller.email)
    p.submitted_at, p.submitted_by = utcnow(), caller.email
    session.flush()
    _audit(
        session,
        caller,
        audit_key,
        "portfolio.submit",
        p,
        after={
            **p.audit_dict(),
            "content_sha256": workflow.content_sha256(workflow.portfolio_content(p)),
        },
    )
    return p


def status_of(session: Session, caller: Caller, ps: Sequence[Portfolio]) -> dict[int, str]:
    return workflow.portfolio_statuses(session, caller.org_id, ps)


def out(session: Session, caller: Caller, ps: Sequence[Portfolio]) -> list[PortfolioOut]:
    """The API view: the row with its workflow status, contributors and content hash."""
    status = status_of(session, caller, ps)
    return [
        PortfolioOut.model_validate(p).model_copy(
            update={
                "status": status[p.id],
                "contributors": workflow.portfolio_contributors(p),
                "content_sha256": workflow.content_sha256(workflow.portfolio_content(p)),
            }
        )
        for p in ps
    ]


def delete(session: Session, caller: Caller, portfolio_id: int, *, audit_key: bytes) -> None:
    p = get(session, caller, portfolio_id)
    if workflow.decisions_by_target(session, caller.org_id, "portfolio", [p.id])[p.id]:
        raise Conflict(
            f"portfolio {p.id} has governance decisions, which are never deleted; "
            "it stays on record",
            field="portfolio_id",
        )
    _audit(session, caller, audit_key, "portfolio.delete", p, before=p.audit_dict())
    session.delete(p)
    session.flush()


def duplicate(
    session: Session, caller: Caller, portfolio_id: int, *, audit_key: bytes
) -> Portfolio:
    p = get(session, caller, portfolio_id)
    n, name = 2, f"{p.name} (copy)"
    while _name_taken(session, caller, p.deployment_id, name):
        name, n = f"{p.name} (copy {n})", n + 1
    items = [ItemIn.model_validate(i) for i in p.items]
    return create(
        session,
        caller,
        PortfolioCreate(deployment_id=p.deployment_id, name=name[:120], items=items),
        audit_key=audit_key,
        contributors=workflow.portfolio_contributors(p),
    )


def from_recommendation(
    session: Session,
    caller: Caller,
    assessment_id: int,
    *,
    audit_key: bytes,
    ranks: Sequence[int] | None = None,
) -> Portfolio:
    """A portfolio of the latest recommendation's items (only those whose rank is in ``ranks``
    when given), each with the parameters its card was priced with, so the portfolio costs what
    the cards said (the questionnaire's corpus size included)."""
    a = assessments.get(session, caller, assessment_id)
    rec = assessments.recommendations(session, caller, a.id)[-1]
    chosen = list(rec.result["items"])
    if ranks is not None:
        unknown = sorted(set(ranks) - {int(i["rank"]) for i in chosen})
        if unknown:
            raise InvalidInput(
                f"recommendation #{rec.id} has no item ranked {unknown[0]}", field="items"
            )
        chosen = [i for i in chosen if int(i["rank"]) in set(ranks)]
    if not chosen:
        raise InvalidInput("tick at least one recommended item", field="items")
    corpus = assessments.answered_corpus(ans.get("corpus_tokens") for ans in a.answers)
    # each card's own pricing parameters (corpus, traffic share); older snapshots: the corpus
    items = [
        ItemIn(
            axis=i["axis"],
            technique=i["technique"],
            params=(i.get("impact") or {}).get("params") or pricing_params(i["technique"], corpus),
        )
        for i in chosen
    ]
    name, n = f"Recommendation #{rec.id}", 2
    while _name_taken(session, caller, a.deployment_id, name):
        name, n = f"Recommendation #{rec.id} ({n})", n + 1
    return create(
        session,
        caller,
        PortfolioCreate(deployment_id=a.deployment_id, name=name, items=items),
        audit_key=audit_key,
        source_assessment_id=a.id,
    )


# ---- evaluation ----------------------------------------------------------------------------
def _items_of(p: Portfolio) -> list[Item]:
    return [Item(i["axis"], i["technique"], dict(i["params"])) for i in p.items]


@lru_cache(maxsize=256)
def _baseline(scenario: Scenario) -> PortfolioEvaluation:
    return evaluate_portfolio(scenario, [], AxisData({}, {}, {}, {}))


def _rule_burden(
    session: Session, caller: Caller, p: Portfolio, data: AxisData
) -> dict[str, int] | None:
    """For a portfolio made from a recommendation: the burden the rule set's ``govern`` effects
    added to each axis on its latest recommendation (the item's burden less 6 − the matrix's
    governance level), so the portfolio's burden is the recommendation's; None otherwise."""
    if p.source_assessment_id is None:
        return None
    recs = assessments.recommendations(session, caller, p.source_assessment_id)
    if not recs:
        return None
    out: dict[str, int] = {}
    for i in recs[-1].result.get("items", []):
        level = data.matrix.get(i["axis"], {}).get("governance")
        if level is not None and i.get("governance_burden") is not None:
            out[i["axis"]] = max(0, int(i["governance_burden"]) - (6 - int(level)))
    return out


def _evaluate(
    session: Session, caller: Caller, p: Portfolio
) -> tuple[PortfolioEvaluation, PortfolioEvaluation]:
    """The portfolio's evaluation and its deployment's baseline."""
    dep = deployments.get(session, caller, p.deployment_id)
    scenario = _scenario(session, dep)
    regulated = bool(REGULATED_FLAGS & set(dep.regulatory_flags))
    data = _axis_data(session, caller.org_id)
    ev = evaluate_portfolio(
        scenario,
        _items_of(p),
        data,
        regulated=regulated,
        rule_burden=_rule_burden(session, caller, p, data),
    )
    return ev, _baseline(scenario)


@dataclass(frozen=True, slots=True)
class PortfolioBaseline:
    """The deployment without the portfolio."""

    monthly_cost_usd: float | None
    ttft_ms_p95: float | None
    tpot_ms_p95: float | None
    time_to_answer_ms_p95: float | None


@dataclass(frozen=True, slots=True)
class EvaluatedPortfolio(PortfolioEvaluation):
    """A portfolio's evaluation (every figure of :class:`PortfolioEvaluation`), which portfolio it
    is, and its deployment's baseline."""

    portfolio_id: int = field(kw_only=True)
    baseline: PortfolioBaseline = field(kw_only=True)

    def as_json(self) -> dict[str, Any]:
        """The API's evaluation body (``EvaluationOut``) and the comparison export's rows: the
        portfolio id first, then the figures, then the baseline."""
        return {
            "portfolio_id": self.portfolio_id,
            **_figures(self).as_dict(),
            "baseline": asdict(self.baseline),
        }


def _figures(ev: PortfolioEvaluation) -> PortfolioEvaluation:
    """The evaluation's own figures (a subclass's extra fields left out)."""
    return PortfolioEvaluation(**{f.name: getattr(ev, f.name) for f in fields(PortfolioEvaluation)})


def _as_out(p: Portfolio, ev: PortfolioEvaluation, base: PortfolioEvaluation) -> EvaluatedPortfolio:
    baseline = PortfolioBaseline(
        monthly_cost_usd=base.monthly_cost_usd,
        ttft_ms_p95=base.ttft_ms_p95,
        tpot_ms_p95=base.tpot_ms_p95,
        time_to_answer_ms_p95=base.time_to_answer_ms_p95,
    )
    figures = {f.name: getattr(ev, f.name) for f in fields(PortfolioEvaluation)}
    return EvaluatedPortfolio(**figures, portfolio_id=p.id, baseline=baseline)


def evaluation(session: Session, caller: Caller, p: Portfolio) -> EvaluatedPortfolio:
    return _as_out(p, *_evaluate(session, caller, p))


def parse_ids(raw: str) -> list[int]:
    try:
        ids = [int(x) for x in raw.split(",") if x.strip()]
    except ValueError:
        raise InvalidInput("ids must be comma-separated portfolio ids", field="ids") from None
    if any(not 1 <= i <= MAX_ID for i in ids):
        raise InvalidInput("ids must be comma-separated portfolio ids", field="ids")
    ids = list(dict.fromkeys(ids))
    if not 2 <= len(ids) <= MAX_COMPARE:
        raise InvalidInput(f"compare 2 to {MAX_COMPARE} portfolios", field="ids")
    return ids


@dataclass(frozen=True, slots=True)
class PortfolioComparison:
    """Portfolios side by side: each one's evaluation, the best on each figure (figure -> id),
    the Pareto-efficient ids and the summary sentences."""

    ids: list[int]
    names: dict[int, str]
    evaluations: list[EvaluatedPortfolio]
    best: dict[str, Any]
    pareto_ids: list[int]
    summary: list[str]
    portfolios: list[Portfolio]

    def as_json(self) -> dict[str, Any]:
        """The API's comparison body (``CompareOut``) and the JSON export: every field but the
        portfolio rows, the evaluations as their JSON."""
        return {
            "ids": list(self.ids),
            "names": dict(self.names),
            "evaluations": [e.as_json() for e in self.evaluations],
            "best": dict(self.best),
            "pareto_ids": list(self.pareto_ids),
            "summary": list(self.summary),
        }


def comparison(session: Session, caller: Caller, ids: Sequence[int]) -> PortfolioComparison:
    portfolios = [get(session, caller, i) for i in ids]
    evaluated = {p.id: _evaluate(session, caller, p) for p in portfolios}
    names = {p.id: p.name for p in portfolios}
    cmp = compare({i: ev for i, (ev, _) in evaluated.items()}, names)
    return PortfolioComparison(
        ids=list(ids),
        names=names,
        evaluations=[_as_out(p, *evaluated[p.id]) for p in portfolios],
        best=cmp.best,
        pareto_ids=cmp.pareto_ids,
        summary=cmp.summary,
        portfolios=portfolios,
    )
