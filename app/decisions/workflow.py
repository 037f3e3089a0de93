"""The approval workflow's primitives: statuses, approvals bound to a SHA-256 of the content
approved, voiding on later edits, and in-app notifications (each target's contributors and status:
app/portfolios/workflow.py, app/assessments/workflow.py; the queue: app/governance/workflow.py).

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
from typing import Any, Literal

from sqlalchemy.orm import Session

from app.audit import service as audit
from app.auth.context import Caller
from app.db import utcnow
from app.decisions.models import Decision, Notification
from app.decisions.repository import DecisionRepository

Status = Literal["draft", "submitted", "approved", "rejected", "superseded"]
STATUSES: tuple[str, ...] = ("draft", "submitted", "approved", "rejected", "superseded")


# ---- content hashes ------------------------------------------------------------------------
def content_sha256(content: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON (sorted keys, no whitespace, UTF-8) of ``content``."""
    body = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(body.encode()).hexdigest()


# ---- statuses ------------------------------------------------------------------------------
def in_force(decisions: Iterable[Decision]) -> Decision | None:
    """The latest decision not voided (decisions come in id order)."""
    found = None
    for d in decisions:
        if d.voided_at is None:
            found = d
    return found


def decisions_by_target(
    session: Session, org_id: int, target_type: str, ids: Sequence[int]
) -> dict[int, list[Decision]]:
    out: dict[int, list[Decision]] = {i: [] for i in ids}
    if not ids:
        return out
    rows = DecisionRepository(session, org_id).decisions_on(target_type, ids)
    for d in rows:
        out[d.target_id].append(d)
    return out


# ---- voiding -------------------------------------------------------------------------------
def void_stale(
    session: Session,
    caller: Caller,
    target_type: str,
    target_id: int,
    current_sha256: str,
    *,
    reason: str,
    audit_key: bytes,
) -> list[Decision]:
    """Void every decision in force on the target that was made on other content than
    ``current_sha256``; audited, and the deciders are told."""
    rows = DecisionRepository(session, caller.org_id).unvoided_decisions(target_type, target_id)
    voided = [d for d in rows if d.content_sha256 != current_sha256]
    now = utcnow()
    for d in voided:
        d.voided_at, d.voided_by, d.void_reason = now, caller.email, reason
        session.flush()
        audit.record(
            session,
            audit_key,
            actor=caller.actor,
            action="decision.void",
            entity_type=target_type,
            entity_id=target_id,
            before={
                "decision_id": d.id,
                "decision": d.decision,
                "content_sha256": d.content_sha256,
            },
            after={
                "decision_id": d.id,
                "voided_by": caller.email,
                "reason": reason,
                "content_sha256": current_sha256,
            },
        )
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
def notify(
    session: Session, org_id: int, recipients: Iterable[str], *, kind: str, message: str, link: str
) -> None:
    for email in dict.fromkeys(recipients):
        session.add(
            Notification(org_id=org_id, recipient=email, kind=kind, message=message, link=link)
        )
    session.flush()


def notifications(
    session: Session, caller: Caller, *, unread_only: bool = False, limit: int = 100
) -> Sequence[Notification]:
    return DecisionRepository(session, caller.org_id).notifications(
        caller.email, unread_only=unread_only, limit=limit
    )


def unread_count(session: Session, caller: Caller) -> int:
    return len(notifications(session, caller, unread_only=True, limit=1000))


def mark_read(session: Session, caller: Caller) -> int:
    """Mark all of the caller's notifications read; returns how many were unread."""
    return DecisionRepository(session, caller.org_id).mark_read(caller.email, utcnow())
