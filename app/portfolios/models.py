from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, DeploymentScoped, utcnow


class Portfolio(DeploymentScoped, Base):
    """A named set of axis interventions for one deployment. Items are stored with every
    parameter resolved (defaults filled in), so a later change of defaults never changes it."""

    __tablename__ = "portfolios"
    __table_args__ = (UniqueConstraint("deployment_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    items: Mapped[list[dict[str, Any]]]
    source_assessment_id: Mapped[int | None] = mapped_column(
        ForeignKey("assessments.id", ondelete="SET NULL")
    )
    created_by: Mapped[str] = mapped_column(String(254))
    # Everyone who wrote, edited or submitted it (none of them may decide on it).
    contributors: Mapped[list[str]] = mapped_column(default=list)
    submitted_by: Mapped[str | None] = mapped_column(String(254))
    submitted_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    def audit_dict(self) -> dict[str, Any]:
        return {"deployment_id": self.deployment_id, "name": self.name, "items": self.items}
