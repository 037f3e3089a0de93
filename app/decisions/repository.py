"""All queries on decisions and notifications (the workflow's primitives,
app/decisions/workflow.py). Bound to one organisation: it cannot see another's rows."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.decisions.models import Decision, Notification


class DecisionRepository:
    def __init__(self, session: Session, org_id: int) -> None:
        self.session = session
        self.org_id = org_id

    # --- decisions --------------------------------------------------------------------------

    def decisions(
        self,
        *,
        target_type: str | None = None,
        target_id: int | None = None,
        deployment_id: int | None = None,
    ) -> Sequence[Decision]:
        """Oldest first."""
        stmt = select(Decision).where(Decision.org_id == self.org_id)
        if target_type is not None:
            stmt = stmt.where(Decision.target_type == target_type)
        if target_id is not None:
            stmt = stmt.where(Decision.target_id == target_id)
        if deployment_id is not None:
            stmt = stmt.where(Decision.deployment_id == deployment_id)
        return self.session.execute(stmt.order_by(Decision.id)).scalars().all()

    def decisions_on(self, target_type: str, ids: Sequence[int]) -> Sequence[Decision]:
        """The decisions on any of these targets, oldest first."""
        return (
            self.session.execute(
                select(Decision)
                .where(
                    Decision.org_id == self.org_id,
                    Decision.target_type == target_type,
                    Decision.target_id.in_(list(ids)),
                )
                .order_by(Decision.id)
            )
            .scalars()
            .all()
        )

    def unvoided_decisions(self, target_type: str, target_id: int) -> Sequence[Decision]:
        return (
            self.session.execute(
                select(Decision).where(
                    Decision.org_id == self.org_id,
                    Decision.target_type == target_type,
                    Decision.target_id == target_id,
                    Decision.voided_at.is_(None),
                )
            )
            .scalars()
            .all()
        )

    # --- notifications ----------------------------------------------------------------------

    def notifications(
        self, recipient: str, *, unread_only: bool, limit: int
    ) -> Sequence[Notification]:
        """Newest first."""
        stmt = select(Notification).where(
            Notification.org_id == self.org_id, Notification.recipient == recipient
        )
        if unread_only:
            stmt = stmt.where(Notification.read_at.is_(None))
        return (
            self.session.execute(stmt.order_by(Notification.id.desc()).limit(limit)).scalars().all()
        )

    def mark_read(self, recipient: str, at: datetime) -> int:
        """Mark the recipient's unread notifications read; how many there were."""
        res = self.session.execute(
            update(Notification)
            .where(
                Notification.org_id == self.org_id,
                Notification.recipient == recipient,
                Notification.read_at.is_(None),
            )
            .values(read_at=at)
        )
        self.session.flush()
        return int(getattr(res, "rowcount", 0) or 0)
