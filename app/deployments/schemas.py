"""Deployment I/O schemas. Field names are the API contract (DESIGN.md, issue 2 §5)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

from app.estimators.engines import ENGINE_NAMES
from app.estimators.traffic import (
    DEFAULT_PEAK_TO_AVERAGE,
    MAX_PEAK_TO_AVERAGE,
    TrafficError,
    check_profile,
)

NameStr = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
TextStr = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]


PEAK_DESCRIPTION = (
    f"Busiest hour's request rate / the 24-hour mean (1 to {MAX_PEAK_TO_AVERAGE:g}). Omitted: "
    f"{DEFAULT_PEAK_TO_AVERAGE:g}, an assumption (business hours); see README"
)
PROFILE_DESCRIPTION = (
    "24 relative weights, hour 0 = 00:00-01:00 (non-negative, positive sum); replaces "
    "peak_to_average, which is then max/mean of the profile"
)


def check_hourly_profile(v: list[float] | None, info: ValidationInfo) -> list[float] | None:
    if v is None:
        return None
    if info.data.get("peak_to_average") is not None:
        raise ValueError("give peak_to_average or hourly_profile, not both")
    try:
        return check_profile(v)
    except TrafficError as exc:
        raise ValueError(str(exc)) from None


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
    peak_to_average: float | None = Field(
        default=None,
        ge=1,
        le=MAX_PEAK_TO_AVERAGE,
        allow_inf_nan=False,
        description=PEAK_DESCRIPTION,
    )
    hourly_profile: list[float] | None = Field(
        default=None, max_length=24, description=PROFILE_DESCRIPTION
    )

    @field_validator("engine")
    @classmethod
    def _engine_known(cls, v: str) -> str:
        return check_engine(v)

    @field_validator("hourly_profile")
    @classmethod
    def _profile_ok(cls, v: list[float] | None, info: ValidationInfo) -> list[float] | None:
        return check_hourly_profile(v, info)

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
    # null clears the shape back to the default; setting one clears the other.
    peak_to_average: float | None = Field(
        default=None,
        ge=1,
        le=MAX_PEAK_TO_AVERAGE,
        allow_inf_nan=False,
        description=PEAK_DESCRIPTION,
    )
    hourly_profile: list[float] | None = Field(
        default=None, max_length=24, description=PROFILE_DESCRIPTION
    )

    @field_validator("engine")
    @classmethod
    def _engine_known(cls, v: str | None) -> str | None:
        return None if v is None else check_engine(v)

    @field_validator("hourly_profile")
    @classmethod
    def _profile_ok(cls, v: list[float] | None, info: ValidationInfo) -> list[float] | None:
        return check_hourly_profile(v, info)


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
    peak_to_average: float | None
    hourly_profile: list[float] | None
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


class DeploymentEconomics(BaseModel):
    """``GET /deployments/{id}/economics``: capacity planned for the peak at the p95 SLOs.

    Money figures are null when they cannot be computed; ``reasons`` then says why."""

    requests_per_s_average: float
    requests_per_s_peak: float
    peak_to_average: float
    peak_to_average_source: str
    hourly_profile: list[float] | None
    hourly_replicas: list[int] | None
    max_requests_per_s_per_replica: float | None
    replicas: int | None
    gpus_per_replica: int
    gpu_hours_per_month: float | None
    monthly_cost_usd: float | None
    cost_per_1k_requests_usd: float | None
    ttft_p95_ms: float | None
    tpot_p95_ms: float | None
    time_to_answer_p95_ms: float | None
    meets_slos: bool
    within_budget: bool | None
    price_per_gpu_hour_usd: float | None
    price_source: str
    slo_percentile: int
    reasons: dict[str, str] = Field(
        default_factory=dict, description="Field name -> why that figure is null"
    )
    assumptions: dict[str, str]
