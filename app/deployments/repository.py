"""All deployment queries. A repository is bound to one organisation: it cannot see others."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from app.deployments.models import Deployment

# Records that features above keep about a deployment (governance's decisions, evaluations and
# statements of applicability, app/governance/records.py): a deployment that has any is archived,
# never deleted. Each feature registers its check; this package imports none of them.
RecordCheck = Callable[[Session, int, int], bool]  # (session, org_id, deployment_id) -> has any
RECORD_CHECKS: list[RecordCheck] = []


def keeps_records(check: RecordCheck) -> RecordCheck:
    RECORD_CHECKS.append(check)
    return check


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

    def all(self) -> Sequence[Deployment]:
        """Every deployment of the organisation, archived ones too."""
        return self.session.execute(self._scoped()).scalars().all()

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
        must never be deleted): asked of the features that keep them (:data:`RECORD_CHECKS`)."""
        return any(check(self.session, self.org_id, deployment_id) for check in RECORD_CHECKS)

    def delete(self, deployment: Deployment) -> None:
        self.session.delete(deployment)
        self.session.flush()


def any_org_deployment(session: Session, deployment_id: int) -> Deployment | None:
    """A deployment by id whatever its organisation: for background jobs, which check the
    organisation recorded in their parameters themselves."""
    return session.get(Deployment, deployment_id)
