"""Deployment I/O schemas. Field names are the API contract (DESIGN.md, issue 2 §5)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from app.estimators.engines import ENGINE_NAMES

NameStr = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
TextStr = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]


def check_engine(v: str) -> str:
    if v not in ENGINE_NAMES:
        raise ValueError(f"unknown engine; allowed: {', '.join(ENGINE_NAMES)}")
    return v


class ProfileKey(StrEnum):
    startup = "startup"
    enterprise = "enterprise"
    research = "research"


class RegulatoryFlag(StrEnum):
    pii = "pii"
    regulated_sector = "regulated_sector"
    phi = "phi"
    financial = "financial"
    minors = "minors"
    eu_ai_act_high_risk = "eu_ai_act_high_risk"


class Risk(StrEnum):
    low = "low"
    medium = "medium"
    high = "high"


class HumanOversight(StrEnum):
    none = "none"  # outputs take effect without a person
    monitored = "monitored"  # people monitor and can intervene
    reviews_each = "reviews_each"  # a person reviews each output before it takes effect


class Segment(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]
    risk: Risk


class DeploymentBase(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: NameStr
    use_case: TextStr
    model: Annotated[str, StringConstraints(min_length=1, max_length=48)] = Field(
        description="Model catalog key (GET /api/v1/models)"
    )
    gpu: Annotated[str, StringConstraints(min_length=1, max_length=48)] = Field(
        description="GPU catalog key (GET /api/v1/gpus)"
    )
    n_gpus: int = Field(ge=1, le=4096)
    engine: str = Field(description=f"One of {', '.join(ENGINE_NAMES)}")
    requests_per_day: int = Field(ge=0, le=10**10)
    mean_input_tokens: int = Field(ge=1, le=10_000_000)
    mean_output_tokens: int = Field(ge=1, le=1_000_000)
    ttft_slo_ms: float = Field(gt=0, le=3_600_000, allow_inf_nan=False)
    tpot_slo_ms: float = Field(gt=0, le=60_000, allow_inf_nan=False)
    monthly_budget_usd: float = Field(ge=0, le=1e10, allow_inf_nan=False)
    profile: ProfileKey
    regulatory_flags: list[RegulatoryFlag] = Field(default_factory=list, max_length=10)
    segments: list[Segment] = Field(default_factory=list, max_length=50)
    human_oversight: HumanOversight | None = Field(
        default=None,
        description="none | monitored | reviews_each; null: not stated (a risk of its own)",
    )
    outputs_feed_systems: bool = Field(
        default=False, description="Outputs are passed to other systems (code, SQL, APIs)"
    )
    can_act: bool = Field(default=False, description="The system calls tools or acts as an agent")

    @field_validator("engine")
    @classmethod
    def _engine_known(cls, v: str) -> str:
        return check_engine(v)

    @field_validator("regulatory_flags")
    @classmethod
    def _dedupe_flags(cls, v: list[RegulatoryFlag]) -> list[RegulatoryFlag]:
        return list(dict.fromkeys(v))

    @field_validator("segments")
    @classmethod
    def _unique_segments(cls, v: list[Segment]) -> list[Segment]:
        names = [s.name.lower() for s in v]
        if len(names) != len(set(names)):
            raise ValueError("segment names must be unique")
        return v


class DeploymentCreate(DeploymentBase):
    pass


class DeploymentUpdate(BaseModel):
    """PATCH: every field optional; only the fields sent are changed."""

    model_config = ConfigDict(extra="forbid")

    name: NameStr | None = None
    use_case: TextStr | None = None
    model: Annotated[str, StringConstraints(min_length=1, max_length=48)] | None = None
    gpu: Annotated[str, StringConstraints(min_length=1, max_length=48)] | None = None
    n_gpus: int | None = Field(default=None, ge=1, le=4096)
    engine: str | None = None
    requests_per_day: int | None = Field(default=None, ge=0, le=10**10)
    mean_input_tokens: int | None = Field(default=None, ge=1, le=10_000_000)
    mean_output_tokens: int | None = Field(default=None, ge=1, le=1_000_000)
    ttft_slo_ms: float | None = Field(default=None, gt=0, le=3_600_000, allow_inf_nan=False)
    tpot_slo_ms: float | None = Field(default=None, gt=0, le=60_000, allow_inf_nan=False)
    monthly_budget_usd: float | None = Field(default=None, ge=0, le=1e10, allow_inf_nan=False)
    profile: ProfileKey | None = None
    regulatory_flags: list[RegulatoryFlag] | None = Field(default=None, max_length=10)
    segments: list[Segment] | None = Field(default=None, max_length=50)
    human_oversight: HumanOversight | None = None
    outputs_feed_systems: bool | None = None
    can_act: bool | None = None

    @field_validator("engine")
    @classmethod
    def _engine_known(cls, v: str | None) -> str | None:
        return None if v is None else check_engine(v)


class DeploymentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    use_case: str
    model: str = Field(validation_alias="model_key")
    gpu: str = Field(validation_alias="gpu_key")
    n_gpus: int
    engine: str
    requests_per_day: int
    mean_input_tokens: int
    mean_output_tokens: int
    ttft_slo_ms: float
    tpot_slo_ms: float
    monthly_budget_usd: float
    profile: str
    regulatory_flags: list[str]
    segments: list[Segment]
    human_oversight: str | None = None
    outputs_feed_systems: bool = False
    can_act: bool = False
    created_at: datetime
    updated_at: datetime
    archived_at: datetime | None = Field(
        default=None, description="Set when deleted while it had governance records"
    )
    archived_by: str | None = None


class DeploymentPage(BaseModel):
    items: list[DeploymentRead]
    total: int
    limit: int
    offset: int
