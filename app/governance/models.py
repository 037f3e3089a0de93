from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, DeploymentScoped, OrgScoped, utcnow

# Decisions and notifications are app/decisions' (the features below governance read them);
# named here too for governance's own modules.
from app.decisions.models import Decision as Decision
from app.decisions.models import Notification as Notification


class SegmentEvaluation(DeploymentScoped, Base):
    """A disaggregated evaluation of a deployment: metrics per segment before and after an
    intervention, with the regressions found (stored as computed, cited by reports)."""

    __tablename__ = "evaluations"

    id: Mapped[int] = mapped_column(primary_key=True)
    label: Mapped[str] = mapped_column(String(200))
    tolerance: Mapped[float]
    results: Mapped[list[dict[str, Any]]]
    analysis: Mapped[dict[str, Any]]
    created_by: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SoaVersion(DeploymentScoped, Base):
    """One version of a deployment's ISO/IEC 42001 statement of applicability (issue 21, item 1):
    one row per Annex A control in ``controls`` (applicable or excluded with a justification,
    status, owner, evidence). Approved like a recommendation: decisions with target_type "soa"
    bound to the SHA-256 of the content; an edit voids them."""

    __tablename__ = "soa_versions"
    __table_args__ = (UniqueConstraint("deployment_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int]
    controls: Mapped[list[dict[str, Any]]]
    created_by: Mapped[str] = mapped_column(String(254))
    contributors: Mapped[list[str]] = mapped_column(default=list)
    submitted_by: Mapped[str | None] = mapped_column(String(254))
    submitted_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class SoaHistory(OrgScoped, Base):
    """One change of one control of one SoA version (who, when, before and after)."""

    __tablename__ = "soa_history"

    id: Mapped[int] = mapped_column(primary_key=True)
    soa_id: Mapped[int] = mapped_column(
        ForeignKey("soa_versions.id", ondelete="CASCADE"), index=True
    )
    control: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(32))
    changed_by: Mapped[str] = mapped_column(String(254))
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    before: Mapped[dict[str, Any]]
    after: Mapped[dict[str, Any]]


class SoaEvidenceFile(OrgScoped, Base):
    """An uploaded evidence file of a control, stored with its SHA-256 (content-addressed)."""

    __tablename__ = "soa_evidence_files"

    id: Mapped[int] = mapped_column(primary_key=True)
    soa_id: Mapped[int] = mapped_column(
        ForeignKey("soa_versions.id", ondelete="CASCADE"), index=True
    )
    control: Mapped[str] = mapped_column(String(16))
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    uploaded_by: Mapped[str] = mapped_column(String(254))
    uploaded_at: Mapped[datetime] = mapped_column(default=utcnow)


# Deleting a deployment asks whether governance keeps records about it (registered on import).
from app.governance import records as _records  # noqa: E402, F401
