"""All deployment queries. A repository is bound to one organisation: it cannot see others."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.deployments.models import Deployment


class DeploymentRepository:
    def __init__(self, session: Session, org_id: int) -> None:
        self.session = session
        self.org_id = org_id

    def _scoped(self):  # type: ignore[no-untyped-def]
        return select(Deployment).where(Deployment.org_id == self.org_id)

    def get(self, deployment_id: int) -> Deployment | None:
        return self.session.execute(
            self._scoped().where(Deployment.id == deployment_id)
        ).scalar_one_or_none()

    def list(self, *, limit: int = 100, offset: int = 0) -> tuple[Sequence[Deployment], int]:
        total = self.session.execute(
            select(func.count(Deployment.id)).where(Deployment.org_id == self.org_id)
        ).scalar_one()
        rows = (
            self.session.execute(
                self._scoped().order_by(Deployment.name, Deployment.id).limit(limit).offset(offset)
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

    def delete(self, deployment: Deployment) -> None:
        self.session.delete(deployment)
        self.session.flush()
