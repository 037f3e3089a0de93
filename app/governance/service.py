"""Governance use cases: decisions on recommendations and portfolios (segregation of duties,
overrides with reasons, every decision an audit event)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

from sqlalchemy.orm import Session

from app import frameworks
from app.assessments import service as assessments
from app.assessments.repository import AssessmentRepository
from app.audit import service as audit
from app.auth.context import Caller
from app.deployments import service as deployments
from app.errors import Conflict, Forbidden, InvalidInput, NotFound
from app.governance import workflow
from app.governance.models import Decision, SegmentEvaluation
from app.governance.regressions import Result, analyse
from app.governance.repository import GovernanceRepository
from app.governance.schemas import DecisionIn, EvaluationIn, EvaluationOut
from app.portfolios import service as portfolios


def _record(session: Session, caller: Caller, d: Decision, *, audit_key: bytes) -> Decision:
    session.add(d)
    session.flush()
    audit.record(
        session,
        audit_key,
        actor=caller.actor,
        action="decision.record",
        entity_type=d.target_type,
        entity_id=d.target_id,
        after={"decision_id": d.id, **d.audit_dict()},
    )
    return d


def decide_recommendation(
    session: Session, caller: Caller, recommendation_id: int, data: DecisionIn, *, audit_key: bytes
) -> Decision:
    repo = AssessmentRepository(session, caller.org_id)
    rec = repo.recommendation(recommendation_id)
    if rec is None:
        raise NotFound(f"recommendation {recommendation_id} not found")
    a = assessments.get(session, caller, rec.assessment_id)
    contributors = workflow.recommendation_contributors(rec, a, repo.recommendations(a.id))
    if caller.email in contributors:
        what = (
            "submitted the assessment"
            if caller.email == a.created_by
            else "re-ran the assessment (this or an earlier run)"
        )
        raise Forbidden(
            f"segregation of duties: you {what}; someone who did not contribute to "
            "this recommendation must decide on it"
        )
    deployments.require_active(deployments.get(session, caller, a.deployment_id))
    latest = repo.latest_recommendations([a.id])[a.id]
    if latest.id != rec.id:
        raise Conflict(
            f"recommendation {rec.id} was superseded by #{latest.id} (a re-run); "
            "decide on the latest one",
            field="recommendation_id",
        )
    status = workflow.recommendation_statuses(session, caller.org_id, [rec])[rec.id]
    if status != "submitted":  # decided: a new decision is on a re-run (app/governance/workflow)
        raise Conflict(
            f"recommendation {rec.id} is already {status}; re-run the assessment for a new "
            "recommendation to decide on",
            field="recommendation_id",
        )
    ranked = [f"{i['axis']}/{i['technique']}" for i in rec.result["items"]]
    axis_of = assessments.shared_catalog(session).technique_axis
    for n, key in enumerate(data.adopted):
        axis, _, tech = key.partition("/")
        if axis_of.get(tech) != axis:
            raise InvalidInput(
                f"'{key}' is not an axis/technique of the catalog", field=f"adopted[{n}]"
            )
    overrides = bool(data.adopted) and data.adopted != ranked[: len(data.adopted)]
    if overrides and not data.override_reason:
        raise InvalidInput(
            "adopting other items than the engine's ranking needs a reason", field="override_reason"
        )
    d = _record(
        session,
        caller,
        Decision(
            org_id=caller.org_id,
            deployment_id=a.deployment_id,
            target_type="recommendation",
            target_id=rec.id,
            decision=data.decision,
            comment=data.comment,
            conditions=list(data.conditions),
            adopted=list(data.adopted),
            override_reason=data.override_reason if overrides else None,
            decided_by=caller.email,
            content_sha256=workflow.content_sha256(workflow.recommendation_content(rec, a)),
        ),
        audit_key=audit_key,
    )
    workflow.notify(
        session,
        caller.org_id,
        contributors,
        kind="decision",
        message=f"Recommendation #{rec.id} (assessment #{a.id}) was {d.decision} by "
        f"{caller.email}: {d.comment}",
        link=f"/assessments/{a.id}?rec={rec.id}",
    )
    return d


def decide_portfolio(
    session: Session, caller: Caller, portfolio_id: int, data: DecisionIn, *, audit_key: bytes
) -> Decision:
    p = portfolios.get(session, caller, portfolio_id)
    contributors = workflow.portfolio_contributors(p)
    if caller.email in contributors:
        what = "wrote it" if caller.email == p.created_by else "edited or submitted it"
        raise Forbidden(
            f"segregation of duties: you {what}; someone who did not contribute to "
            "this portfolio must decide on it"
        )
    deployments.require_active(deployments.get(session, caller, p.deployment_id))
    status = workflow.portfolio_statuses(session, caller.org_id, [p])[p.id]
    if status != "submitted":  # only what awaits a decision is decided (app/governance/workflow)
        raise Conflict(
            f"portfolio {p.id} is a draft: its author submits it for approval first"
            if status == "draft"
            else f"portfolio {p.id} is already {status}; a new decision needs a new version "
            "(an edit, then submitted for approval again)",
            field="portfolio_id",
        )
    if data.adopted or data.override_reason:
        raise InvalidInput(
            "a portfolio is decided as a whole; edit it to change its items", field="adopted"
        )
    d = _record(
        session,
        caller,
        Decision(
            org_id=caller.org_id,
            deployment_id=p.deployment_id,
            target_type="portfolio",
            target_id=p.id,
            decision=data.decision,
            comment=data.comment,
            conditions=list(data.conditions),
            adopted=[],
            override_reason=None,
            decided_by=caller.email,
            content_sha256=workflow.content_sha256(workflow.portfolio_content(p)),
        ),
        audit_key=audit_key,
    )
    workflow.notify(
        session,
        caller.org_id,
        contributors,
        kind="decision",
        message=f"Portfolio '{p.name}' was {d.decision} by {caller.email}: {d.comment}",
        link=f"/portfolios/{p.id}",
    )
    return d


def decisions(
    session: Session,
    caller: Caller,
    *,
    target_type: str | None = None,
    target_id: int | None = None,
    deployment_id: int | None = None,
) -> Sequence[Decision]:
    # A target outside the caller's organisation does not exist for them (404, as everywhere).
    if target_type == "recommendation" and target_id is not None:
        if AssessmentRepository(session, caller.org_id).recommendation(target_id) is None:
            raise NotFound(f"recommendation {target_id} not found")
    elif target_type == "portfolio" and target_id is not None:
        portfolios.get(session, caller, target_id)
    return GovernanceRepository(session, caller.org_id).decisions(
        target_type=target_type, target_id=target_id, deployment_id=deployment_id
    )


# ---- disaggregated evaluations -------------------------------------------------------------
def record_evaluation(
    session: Session, caller: Caller, deployment_id: int, data: EvaluationIn, *, audit_key: bytes
) -> SegmentEvaluation:
    dep = deployments.get(session, caller, deployment_id)
    results = [
        Result(r.segment, r.metric, r.phase, r.value, r.higher_is_better) for r in data.results
    ]
    analysis = analyse(
        results, {s["name"]: s["risk"] for s in dep.segments}, tolerance=data.tolerance
    )
    ev = SegmentEvaluation(
        org_id=caller.org_id,
        deployment_id=dep.id,
        label=data.label,
        tolerance=data.tolerance,
        results=[r.model_dump() for r in data.results],
        analysis=analysis.as_dict(),
        created_by=caller.email,
    )
    session.add(ev)
    session.flush()
    audit.record(
        session,
        audit_key,
        actor=caller.actor,
        action="evaluation.record",
        entity_type="evaluation",
        entity_id=ev.id,
        after={
            "deployment_id": dep.id,
            "label": ev.label,
            "tolerance": ev.tolerance,
            "results": len(ev.results),
            "regressions": analysis.as_dict()["regressions"],
        },
    )
    return ev


def evaluations(
    session: Session, caller: Caller, deployment_id: int
) -> Sequence[SegmentEvaluation]:
    deployments.get(session, caller, deployment_id)
    return GovernanceRepository(session, caller.org_id).evaluations(deployment_id)


def get_evaluation(session: Session, caller: Caller, evaluation_id: int) -> SegmentEvaluation:
    ev = GovernanceRepository(session, caller.org_id).evaluation(evaluation_id)
    if ev is None:
        raise NotFound(f"evaluation {evaluation_id} not found")
    return ev


def evaluation_out(ev: SegmentEvaluation) -> EvaluationOut:
    return EvaluationOut.model_validate(
        {
            "id": ev.id,
            "deployment_id": ev.deployment_id,
            "label": ev.label,
            "tolerance": ev.tolerance,
            "results": ev.results,
            "regressions": ev.analysis["regressions"],
            "aggregate": ev.analysis["aggregate"],
            "created_by": ev.created_by,
            "created_at": ev.created_at,
        }
    )


# ---- risk picture --------------------------------------------------------------------------
def axes_of_deployment(session: Session, caller: Caller, deployment_id: int) -> dict[str, str]:
    """axis -> "adopted" (an approved decision covers it) or "recommended" (in the latest
    recommendation of a submitted assessment)."""
    out: dict[str, str] = {}
    repo = AssessmentRepository(session, caller.org_id)
    latest: dict[str, Decision] = {}
    for d in decisions(session, caller, deployment_id=deployment_id):
        if d.voided_at is None:  # a voided approval no longer covers anything
            latest[f"{d.target_type}/{d.target_id}"] = d  # later decisions supersede earlier ones
    ids = [a.id for a in repo.for_deployment(deployment_id)]
    for rec in repo.latest_recommendations(ids).values():
        for i in rec.result["items"]:
            out.setdefault(i["axis"], "recommended")
    for d in latest.values():
        if d.decision != "approved":
            continue
        if d.target_type == "recommendation":
            adopted = repo.recommendation(d.target_id)
            keys = d.adopted or (
                [f"{i['axis']}/{i['technique']}" for i in adopted.result["items"]]
                if adopted
                else []
            )
            axes = [k.split("/", 1)[0] for k in keys]
        else:
            try:
                axes = [i["axis"] for i in portfolios.get(session, caller, d.target_id).items]
            except NotFound:
                axes = []
        for axis in axes:
            out[axis] = "adopted"
    return out


def mapped_entries(
    session: Session, caller: Caller, deployment_id: int
) -> dict[str, list[frameworks.Entry]]:
    """Each framework's entries that the deployment's axes and facts bring in."""
    dep = deployments.get(session, caller, deployment_id)
    axes = axes_of_deployment(session, caller, dep.id)
    return frameworks.entries_for(axes, _sources(dep))


def _sources(dep: Any) -> list[str]:
    return frameworks.deployment_sources(
        regulatory_flags=dep.regulatory_flags,
        human_oversight=dep.human_oversight,
        outputs_feed_systems=dep.outputs_feed_systems,
        can_act=dep.can_act,
    )


@dataclass(frozen=True, slots=True)
class RiskPicture:
    """A deployment's risk picture: the axes in play, each framework's entries they bring in, the
    ISO/IEC 42001 statement of applicability and the EU AI Act assessment."""

    deployment_id: int
    mapping_version: int
    axes: dict[str, str]
    """axis -> recommended | adopted"""
    deployment_sources: dict[str, str]
    frameworks: dict[str, list[dict[str, Any]]]
    statement_of_applicability: list[dict[str, Any]]
    statement_of_applicability_version: dict[str, Any] | None
    eu_ai_act: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        """The API's payload (``GET /deployments/{id}/risks``), keys in field order."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def risk_picture(session: Session, caller: Caller, deployment_id: int) -> RiskPicture:
    from app.governance import eu_ai_act
    from app.governance import soa as soa_versions

    dep = deployments.get(session, caller, deployment_id)
    axes = axes_of_deployment(session, caller, dep.id)
    sources = _sources(dep)
    mapped = frameworks.entries_for(axes, sources)
    evals = evaluations(session, caller, dep.id)
    decided = decisions(session, caller, deployment_id=dep.id)
    evidence = {
        "decisions": [d.id for d in decided if d.decision == "approved" and d.voided_at is None],
        "evaluations": [e.id for e in evals],
    }
    soa_meta, soa_rows = soa_versions.picture_rows(
        session, caller.org_id, dep.id, mapped["iso_42001"]
    )
    if soa_meta is None:  # no statement written yet: what the risk picture alone says
        # as the JSON rows a written version holds (the picture is the API's payload)
        soa_rows = [asdict(r) for r in soa(mapped["iso_42001"], axes, evidence)]
    return RiskPicture(
        deployment_id=dep.id,
        mapping_version=frameworks.version(),
        axes=axes,
        deployment_sources={s: frameworks.source_label(s) for s in sources},
        frameworks={
            fw: [
                {
                    "id": e.id,
                    "title": e.title,
                    "axes": list(e.axes),
                    "sources": list(e.sources),
                    "rationale": list(e.rationale),
                    **e.extra,
                }
                for e in entries
            ]
            for fw, entries in mapped.items()
        },
        statement_of_applicability=soa_rows,
        statement_of_applicability_version=soa_meta,
        eu_ai_act=eu_ai_act.assess(
            eu_ai_act.Facts(
                high_risk_flag="eu_ai_act_high_risk" in dep.regulatory_flags,
                use_case=dep.use_case,
                axes=dict(axes),
                human_oversight=dep.human_oversight,
            ),
            eu_ai_act.Held(
                audit_events=_audit_events(session, caller.org_id),
                evaluations=[e.id for e in evals],
                segmented_evaluations=[e.id for e in evals if dep.segments],
                oversight_decisions=[d.id for d in decided if d.voided_at is None],
                risk_picture=True,
                soa_version=None if soa_meta is None else soa_meta["version"],
                soa_status=None if soa_meta is None else soa_meta["status"],
            ),
        ),
    )


def _audit_events(session: Session, org_id: int) -> int:
    from app.audit.repository import AuditRepository

    return AuditRepository(session).count_for_org(org_id)


@dataclass(frozen=True, slots=True)
class SoaRow:
    """One Annex A control of the statement of applicability before any version is written."""

    control: str
    title: str
    applicable: bool
    justification: str
    status: str
    evidence: list[str]


def soa(
    mapped: list[frameworks.Entry], axes: dict[str, str], evidence: dict[str, list[int]]
) -> list[SoaRow]:
    """The ISO/IEC 42001 Annex A statement of applicability before any version is written:
    every control applicable (clause 6.1.3: only a justified exclusion removes one); those the
    axes or facts bring in carry the mapping's rationale and a status (implemented via an
    adopted axis, planned via a recommended one), with the evidence on record."""
    by_id = {e.id: e for e in mapped}
    rows = []
    for cid, title in frameworks.catalogue()["iso_42001"].items():
        e = by_id.get(cid)
        if e is None:
            rows.append(
                SoaRow(
                    control=cid,
                    title=title,
                    applicable=True,
                    justification="applicable by default: no exclusion has been "
                    "justified (clause 6.1.3)",
                    status="planned",
                    evidence=[],
                )
            )
            continue
        adopted = any(axes.get(a) == "adopted" for a in e.axes)
        status = (
            "adopted axis: implement and evidence"
            if adopted
            else "recommended axis: planned"
            if e.axes
            else "brought in by the deployment: planned"
        )
        rows.append(
            SoaRow(
                control=cid,
                title=title,
                applicable=True,
                justification="; ".join(e.rationale),
                status=status,
                evidence=[f"decision #{i}" for i in evidence["decisions"]] if adopted else [],
            )
        )
    return rows
