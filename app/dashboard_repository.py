"""The dashboard's queries: one organisation's rows across features, read for the first page
(a read model; each feature's own queries live in its repository)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.assessments.models import Assessment
from app.audit.models import AuditEvent
from app.auth.models import User
from app.deployments.models import Deployment
from app.estimates.models import Calibration
from app.governance.models import Decision
from app.jobs.models import Job
from app.portfolios.models import Portfolio

RECENT = 10


class DashboardRepository:
    def __init__(self, session: Session, org_id: int) -> None:
        self.session = session
        self.org_id = org_id

    def deployments_of(self, user_id: int, email: str) -> Sequence[Deployment]:
        """Live deployments the user created or edited (audit trail) or assessed."""
        touched = select(AuditEvent.entity_id).where(
            AuditEvent.org_id == self.org_id,
            AuditEvent.entity_type == "deployment",
            AuditEvent.actor_id == user_id,
        )
        assessed = select(Assessment.deployment_id).where(
            Assessment.org_id == self.org_id, Assessment.created_by == email
        )
        ids = {int(i) for i in self.session.scalars(touched) if i and str(i).isdigit()}
        ids |= set(self.session.scalars(assessed))
        if not ids:
            return []
        return self.session.scalars(
            select(Deployment)
            .where(
                Deployment.org_id == self.org_id,
                Deployment.id.in_(sorted(ids)),
                Deployment.archived_at.is_(None),
            )
            .order_by(Deployment.name)
        ).all()

    def assessments_of(self, deployment_ids: Sequence[int]) -> Sequence[Assessment]:
        if not deployment_ids:
            return []
        return self.session.scalars(
            select(Assessment)
            .where(
                Assessment.org_id == self.org_id, Assessment.deployment_id.in_(list(deployment_ids))
            )
            .order_by(Assessment.id)
        ).all()

    def portfolios_of(self, email: str) -> Sequence[Portfolio]:
        ps = self.session.scalars(
            select(Portfolio)
            .where(Portfolio.org_id == self.org_id)
            .order_by(Portfolio.updated_at.desc(), Portfolio.id.desc())
        ).all()
        return [p for p in ps if p.created_by == email or email in (p.contributors or [])]

    def deployment_names(self, ids: Sequence[int]) -> dict[int, str]:
        if not ids:
            return {}
        rows = self.session.execute(
            select(Deployment.id, Deployment.name).where(
                Deployment.org_id == self.org_id, Deployment.id.in_(list(ids))
            )
        )
        return {int(i): str(n) for i, n in rows}

    def jobs_of(self, email: str) -> Sequence[Job]:
        return self.session.scalars(
            select(Job)
            .where(Job.org_id == self.org_id, Job.created_by == email)
            .order_by(Job.id.desc())
            .limit(RECENT)
        ).all()

    def calibrations_of(self, email: str) -> Sequence[Calibration]:
        return self.session.scalars(
            select(Calibration)
            .where(Calibration.org_id == self.org_id, Calibration.created_by == email)
            .order_by(Calibration.id.desc())
            .limit(RECENT)
        ).all()

    def recent_decisions(self) -> Sequence[Decision]:
        return self.session.scalars(
            select(Decision)
            .where(Decision.org_id == self.org_id)
            .order_by(Decision.created_at.desc(), Decision.id.desc())
            .limit(RECENT)
        ).all()

    def users(self) -> Sequence[User]:
        return self.session.scalars(
            select(User).where(User.org_id == self.org_id).order_by(User.role, User.email)
        ).all()
