"""A portfolio's place in the approval workflow: the content its decisions are bound to, its
contributors (who may not decide on it), its status (app/governance/workflow.py describes them)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from app.decisions.models import Decision
from app.decisions.workflow import content_sha256 as content_sha256
from app.decisions.workflow import decisions_by_target as decisions_by_target
from app.decisions.workflow import in_force
from app.decisions.workflow import void_stale as void_stale
from app.portfolios.models import Portfolio


def portfolio_content(p: Portfolio) -> dict[str, Any]:
    return {
        "type": "portfolio",
        "id": p.id,
        "deployment_id": p.deployment_id,
        "name": p.name,
        "items": p.items,
    }


def portfolio_contributors(p: Portfolio) -> list[str]:
    """The author, then everyone who edited or submitted it, in order, once each."""
    return list(dict.fromkeys([p.created_by, *(p.contributors or [])]))


def add_contributor(p: Portfolio, email: str) -> None:
    if email not in portfolio_contributors(p):
        p.contributors = [*(p.contributors or []), email]


def portfolio_status(p: Portfolio, decisions: Sequence[Decision]) -> str:
    d = in_force(decisions)
    if d is not None and d.content_sha256 in (None, content_sha256(portfolio_content(p))):
        return d.decision
    return "submitted" if p.submitted_at is not None else "draft"


def portfolio_statuses(session: Session, org_id: int, ps: Sequence[Portfolio]) -> dict[int, str]:
    by = decisions_by_target(session, org_id, "portfolio", [p.id for p in ps])
    return {p.id: portfolio_status(p, by[p.id]) for p in ps}
