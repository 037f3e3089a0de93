"""Governance use cases: decisions on recommendations and portfolios (segregation of duties,
overrides with reasons, every decision an audit event)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.assessments import service as assessments
from app.assessments.repository import AssessmentRepository
from app.audit import service as audit
from app.auth.context import Caller
from app.auth.permissions import Permission
from app.errors import Forbidden, InvalidInput, NotFound
from app.governance.models import Decision
from app.governance.schemas import DecisionIn
from app.portfolios import service as portfolios


def _record(session: Session, caller: Caller, d: Decision, *, audit_key: bytes) -> Decision:
    session.add(d)
    session.flush()
    audit.record(session, audit_key, actor=caller.actor, action="decision.record",
                 entity_type=d.target_type, entity_id=d.target_id,
                 after={"decision_id": d.id, **d.audit_dict()})  # fmt: skip
    return d


def decide_recommendation(
    session: Session, caller: Caller, recommendation_id: int, data: DecisionIn, *, audit_key: bytes
) -> Decision:
    caller.require(Permission.decision_make)
    rec = AssessmentRepository(session, caller.org_id).recommendation(recommendation_id)
    if rec is None:
        raise NotFound(f"recommendation {recommendation_id} not found")
    a = assessments.get(session, caller, rec.assessment_id)
    if a.created_by == caller.email:
        raise Forbidden("segregation of duties: the person who submitted the assessment cannot "
                        "decide on its recommendation")  # fmt: skip
    ranked = [f"{i['axis']}/{i['technique']}" for i in rec.result["items"]]
    axis_of = assessments.catalog(session).technique_axis
    for n, key in enumerate(data.adopted):
        axis, _, tech = key.partition("/")
        if axis_of.get(tech) != axis:
            raise InvalidInput(f"'{key}' is not an axis/technique of the catalog",
                               field=f"adopted[{n}]")  # fmt: skip
    overrides = bool(data.adopted) and data.adopted != ranked[: len(data.adopted)]
    if overrides and not data.override_reason:
        raise InvalidInput("adopting other items than the engine's ranking needs a reason",
                           field="override_reason")  # fmt: skip
    return _record(session, caller, Decision(
        org_id=caller.org_id, deployment_id=a.deployment_id, target_type="recommendation",
        target_id=rec.id, decision=data.decision, comment=data.comment,
        conditions=list(data.conditions), adopted=list(data.adopted),
        override_reason=data.override_reason if overrides else None, decided_by=caller.email,
    ), audit_key=audit_key)  # fmt: skip


def decide_portfolio(
    session: Session, caller: Caller, portfolio_id: int, data: DecisionIn, *, audit_key: bytes
) -> Decision:
    caller.require(Permission.decision_make)
    p = portfolios.get(session, caller, portfolio_id)
    if p.created_by == caller.email:
        raise Forbidden("segregation of duties: the portfolio's author cannot decide on it")
    if data.adopted or data.override_reason:
        raise InvalidInput("a portfolio is decided as a whole; edit it to change its items",
                           field="adopted")  # fmt: skip
    return _record(session, caller, Decision(
        org_id=caller.org_id, deployment_id=p.deployment_id, target_type="portfolio",
        target_id=p.id, decision=data.decision, comment=data.comment,
        conditions=list(data.conditions), adopted=[], override_reason=None,
        decided_by=caller.email,
    ), audit_key=audit_key)  # fmt: skip


def decisions(
    session: Session, caller: Caller, *, target_type: str | None = None,
    target_id: int | None = None, deployment_id: int | None = None,
) -> Sequence[Decision]:  # fmt: skip
    stmt = select(Decision).where(Decision.org_id == caller.org_id)
    if target_type is not None:
        stmt = stmt.where(Decision.target_type == target_type)
    if target_id is not None:
        stmt = stmt.where(Decision.target_id == target_id)
    if deployment_id is not None:
        stmt = stmt.where(Decision.deployment_id == deployment_id)
    return session.execute(stmt.order_by(Decision.id)).scalars().all()
