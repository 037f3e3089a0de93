"""Reference data, loaded from ``app/catalog/data``; versioned where admins may edit it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Base, OrgScoped, utcnow


class Axis(Base):
    __tablename__ = "axes"

    key: Mapped[str] = mapped_column(String(48), primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    stage: Mapped[str] = mapped_column(String(48))
    description: Mapped[str] = mapped_column(Text)
    position: Mapped[int]


class Dimension(Base):
    __tablename__ = "dimensions"

    key: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text)
    position: Mapped[int]


class MatrixVersion(OrgScoped, Base):
    """One version of an organisation's axis matrix. Each organisation starts from the shipped
    Table 1 (its version 1) and numbers its own versions; one organisation's edit never changes
    another's matrix."""

    __tablename__ = "matrix_versions"
    __table_args__ = (UniqueConstraint("org_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int]
    note: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str | None] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    cells: Mapped[list[MatrixCell]] = relationship(
        back_populates="matrix_version", lazy="selectin", order_by="MatrixCell.id"
    )


class MatrixCell(Base):
    __tablename__ = "matrix_cells"
    __table_args__ = (UniqueConstraint("version_id", "axis_key", "dimension_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("matrix_versions.id", ondelete="CASCADE"))
    axis_key: Mapped[str] = mapped_column(ForeignKey("axes.key"))
    dimension_key: Mapped[str] = mapped_column(ForeignKey("dimensions.key"))
    level: Mapped[int]
    wording: Mapped[str] = mapped_column(Text)
    matrix_version: Mapped[MatrixVersion] = relationship(back_populates="cells")


class Profile(Base):
    __tablename__ = "profiles"

    key: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text)
    weights: Mapped[dict[str, Any]]


class FailureMode(Base):
    __tablename__ = "failure_modes"

    key: Mapped[str] = mapped_column(String(48), primary_key=True)
    name: Mapped[str] = mapped_column(String(160))
    origin: Mapped[str] = mapped_column(String(16))
    axes: Mapped[list[str]]
    primary_technique: Mapped[str] = mapped_column(String(48))
    expected_outcome: Mapped[str] = mapped_column(Text)
    rationale: Mapped[str] = mapped_column(Text)
    citation: Mapped[str] = mapped_column(Text)
    position: Mapped[int]


class Technique(Base):
    __tablename__ = "techniques"

    key: Mapped[str] = mapped_column(String(48), primary_key=True)
    axis_key: Mapped[str] = mapped_column(ForeignKey("axes.key"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text)
    citation: Mapped[str] = mapped_column(Text)


class Evidence(Base):
    __tablename__ = "evidence"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # "milestone" | "method"
    axis_key: Mapped[str] = mapped_column(ForeignKey("axes.key"), index=True)
    year: Mapped[int | None]
    title: Mapped[str] = mapped_column(String(200))
    detail: Mapped[dict[str, Any]]
    citation: Mapped[str] = mapped_column(Text)


class Gpu(Base):
    __tablename__ = "gpus"

    key: Mapped[str] = mapped_column(String(48), primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    memory_gb: Mapped[float]
    usable_memory_gib: Mapped[float | None]
    bandwidth_tbps: Mapped[float]
    bf16_tflops_dense: Mapped[float]
    fp8_tflops_dense: Mapped[float | None]
    int8_tops_dense: Mapped[float | None]
    fp4_tflops_dense: Mapped[float | None]
    tdp_w: Mapped[float | None]
    notes: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(Text, default="")
    # The shipped default price (maintained by a platform operator, not by organisations).
    price_per_hour_usd: Mapped[float | None]
    price_source: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


PRICE_KINDS = {
    "on_demand": "on-demand rate negotiated or observed by the organisation",
    "reserved": "reserved / committed-use rate",
    "spot": "spot / preemptible rate",
    "owned": "owned hardware, amortised cost per GPU-hour",
    "negotiated": "negotiated contract rate",
    "other": "other (see the note)",
}


class GpuPriceOverride(OrgScoped, Base):
    """An organisation's own $/GPU-hour for a catalog GPU; it replaces the shipped default in
    every estimate, recommendation and portfolio of that organisation only."""

    __tablename__ = "gpu_price_overrides"
    __table_args__ = (UniqueConstraint("org_id", "gpu_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    gpu_key: Mapped[str] = mapped_column(ForeignKey("gpus.key", ondelete="CASCADE"))
    price_per_hour_usd: Mapped[float]
    kind: Mapped[str] = mapped_column(String(16))  # a key of PRICE_KINDS
    note: Mapped[str] = mapped_column(Text, default="")
    set_by: Mapped[str] = mapped_column(String(254))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ModelArch(Base):
    __tablename__ = "model_archs"

    key: Mapped[str] = mapped_column(String(48), primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    n_layers: Mapped[int]
    d_model: Mapped[int]
    d_ff: Mapped[int]
    n_heads: Mapped[int]
    n_kv_heads: Mapped[int]
    d_head: Mapped[int]
    vocab: Mapped[int]
    tied_embeddings: Mapped[bool]
    n_experts: Mapped[int]
    experts_per_token: Mapped[int]
    published_total_params: Mapped[int | None] = mapped_column(BigInteger)
    source: Mapped[str] = mapped_column(Text, default="")
    # Published quality figures (benchmark, value, setting, source_url, location), from
    # app/catalog/data/model_quality.csv; empty for models without published figures.
    quality: Mapped[list[dict[str, Any]]] = mapped_column(default=list)


class Framework(Base):
    __tablename__ = "frameworks"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(160))
    source: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]]
