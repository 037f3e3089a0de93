from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, utcnow


class Calibration(Base):
    """Efficiency factors measured on a real accelerator (torch) or imported from a vLLM
    benchmark. The newest one for an organisation, GPU and engine is used by its estimates."""

    __tablename__ = "calibrations"

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    gpu_key: Mapped[str] = mapped_column(ForeignKey("gpus.key"))
    engine: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(16))  # torch | vllm-bench
    device: Mapped[str] = mapped_column(String(200))
    torch_version: Mapped[str | None] = mapped_column(String(64))
    model_key: Mapped[str | None] = mapped_column(String(48))
    matmul_tflops: Mapped[float | None]
    bandwidth_tbps: Mapped[float | None]
    prefill_efficiency: Mapped[float]
    decode_efficiency: Mapped[float]
    error_prefill_pct: Mapped[float | None]
    error_decode_pct: Mapped[float | None]
    bound_violations: Mapped[int] = mapped_column(default=0)
    details: Mapped[dict[str, Any]]
    created_by: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
