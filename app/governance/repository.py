"""All queries on decisions, evaluations, notifications and statements of applicability. Bound
to one organisation: it cannot see another's rows."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.governance.models import (
    Decision,
    Evaluation,
    Notification,
    SoaEvidenceFile,
    SoaHistory,
    SoaVersion,
)


class GovernanceRepository:
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

    # --- evaluations ------------------------------------------------------------------------

    def evaluations(self, deployment_id: int) -> Sequence[Evaluation]:
        """Newest first."""
        return (
            self.session.execute(
                select(Evaluation)
                .where(Evaluation.org_id == self.org_id, Evaluation.deployment_id == deployment_id)
                .order_by(Evaluation.id.desc())
            )
            .scalars()
            .all()
        )

    def evaluation(self, evaluation_id: int) -> Evaluation | None:
        return self.session.execute(
            select(Evaluation).where(
                Evaluation.org_id == self.org_id, Evaluation.id == evaluation_id
            )
        ).scalar_one_or_none()

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

    # --- statements of applicability ---------------------------------------------------------

    def soa(self, soa_id: int) -> SoaVersion | None:
        return self.session.execute(
            select(SoaVersion).where(SoaVersion.org_id == self.org_id, SoaVersion.id == soa_id)
        ).scalar_one_or_none()

    def soa_versions(self, deployment_id: int | None = None) -> Sequence[SoaVersion]:
        """Of one deployment (newest first) or of all (in id order)."""
        stmt = select(SoaVersion).where(SoaVersion.org_id == self.org_id)
        if deployment_id is None:
            return self.session.execute(stmt.order_by(SoaVersion.id)).scalars().all()
        stmt = stmt.where(SoaVersion.deployment_id == deployment_id)
        return self.session.execute(stmt.order_by(SoaVersion.version.desc())).scalars().all()

    def latest_soa(self, deployment_id: int) -> SoaVersion | None:
        return self.session.execute(
            select(SoaVersion)
            .where(SoaVersion.org_id == self.org_id, SoaVersion.deployment_id == deployment_id)
            .order_by(SoaVersion.version.desc())
            .limit(1)
        ).scalar_one_or_none()

    def highest_soa_version(self, deployment_id: int) -> int:
        """The deployment's highest version number (0: none yet)."""
        n = self.session.execute(
            select(func.max(SoaVersion.version)).where(SoaVersion.deployment_id == deployment_id)
        ).scalar()
        return int(n or 0)

    def soa_history(self, soa_id: int, control: str | None = None) -> Sequence[SoaHistory]:
        stmt = select(SoaHistory).where(
            SoaHistory.org_id == self.org_id, SoaHistory.soa_id == soa_id
        )
        if control is not None:
            stmt = stmt.where(SoaHistory.control == control)
        return self.session.execute(stmt.order_by(SoaHistory.id)).scalars().all()

    def evidence_file(self, file_id: int) -> SoaEvidenceFile | None:
        return self.session.execute(
            select(SoaEvidenceFile).where(
                SoaEvidenceFile.org_id == self.org_id, SoaEvidenceFile.id == file_id
            )
        ).scalar_one_or_none()
