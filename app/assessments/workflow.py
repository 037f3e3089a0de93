"""A recommendation's place in the approval workflow: the content its decisions are bound to, its
contributors (who may not decide on it), its status (app/governance/workflow.py describes them)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from app.assessments.models import Assessment, Recommendation
from app.assessments.repository import AssessmentRepository
from app.decisions.models import Decision
from app.decisions.workflow import decisions_by_target, in_force


def recommendation_content(rec: Recommendation, a: Assessment) -> dict[str, Any]:
    return {
        "type": "recommendation",
        "id": rec.id,
        "assessment_id": a.id,
        "deployment_id": a.deployment_id,
        "answers": a.answers,
        "serving": a.serving,
        "versions": {
            "matrix": rec.matrix_version,
            "rules": rec.rules_version,
            "estimator": rec.estimator_version,
        },
        "facts": rec.facts,
        "result": rec.result,
    }


def recommendation_contributors(
    rec: Recommendation, a: Assessment, chain: Sequence[Recommendation] = ()
) -> list[str]:
    """The assessment's author and whoever produced this recommendation or an earlier one of
    the same assessment (``chain``: its recommendations; every re-run counts)."""
    earlier = [r.created_by for r in sorted(chain, key=lambda r: r.id) if r.id <= rec.id]
    return list(dict.fromkeys([a.created_by, *earlier, rec.created_by]))


def recommendation_status(
    rec: Recommendation, decisions: Sequence[Decision], latest_id: int
) -> str:
    d = in_force(decisions)
    if d is not None:
        return d.decision
    return "superseded" if rec.id != latest_id else "submitted"


def recommendation_statuses(
    session: Session, org_id: int, recs: Sequence[Recommendation]
) -> dict[int, str]:
    repo = AssessmentRepository(session, org_id)
    latest = repo.latest_recommendations(sorted({r.assessment_id for r in recs}))
    by = decisions_by_target(session, org_id, "recommendation", [r.id for r in recs])
    return {r.id: recommendation_status(r, by[r.id], latest[r.assessment_id].id) for r in recs}
