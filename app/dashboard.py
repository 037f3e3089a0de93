"""The dashboard by role (issue 22, item 12): what each role comes to the first page for.

* product lead: their deployments (created, edited or assessed by them) and the status of each
  one's latest assessment (draft, awaiting a decision, approved, rejected);
* architect: their portfolios with their governance status, and their recent estimator work
  (jobs: fits, calibrations, reports) and calibrations;
* governance: what awaits a decision (the queue), and the recent decisions;
* admin: the organisation's users, the GPU prices its estimates use, and the versions of the
  reference data (axis matrix, rule set, estimators).

Every role also sees the organisation's overview (deployments, the nine axes). Queries live in
:class:`app.dashboard_repository.DashboardRepository`; the section builders only shape rows for
the template."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from app.assessments.models import Assessment, Recommendation
from app.assessments.repository import AssessmentRepository
from app.auth.context import Caller
from app.auth.permissions import Role
from app.catalog import service as catalog_service
from app.dashboard_repository import DashboardRepository
from app.estimators import ESTIMATOR_VERSION
from app.governance import workflow
from app.rulesets import service as rulesets

STATUS_WORDS = {
    "draft": "draft (not submitted)",
    "submitted": "awaiting a decision",
    "approved": "approved",
    "rejected": "rejected",
    "superseded": "superseded by a rerun",
    "none": "not assessed yet",
}


def _latest_status(
    session: Session, org_id: int, assessments: Sequence[Assessment]
) -> dict[int, dict[str, Any]]:
    """deployment id -> its latest submitted assessment and that assessment's status (a draft
    started after it does not hide it: ``draft_open`` says one is open), else its draft."""
    submitted_latest: dict[int, Assessment] = {}
    drafts: set[int] = set()
    for a in assessments:  # ordered by id: the last one wins
        if a.status == "submitted":
            submitted_latest[a.deployment_id] = a
        else:
            drafts.add(a.deployment_id)
    recs: dict[int, Recommendation] = AssessmentRepository(session, org_id).latest_recommendations(
        [a.id for a in submitted_latest.values()]
    )
    statuses = workflow.recommendation_statuses(session, org_id, list(recs.values()))
    out: dict[int, dict[str, Any]] = {}
    for dep_id in drafts - set(submitted_latest):
        # a draft has no page of its own: the questionnaire restores it
        out[dep_id] = {
            "assessment_id": None,
            "status": "draft",
            "words": STATUS_WORDS["draft"],
            "draft_open": True,
        }
    for dep_id, a in submitted_latest.items():
        status = "submitted"
        rec = recs.get(a.id)
        if rec is not None:
            status = statuses.get(rec.id, status)
        out[dep_id] = {
            "assessment_id": a.id,
            "status": status,
            "words": STATUS_WORDS[status],
            "draft_open": dep_id in drafts,
        }
    return out


def product_lead_section(session: Session, caller: Caller) -> dict[str, Any]:
    repo = DashboardRepository(session, caller.org_id)
    deps = repo.deployments_of(caller.user_id, caller.email)
    status = _latest_status(session, caller.org_id, repo.assessments_of([d.id for d in deps]))
    none = {
        "assessment_id": None,
        "status": "none",
        "words": STATUS_WORDS["none"],
        "draft_open": False,
    }
    rows = [{"deployment": d, **status.get(d.id, none)} for d in deps]
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    return {"my_deployments": rows, "status_counts": counts}


def architect_section(session: Session, caller: Caller) -> dict[str, Any]:
    repo = DashboardRepository(session, caller.org_id)
    ps = repo.portfolios_of(caller.email)
    statuses = workflow.portfolio_statuses(session, caller.org_id, ps)
    names = repo.deployment_names(sorted({p.deployment_id for p in ps}))
    return {
        "my_portfolios": [
            {
                "portfolio": p,
                "deployment": names.get(p.deployment_id, ""),
                "status": statuses[p.id],
                "items": len(p.items or []),
            }
            for p in ps
        ],
        "my_jobs": repo.jobs_of(caller.email),
        "my_calibrations": repo.calibrations_of(caller.email),
    }


def governance_section(session: Session, caller: Caller) -> dict[str, Any]:
    repo = DashboardRepository(session, caller.org_id)
    decisions = repo.recent_decisions()
    names = repo.deployment_names(sorted({d.deployment_id for d in decisions}))
    return {
        "awaiting": workflow.queue(session, caller),
        "recent_decisions": [
            {"decision": d, "deployment": names.get(d.deployment_id, "")} for d in decisions
        ],
    }


def admin_section(session: Session, caller: Caller) -> dict[str, Any]:
    repo = DashboardRepository(session, caller.org_id)
    matrix = catalog_service.current_matrix(session, caller.org_id)
    rules_row = rulesets.get_version(session, caller.org_id)
    prices = catalog_service.effective_prices(session, caller.org_id)
    return {
        "users": repo.users(),
        "prices": prices,
        "priced_by_org": sum(1 for _, p in prices if p.origin == "organisation"),
        "unpriced": [g.name for g, p in prices if p.price_per_hour_usd is None],
        "versions": [
            {
                "what": "Axis matrix",
                "version": f"v{matrix.version}",
                "since": matrix.created_at,
                "by": matrix.created_by or "shipped",
                "link": "/matrix",
            },
            {
                "what": "Rule set",
                "version": f"v{rules_row.version}",
                "since": rules_row.created_at.isoformat(),
                "by": rules_row.created_by,
                "link": "/rules",
            },
            {
                "what": "Estimators",
                "version": ESTIMATOR_VERSION,
                "since": None,
                "by": "shipped with this release",
                "link": "/estimates",
            },
        ],
    }


SECTIONS = {
    Role.product_lead: product_lead_section,
    Role.architect: architect_section,
    Role.governance: governance_section,
    Role.admin: admin_section,
}


def for_role(session: Session, caller: Caller) -> dict[str, Any]:
    """The role's own section of the dashboard (empty for a viewer)."""
    try:
        builder = SECTIONS.get(Role(caller.role))
    except ValueError:
        builder = None
    return {} if builder is None else builder(session, caller)
