"""An organisation's own copy of a hosted LLM API's prices (the shipped catalog is
``app/catalog/data/hosted_models.yaml``; a row here replaces the shipped row with the same key,
or adds a model the catalog lacks, for that organisation only)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, OrgScoped, utcnow


class HostedModelPrice(OrgScoped, Base):
    __tablename__ = "hosted_model_prices"
    __table_args__ = (UniqueConstraint("org_id", "model_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    model_key: Mapped[str] = mapped_column(String(64))
    provider: Mapped[str] = mapped_column(String(80))
    model: Mapped[str] = mapped_column(String(120))
    input_per_m_usd: Mapped[float]
    cached_input_per_m_usd: Mapped[float | None]
    output_per_m_usd: Mapped[float]
    context_tokens: Mapped[int | None]
    note: Mapped[str] = mapped_column(Text, default="")
    set_by: Mapped[str] = mapped_column(String(254))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
