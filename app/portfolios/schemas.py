"""Portfolio I/O schemas. Field names are the API contract (issue 6)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.db import MAX_ID

NameStr = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
KeyStr = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=48)]
ParamValue = float | int | bool | str


class ItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    axis: KeyStr
    technique: KeyStr
    params: dict[str, ParamValue] = Field(
        default_factory=dict, description="Omitted parameters take their defaults"
    )


class PortfolioCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    deployment_id: int = Field(ge=1, le=MAX_ID)
    name: NameStr
    items: list[ItemIn] = Field(default_factory=list, max_length=20)


class FromRecommendationIn(BaseModel):
    """Which of the latest recommendation's items to take (its ranks); omitted: all of them."""

    model_config = ConfigDict(extra="forbid")
    ranks: list[Annotated[int, Field(ge=1, le=1000)]] | None = Field(
        default=None,
        min_length=1,
        max_length=50,
        description="Ranks of the recommended items to include (the cards ticked)",
    )


class PortfolioUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: NameStr | None = None
    items: list[ItemIn] | None = Field(default=None, max_length=20)


class PortfolioOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    deployment_id: int
    name: str
    items: list[dict[str, Any]]
    source_assessment_id: int | None
    created_by: str
    created_at: datetime
    updated_at: datetime
    status: str = Field(
        default="draft", description="draft | submitted | approved | rejected (app.governance)"
    )
    contributors: list[str] = Field(
        default_factory=list,
        description="Author, editors and submitter: none of them may decide on it",
    )
    submitted_by: str | None = None
    submitted_at: datetime | None = None
    content_sha256: str = Field(
        default="", description="SHA-256 of the canonical content a decision is bound to"
    )


class EvaluationOut(BaseModel):
    portfolio_id: int
    monthly_cost_usd: float | None
    one_off_cost_usd: float | None
    ttft_ms_p95: float | None = Field(description="p95 time to the first generated token (ms)")
    tpot_ms_p95: float | None
    time_to_answer_ms_p95: float | None = Field(
        default=None,
        description="p95 time to the answer's first token: TTFT + reasoning tokens x TPOT, with "
        "k samples the slowest of k (ms)",
    )
    meets_slo: bool
    capability_score: float | None
    governance_burden: int
    dimension_scores: dict[str, float | None]
    profile_suitability: dict[str, float | None]
    risks: list[str]
    warnings: list[str]
    assumptions: dict[str, list[str]]
    replicas: int | None
    gpus_per_replica: int
    fits: bool
    baseline: dict[str, float | None] = Field(
        description="The deployment without the portfolio: monthly cost, TTFT, TPOT and time to "
        "answer p95"
    )


class CompareOut(BaseModel):
    ids: list[int]
    names: dict[int, str]
    evaluations: list[EvaluationOut]
    best: dict[str, int]
    pareto_ids: list[int]
    summary: list[str]
