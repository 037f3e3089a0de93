"""The approval workflow (the queue here; the primitives in app/decisions/workflow.py, each
target's statuses in app/portfolios/workflow.py and app/assessments/workflow.py): statuses,
contributors, approvals bound to a SHA-256 of the content approved, voiding on later edits, and
in-app notifications.

Statuses (API and pages):

* ``draft``: a portfolio being written; nothing asked of governance yet.
* ``submitted``: awaiting a decision (a recommendation as soon as its assessment is submitted or
  re-run; a portfolio once submitted for approval). The governance queue lists these.
* ``approved`` / ``rejected``: the latest decision in force (not voided) says so.
* ``superseded``: a recommendation that a re-run replaced before anyone decided on it.

Only a ``submitted`` item is decided on (409 otherwise, app/governance/service.py): a draft is
submitted first; a decided item is decided again only as a new version (a portfolio edited and
submitted again, a re-run of the assessment).

A decision stores the SHA-256 of the canonical JSON of what was decided on; an edit that changes
that content voids the decisions in force (kept, marked void with who, when and why, audited)
and returns the portfolio to ``draft``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from app.assessments.models import Recommendation
from app.assessments.repository import AssessmentRepository
from app.assessments.workflow import recommendation_content as recommendation_content
from app.assessments.workflow import recommendation_contributors as recommendation_contributors
from app.assessments.workflow import recommendation_status as recommendation_status
from app.assessments.workflow import recommendation_statuses as recommendation_statuses
from app.auth.context import Caller

# The primitives and each target's statuses live below the features (app/decisions, the
# portfolios' and assessments' workflow.py); named here too for governance's modules.
from app.decisions.workflow import STATUSES as STATUSES
from app.decisions.workflow import Status as Status
from app.decisions.workflow import content_sha256 as content_sha256
from app.decisions.workflow import decisions_by_target as decisions_by_target
from app.decisions.workflow import in_force as in_force
from app.decisions.workflow import mark_read as mark_read
from app.decisions.workflow import notifications as notifications
from app.decisions.workflow import notify as notify
from app.decisions.workflow import unread_count as unread_count
from app.decisions.workflow import void_stale as void_stale
from app.deployments.models import Deployment
from app.deployments.repository import DeploymentRepository
from app.governance.repository import GovernanceRepository
from app.portfolios.repository import PortfolioRepository
from app.portfolios.workflow import add_contributor as add_contributor
from app.portfolios.workflow import portfolio_content as portfolio_content
from app.portfolios.workflow import portfolio_contributors as portfolio_contributors
from app.portfolios.workflow import portfolio_status as portfolio_status
from app.portfolios.workflow import portfolio_statuses as portfolio_statuses


# ---- the governance queue ------------------------------------------------------------------
def queue(session: Session, caller: Caller, status: str = "submitted") -> list[dict[str, Any]]:
    """Recommendations and portfolios of the caller's organisation in ``status`` (``submitted``:
    awaiting a decision), oldest first: what, which deployment, who submitted, since when."""
    deps = {d.id: d for d in DeploymentRepository(session, caller.org_id).all()}
    out: list[dict[str, Any]] = []
    repo = AssessmentRepository(session, caller.org_id)
    assessments = {a.id: a for a in repo.submitted()}
    recs = list(repo.recommendations_of(list(assessments)))
    rec_status = recommendation_statuses(session, caller.org_id, recs)
    chains: dict[int, list[Recommendation]] = {}
    for rec in recs:
        chains.setdefault(rec.assessment_id, []).append(rec)
    for rec in recs:
        a = assessments[rec.assessment_id]
        if rec_status[rec.id] != status or deps[a.deployment_id].archived_at is not None:
            continue
        out.append(
            _row(
                "recommendation",
                rec.id,
                f"Recommendation #{rec.id} (assessment #{a.id})",
                deps[a.deployment_id],
                rec_status[rec.id],
                rec.created_by,
                rec.created_at,
                recommendation_contributors(rec, a, chains[a.id]),
                f"/assessments/{a.id}?rec={rec.id}",
            )
        )
    ps = PortfolioRepository(session, caller.org_id).list()
    p_status = portfolio_statuses(session, caller.org_id, ps)
    for p in ps:
        if p_status[p.id] != status or deps[p.deployment_id].archived_at is not None:
            continue
        out.append(
            _row(
                "portfolio",
                p.id,
                f"Portfolio '{p.name}'",
                deps[p.deployment_id],
                p_status[p.id],
                p.submitted_by or p.created_by,
                p.submitted_at or p.updated_at,
                portfolio_contributors(p),
                f"/portfolios/{p.id}",
            )
        )
    from app.governance import soa  # statements of applicability (soa imports this module)

    versions = list(GovernanceRepository(session, caller.org_id).soa_versions())
    soa_decided = decisions_by_target(session, caller.org_id, "soa", [s.id for s in versions])
    newest: dict[int, int] = {}
    for s in versions:
        newest[s.deployment_id] = max(newest.get(s.deployment_id, 0), s.version)
    for s in versions:
        st = (
            "superseded"
            if s.version != newest[s.deployment_id]
            else soa.status(session, s, soa_decided[s.id])
        )
        if st != status or deps[s.deployment_id].archived_at is not None:
            continue
        out.append(
            _row(
                "soa",
                s.id,
                f"Statement of applicability v{s.version}",
                deps[s.deployment_id],
                st,
                s.submitted_by or s.created_by,
                s.submitted_at or s.updated_at,
                soa.contributors(s),
                f"/deployments/{s.deployment_id}/soa?version={s.version}",
            )
        )
    out.sort(key=lambda r: (r["since"], r["target_type"], r["target_id"]))
    return out


def _row(
    target_type: str,
    target_id: int,
    title: str,
    dep: Deployment,
    status: str,
    submitted_by: str,
    since: datetime,
    contributors: list[str],
    link: str,
) -> dict[str, Any]:
    return {
        "target_type": target_type,
        "target_id": target_id,
        "title": title,
        "deployment_id": dep.id,
        "deployment": dep.name,
        "status": status,
        "submitted_by": submitted_by,
        "since": since,
        "contributors": contributors,
        "link": link,
    }
