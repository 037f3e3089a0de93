"""All queries on evaluations and statements of applicability, and (from DecisionRepository) on
decisions and notifications. Bound to one organisation: it cannot see another's rows."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select

from app.decisions.repository import DecisionRepository
from app.governance.models import (
    Decision,
    SegmentEvaluation,
    SoaEvidenceFile,
    SoaHistory,
    SoaVersion,
)


class GovernanceRepository(DecisionRepository):
    # --- evaluations ------------------------------------------------------------------------

    def has_records(self, deployment_id: int) -> bool:
        """Whether any decision, evaluation or statement of applicability is about the
        deployment (such records are never deleted)."""
        for model in (Decision, SegmentEvaluation, SoaVersion):
            found = self.session.execute(
                select(model.id)
                .where(model.org_id == self.org_id, model.deployment_id == deployment_id)
                .limit(1)
            ).first()
            if found is not None:
                return True
        return False

    def evaluations(self, deployment_id: int) -> Sequence[SegmentEvaluation]:
        """Newest first."""
        return (
            self.session.execute(
                select(SegmentEvaluation)
                .where(
                    SegmentEvaluation.org_id == self.org_id,
                    SegmentEvaluation.deployment_id == deployment_id,
                )
                .order_by(SegmentEvaluation.id.desc())
            )
            .scalars()
            .all()
        )

    def evaluation(self, evaluation_id: int) -> SegmentEvaluation | None:
        return self.session.execute(
            select(SegmentEvaluation).where(
                SegmentEvaluation.org_id == self.org_id, SegmentEvaluation.id == evaluation_id
            )
        ).scalar_one_or_none()

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
