"""The approval workflow: statuses, contributors, approvals bound to a SHA-256 of the content
approved, voiding on later edits, and in-app notifications.

Statuses (API and pages):

* ``draft``: a portfolio being written; nothing asked of governance yet.
* ``submitted``: awaiting a decision (a recommendation as soon as its assessment is submitted or
  re-run; a portfolio once submitted for approval). The governance queue lists these.
* ``approved`` / ``rejected``: the latest decision in force (not voided) says so.
* ``superseded``: a recommendation that a re-run replaced before anyone decided on it.

A decision stores the SHA-256 of the canonical JSON of what was decided on; an edit that changes
that content voids the decisions in force (kept, marked void with who, when and why, audited)
and returns the portfolio to ``draft``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Literal

from sqlalchemy.orm import Session

from app.assessments.models import Assessment, Recommendation
from app.assessments.repository import AssessmentRepository
from app.audit import service as audit
from app.auth.context import Caller
from app.db import utcnow
from app.deployments.models import Deployment
from app.deployments.repository import DeploymentRepository
from app.governance.models import Decision, Notification
from app.governance.repository import GovernanceRepository
from app.portfolios.models import Portfolio
from app.portfolios.repository import PortfolioRepository

Status = Literal["draft", "submitted", "approved", "rejected", "superseded"]
STATUSES: tuple[str, ...] = ("draft", "submitted", "approved", "rejected", "superseded")


# ---- content hashes ------------------------------------------------------------------------
def content_sha256(content: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON (sorted keys, no whitespace, UTF-8) of ``content``."""
    body = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(body.encode()).hexdigest()


def portfolio_content(p: Portfolio) -> dict[str, Any]:
    return {"type": "portfolio", "id": p.id, "deployment_id": p.deployment_id, "name": p.name,
            "items": p.items}  # fmt: skip


def recommendation_content(rec: Recommendation, a: Assessment) -> dict[str, Any]:
    return {"type": "recommendation", "id": rec.id, "assessment_id": a.id,
            "deployment_id": a.deployment_id, "answers": a.answers, "serving": a.serving,
            "versions": {"matrix": rec.matrix_version, "rules": rec.rules_version,
                         "estimator": rec.estimator_version},
            "facts": rec.facts, "result": rec.result}  # fmt: skip


# ---- contributors --------------------------------------------------------------------------
def portfolio_contributors(p: Portfolio) -> list[str]:
    """The author, then everyone who edited or submitted it, in order, once each."""
    return list(dict.fromkeys([p.created_by, *(p.contributors or [])]))


def recommendation_contributors(
    rec: Recommendation, a: Assessment, chain: Sequence[Recommendation] = ()
) -> list[str]:
    """The assessment's author and whoever produced this recommendation or an earlier one of
    the same assessment (``chain``: its recommendations; every re-run counts)."""
    earlier = [r.created_by for r in sorted(chain, key=lambda r: r.id) if r.id <= rec.id]
    return list(dict.fromkeys([a.created_by, *earlier, rec.created_by]))


def add_contributor(p: Portfolio, email: str) -> None:
    if email not in portfolio_contributors(p):
        p.contributors = [*(p.contributors or []), email]


# ---- statuses ------------------------------------------------------------------------------
def in_force(decisions: Iterable[Decision]) -> Decision | None:
    """The latest decision not voided (decisions come in id order)."""
    found = None
    for d in decisions:
        if d.voided_at is None:
            found = d
    return found


def portfolio_status(p: Portfolio, decisions: Sequence[Decision]) -> str:
    d = in_force(decisions)
    if d is not None and d.content_sha256 in (None, content_sha256(portfolio_content(p))):
        return d.decision
    return "submitted" if p.submitted_at is not None else "draft"


def recommendation_status(rec: Recommendation, decisions: Sequence[Decision],
                          latest_id: int) -> str:  # fmt: skip
    d = in_force(decisions)
    if d is not None:
        return d.decision
    return "superseded" if rec.id != latest_id else "submitted"


def decisions_by_target(session: Session, org_id: int, target_type: str,
                        ids: Sequence[int]) -> dict[int, list[Decision]]:  # fmt: skip
    out: dict[int, list[Decision]] = {i: [] for i in ids}
    if not ids:
        return out
    rows = GovernanceRepository(session, org_id).decisions_on(target_type, ids)
    for d in rows:
        out[d.target_id].append(d)
    return out


def portfolio_statuses(session: Session, org_id: int,
                       ps: Sequence[Portfolio]) -> dict[int, str]:  # fmt: skip
    by = decisions_by_target(session, org_id, "portfolio", [p.id for p in ps])
    return {p.id: portfolio_status(p, by[p.id]) for p in ps}


def recommendation_statuses(session: Session, org_id: int,
                            recs: Sequence[Recommendation]) -> dict[int, str]:  # fmt: skip
    repo = AssessmentRepository(session, org_id)
    latest = repo.latest_recommendations(sorted({r.assessment_id for r in recs}))
    by = decisions_by_target(session, org_id, "recommendation", [r.id for r in recs])
    return {r.id: recommendation_status(r, by[r.id], latest[r.assessment_id].id) for r in recs}


# ---- voiding -------------------------------------------------------------------------------
def void_stale(
    session: Session, caller: Caller, target_type: str, target_id: int, current_sha256: str, *,
    reason: str, audit_key: bytes,
) -> list[Decision]:  # fmt: skip
    """Void every decision in force on the target that was made on other content than
    ``current_sha256``; audited, and the deciders are told."""
    rows = GovernanceRepository(session, caller.org_id).unvoided_decisions(target_type, target_id)
    voided = [d for d in rows if d.content_sha256 != current_sha256]
    now = utcnow()
    for d in voided:
        d.voided_at, d.voided_by, d.void_reason = now, caller.email, reason
        session.flush()
        audit.record(session, audit_key, actor=caller.actor, action="decision.void",
                     entity_type=target_type, entity_id=target_id,
                     before={"decision_id": d.id, "decision": d.decision,
                             "content_sha256": d.content_sha256},
                     after={"decision_id": d.id, "voided_by": caller.email, "reason": reason,
                            "content_sha256": current_sha256})  # fmt: skip
        notify(
            session,
            caller.org_id,
            [d.decided_by],
            kind="void",
            message=f"Your {d.decision} decision #{d.id} on {target_type} #{target_id} was "
            f"voided: {reason} (by {caller.email})",
            link=f"/{target_type}s/{target_id}" if target_type == "portfolio" else "",
        )
    return voided


# ---- notifications -------------------------------------------------------------------------
def notify(session: Session, org_id: int, recipients: Iterable[str], *, kind: str, message: str,
           link: str) -> None:  # fmt: skip
    for email in dict.fromkeys(recipients):
        session.add(Notification(org_id=org_id, recipient=email, kind=kind, message=message,
                                 link=link))  # fmt: skip
    session.flush()


def notifications(session: Session, caller: Caller, *, unread_only: bool = False,
                  limit: int = 100) -> Sequence[Notification]:  # fmt: skip
    return GovernanceRepository(session, caller.org_id).notifications(
        caller.email, unread_only=unread_only, limit=limit
    )


def unread_count(session: Session, caller: Caller) -> int:
    return len(notifications(session, caller, unread_only=True, limit=1000))


def mark_read(session: Session, caller: Caller) -> int:
    """Mark all of the caller's notifications read; returns how many were unread."""
    return GovernanceRepository(session, caller.org_id).mark_read(caller.email, utcnow())


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
        out.append(_row("recommendation", rec.id, f"Recommendation #{rec.id} (assessment #{a.id})",
                        deps[a.deployment_id], rec_status[rec.id], rec.created_by,
                        rec.created_at, recommendation_contributors(rec, a, chains[a.id]),
                        f"/assessments/{a.id}?rec={rec.id}"))  # fmt: skip
    ps = PortfolioRepository(session, caller.org_id).list()
    p_status = portfolio_statuses(session, caller.org_id, ps)
    for p in ps:
        if p_status[p.id] != status or deps[p.deployment_id].archived_at is not None:
            continue
        out.append(_row("portfolio", p.id, f"Portfolio '{p.name}'", deps[p.deployment_id],
                        p_status[p.id], p.submitted_by or p.created_by,
                        p.submitted_at or p.updated_at, portfolio_contributors(p),
                        f"/portfolios/{p.id}"))  # fmt: skip
    from app.governance import soa  # statements of applicability (soa imports this module)

    versions = list(GovernanceRepository(session, caller.org_id).soa_versions())
    soa_decided = decisions_by_target(session, caller.org_id, "soa", [s.id for s in versions])
    newest: dict[int, int] = {}
    for s in versions:
        newest[s.deployment_id] = max(newest.get(s.deployment_id, 0), s.version)
    for s in versions:
        st = ("superseded" if s.version != newest[s.deployment_id]
              else soa.status(session, s, soa_decided[s.id]))  # fmt: skip
        if st != status or deps[s.deployment_id].archived_at is not None:
            continue
        out.append(_row("soa", s.id, f"Statement of applicability v{s.version}",
                        deps[s.deployment_id], st, s.submitted_by or s.created_by,
                        s.submitted_at or s.updated_at, soa.contributors(s),
                        f"/deployments/{s.deployment_id}/soa?version={s.version}"))  # fmt: skip
    out.sort(key=lambda r: (r["since"], r["target_type"], r["target_id"]))
    return out


def _row(target_type: str, target_id: int, title: str, dep: Deployment, status: str,
         submitted_by: str, since: datetime, contributors: list[str],
         link: str) -> dict[str, Any]:  # fmt: skip
    return {"target_type": target_type, "target_id": target_id, "title": title,
            "deployment_id": dep.id, "deployment": dep.name, "status": status,
            "submitted_by": submitted_by, "since": since, "contributors": contributors,
            "link": link}  # fmt: skip
