"""Governance decisions on recommendations, portfolios and statements of applicability, and the
in-app notifications about them (tables ``decisions`` and ``notifications``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, DeploymentScoped, OrgScoped, utcnow


class Decision(DeploymentScoped, Base):
    """A governance decision on a recommendation or a portfolio. Decisions are never edited: a
    later one supersedes an earlier one on the same target, and both stay on record."""

    __tablename__ = "decisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    target_type: Mapped[str] = mapped_column(String(16))  # recommendation | portfolio
    target_id: Mapped[int] = mapped_column(index=True)
    decision: Mapped[str] = mapped_column(String(16))  # approved | rejected
    comment: Mapped[str] = mapped_column(Text)
    conditions: Mapped[list[str]]
    adopted: Mapped[list[str]]  # axis/technique adopted, when it differs from the engine's ranking
    override_reason: Mapped[str | None] = mapped_column(Text)
    decided_by: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # SHA-256 of the canonical content decided on (app.decisions.workflow.content_sha256); a later
    # edit of the target voids the decision: it stays on record, marked void, with who and why.
    content_sha256: Mapped[str | None] = mapped_column(String(64))
    voided_at: Mapped[datetime | None]
    voided_by: Mapped[str | None] = mapped_column(String(254))
    void_reason: Mapped[str | None] = mapped_column(Text)

    def audit_dict(self) -> dict[str, Any]:
        return {
            "target": f"{self.target_type}/{self.target_id}",
            "decision": self.decision,
            "comment": self.comment,
            "conditions": list(self.conditions),
            "adopted": list(self.adopted),
            "override_reason": self.override_reason,
            "content_sha256": self.content_sha256,
        }


class Notification(OrgScoped, Base):
    """An in-app notice to one user (by e-mail, as authorship is recorded): a decision on their
    work, or an approval of theirs voided by a later edit."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    recipient: Mapped[str] = mapped_column(String(254), index=True)
    kind: Mapped[str] = mapped_column(String(32))  # decision | void
    message: Mapped[str] = mapped_column(Text)
    link: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    read_at: Mapped[datetime | None]
