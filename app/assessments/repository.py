"""All assessment and recommendation queries, bound to one organisation."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import Depends
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.assessments.models import Assessment, Recommendation
from app.auth.deps import PageCaller
from app.db import SessionDep


class AssessmentRepository:
    def __init__(self, session: Session, org_id: int) -> None:
        self.session = session
        self.org_id = org_id

    def get(self, assessment_id: int) -> Assessment | None:
        return self.session.execute(
            select(Assessment).where(
                Assessment.org_id == self.org_id, Assessment.id == assessment_id
            )
        ).scalar_one_or_none()

    def by_key(self, key: str) -> Assessment | None:
        return self.session.execute(
            select(Assessment).where(
                Assessment.org_id == self.org_id, Assessment.idempotency_key == key
            )
        ).scalar_one_or_none()

    def draft(self, deployment_id: int, author: str) -> Assessment | None:
        return self.session.execute(
            select(Assessment).where(
                Assessment.org_id == self.org_id,
                Assessment.deployment_id == deployment_id,
                Assessment.created_by == author,
                Assessment.status == "draft",
            )
        ).scalar_one_or_none()

    def for_deployment(self, deployment_id: int) -> Sequence[Assessment]:
        return (
            self.session.execute(
                select(Assessment)
                .where(
                    Assessment.org_id == self.org_id,
                    Assessment.deployment_id == deployment_id,
                    Assessment.status == "submitted",
                )
                .order_by(Assessment.id.desc())
            )
            .scalars()
            .all()
        )

    def submitted(self) -> Sequence[Assessment]:
        return (
            self.session.execute(
                select(Assessment)
                .where(Assessment.org_id == self.org_id, Assessment.status == "submitted")
                .order_by(Assessment.id)
            )
            .scalars()
            .all()
        )

    def recommendations(self, assessment_id: int) -> Sequence[Recommendation]:
        return (
            self.session.execute(
                select(Recommendation)
                .where(
                    Recommendation.org_id == self.org_id,
                    Recommendation.assessment_id == assessment_id,
                )
                .order_by(Recommendation.id)
            )
            .scalars()
            .all()
        )

    def recommendations_of(self, assessment_ids: Sequence[int]) -> Sequence[Recommendation]:
        """The recommendations of several assessments, oldest first, in one query."""
        return (
            self.session.execute(
                select(Recommendation)
                .where(
                    Recommendation.org_id == self.org_id,
                    Recommendation.assessment_id.in_(assessment_ids),
                )
                .order_by(Recommendation.id)
            )
            .scalars()
            .all()
        )

    def latest_recommendations(self, assessment_ids: Sequence[int]) -> dict[int, Recommendation]:
        """The latest recommendation of each assessment, in one query."""
        # later ids overwrite earlier ones
        return {r.assessment_id: r for r in self.recommendations_of(assessment_ids)}

    def recommendation(self, recommendation_id: int) -> Recommendation | None:
        return self.session.execute(
            select(Recommendation).where(
                Recommendation.org_id == self.org_id, Recommendation.id == recommendation_id
            )
        ).scalar_one_or_none()

    def add(self, row: Assessment | Recommendation) -> None:
        row.org_id = self.org_id
        self.session.add(row)
        self.session.flush()


def page_assessment_repository(session: SessionDep, caller: PageCaller) -> AssessmentRepository:
    """The assessment repository of a page request, bound to the logged-in caller's organisation
    (on the request's session): page routes take it as a dependency (``assessments:
    AssessmentPageRepo``) instead of building one."""
    return AssessmentRepository(session, caller.org_id)


AssessmentPageRepo = Annotated[AssessmentRepository, Depends(page_assessment_repository)]
