from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, JSONType, TimestampMixin


class Deployment(TimestampMixin, Base):
    __tablename__ = "deployments"
    __table_args__ = (UniqueConstraint("org_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(120))
    use_case: Mapped[str] = mapped_column(Text)
    model_key: Mapped[str] = mapped_column(ForeignKey("model_archs.key"))
    gpu_key: Mapped[str] = mapped_column(ForeignKey("gpus.key"))
    n_gpus: Mapped[int]
    engine: Mapped[str] = mapped_column(String(32))
    requests_per_day: Mapped[int] = mapped_column(BigInteger)
    mean_input_tokens: Mapped[int]
    mean_output_tokens: Mapped[int]
    ttft_slo_ms: Mapped[float]
    tpot_slo_ms: Mapped[float]
    monthly_budget_usd: Mapped[float]
    profile: Mapped[str] = mapped_column(ForeignKey("profiles.key"))
    regulatory_flags: Mapped[list[str]]
    segments: Mapped[list[dict[str, Any]]]
    # What brings in risks beyond the axes (app.frameworks.deployment_sources):
    human_oversight: Mapped[str | None] = mapped_column(String(16))  # none|monitored|reviews_each
    outputs_feed_systems: Mapped[bool] = mapped_column(default=False)
    can_act: Mapped[bool] = mapped_column(default=False)  # calls tools or acts as an agent
    # Deleting a deployment with governance records (decisions, evaluations) archives it instead.
    archived_at: Mapped[datetime | None]
    archived_by: Mapped[str | None] = mapped_column(String(254))
    # Traffic shape (issue 18): None/None means the documented default ratio.
    peak_to_average: Mapped[float | None]
    hourly_profile: Mapped[list[float] | None] = mapped_column(JSONType, nullable=True)

    def audit_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "use_case": self.use_case,
            "model": self.model_key,
            "gpu": self.gpu_key,
            "n_gpus": self.n_gpus,
            "engine": self.engine,
            "requests_per_day": self.requests_per_day,
            "mean_input_tokens": self.mean_input_tokens,
            "mean_output_tokens": self.mean_output_tokens,
            "ttft_slo_ms": self.ttft_slo_ms,
            "tpot_slo_ms": self.tpot_slo_ms,
            "monthly_budget_usd": self.monthly_budget_usd,
            "profile": self.profile,
            "regulatory_flags": list(self.regulatory_flags),
            "segments": list(self.segments),
            "human_oversight": self.human_oversight,
            "outputs_feed_systems": self.outputs_feed_systems,
            "can_act": self.can_act,
            "peak_to_average": self.peak_to_average,
            "hourly_profile": None if self.hourly_profile is None else list(self.hourly_profile),
        }
