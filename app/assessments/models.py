from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, DeploymentScoped, OrgScoped, utcnow


class Assessment(DeploymentScoped, Base):
    """One questionnaire for a deployment. A draft is edited in place by its author; submitting
    freezes the answers and produces the first recommendation."""

    __tablename__ = "assessments"
    __table_args__ = (UniqueConstraint("org_id", "idempotency_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    status: Mapped[str] = mapped_column(String(16))  # draft | submitted
    answers: Mapped[list[dict[str, Any]]]
    serving: Mapped[dict[str, Any]]  # observed_* and governance_capacity as answered
    form: Mapped[dict[str, Any] | None]  # a draft's fields exactly as typed (may be invalid)
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    request_hash: Mapped[str | None] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    submitted_at: Mapped[datetime | None]


class Recommendation(OrgScoped, Base):
    """The rules engine's output for an assessment: an immutable snapshot with the versions and
    the facts it was computed from. A rerun adds a new row linked to the one it replaces."""

    __tablename__ = "recommendations"

    id: Mapped[int] = mapped_column(primary_key=True)
    assessment_id: Mapped[int] = mapped_column(
        ForeignKey("assessments.id", ondelete="CASCADE"), index=True
    )
    previous_id: Mapped[int | None] = mapped_column(ForeignKey("recommendations.id"))
    matrix_version: Mapped[int]
    rules_version: Mapped[int]
    estimator_version: Mapped[str] = mapped_column(String(32))
    facts: Mapped[dict[str, Any]]
    result: Mapped[dict[str, Any]]
    created_by: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
