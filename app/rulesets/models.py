from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, OrgScoped, utcnow


class RuleSetVersion(OrgScoped, Base):
    """One published version of an organisation's rule set: the YAML as written and its parsed
    form. Versions are never edited; publishing makes the organisation's next one
    (recommendations cite the version they used). Each organisation starts from the shipped rule
    set (its version 1); like the axis matrix, one organisation's versions never reach another."""

    __tablename__ = "rule_set_versions"
    __table_args__ = (UniqueConstraint("org_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int]
    text: Mapped[str] = mapped_column(Text)
    body: Mapped[dict[str, Any]]
    note: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
