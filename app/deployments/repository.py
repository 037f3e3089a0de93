"""All deployment queries. A repository is bound to one organisation: it cannot see others."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from app.deployments.models import Deployment
from app.governance.models import Decision, SegmentEvaluation, SoaVersion


class DeploymentRepository:
    def __init__(self, session: Session, org_id: int) -> None:
        self.session = session
        self.org_id = org_id

    def _scoped(self) -> Select[Deployment]:
        return select(Deployment).where(Deployment.org_id == self.org_id)

    def get(self, deployment_id: int) -> Deployment | None:
        return self.session.execute(
            self._scoped().where(Deployment.id == deployment_id)
        ).scalar_one_or_none()

    def list(
        self, *, limit: int = 100, offset: int = 0, archived: str = "exclude"
    ) -> tuple[Sequence[Deployment], int]:
        """``archived``: exclude (default), include or only archived deployments."""
        where = [Deployment.org_id == self.org_id]
        if archived == "exclude":
            where.append(Deployment.archived_at.is_(None))
        elif archived == "only":
            where.append(Deployment.archived_at.is_not(None))
        total = self.session.execute(select(func.count(Deployment.id)).where(*where)).scalar_one()
        rows = (
            self.session.execute(
                select(Deployment)
                .where(*where)
                .order_by(Deployment.name, Deployment.id)
                .limit(limit)
                .offset(offset)
            )
            .scalars()
            .all()
        )
        return rows, total

    def name_taken(self, name: str, *, exclude_id: int | None = None) -> bool:
        stmt = select(Deployment.id).where(
            Deployment.org_id == self.org_id, func.lower(Deployment.name) == name.lower()
        )
        if exclude_id is not None:
            stmt = stmt.where(Deployment.id != exclude_id)
        return self.session.execute(stmt.limit(1)).first() is not None

    def add(self, deployment: Deployment) -> Deployment:
        deployment.org_id = self.org_id
        self.session.add(deployment)
        self.session.flush()
        return deployment

    def has_governance_records(self, deployment_id: int) -> bool:
        """Decisions, evaluations or statements of applicability exist for the deployment (they
        must never be deleted)."""
        for model in (Decision, SegmentEvaluation, SoaVersion):
            found = self.session.execute(
                select(model.id)
                .where(model.org_id == self.org_id, model.deployment_id == deployment_id)
                .limit(1)
            ).first()
            if found is not None:
                return True
        return False

    def delete(self, deployment: Deployment) -> None:
        self.session.delete(deployment)
        self.session.flush()
