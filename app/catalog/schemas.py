from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class AxisRating(BaseModel):
    level: int
    wording: str


class AxisOut(BaseModel):
    key: str
    name: str
    stage: str
    description: str
    ratings: dict[str, AxisRating]
    suitability: dict[str, float] = Field(description="Derived 1-5 suitability per profile")


class AxesOut(BaseModel):
    matrix_version: int
    items: list[AxisOut]


class FailureModeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    key: str
    name: str
    origin: str
    axes: list[str]
    primary_technique: str
    expected_outcome: str
    rationale: str
    citation: str


class ParameterOut(BaseModel):
    name: str
    type: str = Field(description="int, float, bool, choice or model (a catalog model key)")
    unit: str
    minimum: float | None
    maximum: float | None
    exclusive_maximum: bool
    choices: list[str]
    default: float | int | bool | str
    source: str = Field(description="Where the default comes from")


class TechniqueOut(BaseModel):
    key: str
    axis: str
    name: str
    description: str
    citation: str
    priced: bool = Field(description="Whether the estimators model its cost and latency")
    parameters: list[ParameterOut]


class GpuOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    key: str
    name: str
    memory_gb: float
    usable_memory_gib: float | None
    bandwidth_tbps: float
    bf16_tflops_dense: float
    fp8_tflops_dense: float | None
    int8_tops_dense: float | None
    fp4_tflops_dense: float | None
    tdp_w: float | None
    notes: str
    source: str
    price_per_hour_usd: float | None = Field(
        description="The effective $/GPU-hour for your organisation: its own price, else the "
        "shipped default (null: unpriced)"
    )
    price_source: str = Field(description="Where the effective price comes from, in words")
    price_origin: Literal["organisation", "shipped_default", "unpriced"]
    price_kind: str | None = Field(description="Your organisation's price: what it is")
    price_note: str
    default_price_per_hour_usd: float | None = Field(
        description="The shipped default (maintained by the platform operator)"
    )
    default_price_source: str


PriceKind = Literal["on_demand", "reserved", "spot", "owned", "negotiated", "other"]


class OrgPriceIn(BaseModel):
    """Your organisation's own $/GPU-hour for a GPU (replaces the shipped default in its
    estimates, recommendations and portfolios only)."""

    model_config = ConfigDict(extra="forbid")
    price_per_hour_usd: float = Field(gt=0, lt=1000, allow_inf_nan=False)
    kind: PriceKind = Field(
        description="on_demand, reserved (committed use), spot, owned (hardware amortised), "
        "negotiated, or other"
    )
    note: str = Field("", max_length=500, description="e.g. the contract, term or offer")


class DefaultPriceIn(BaseModel):
    """A platform operator's shipped default price (null: unpriced) with its source."""

    model_config = ConfigDict(extra="forbid")
    price_per_hour_usd: float | None = Field(gt=0, lt=1000, allow_inf_nan=False)
    source: str = Field("", max_length=500, description="Offer, provider and date")


class QualityOut(BaseModel):
    value: float = Field(description="Published score (0-100 unless the benchmark says otherwise)")
    source: str = Field(description="Where it is published (URL and place) and the setting")
    setting: str = Field(description="Checkpoint (base / instruct / reasoning), shots, metric")
    kind: Literal["base", "instruct", "reasoning"]


class ModelOut(BaseModel):
    key: str
    name: str
    n_layers: int
    d_model: int
    d_ff: int
    n_heads: int
    n_kv_heads: int
    d_head: int
    vocab: int
    tied_embeddings: bool
    n_experts: int
    experts_per_token: int
    total_params: int = Field(description="Computed from the architecture fields")
    active_params: int
    non_embedding_params: int
    published_total_params: int | None
    kv_bytes_per_token_bf16: int
    source: str
    quality: dict[str, QualityOut] = Field(
        default_factory=dict,
        description="One published figure per benchmark: the developer's own instruct figure "
        "first, then a third-party or reasoning-mode figure, then a base-model figure",
    )
