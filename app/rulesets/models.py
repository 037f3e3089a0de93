from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, utcnow


class RuleSetVersion(Base):
    """One published version of the rule set: the YAML as written and its parsed form. Versions
    are never edited; publishing makes the next one (recommendations cite the version they used).
    Like the axis matrix, the rule set is product-wide reference data."""

    __tablename__ = "rule_set_versions"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(unique=True)
    text: Mapped[str] = mapped_column(Text)
    body: Mapped[dict[str, Any]]
    note: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
