"""Portfolio search I/O (issue 20). Field names are the API contract.

The search (app/estimators/search.py) returns frozen dataclasses; the response models read them
by attribute (``from_attributes``), so the JSON is made here, at the boundary: the API's 200 body
and the search job's stored result (``model_dump(mode="json")``)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Money = Annotated[float, Field(ge=0, le=1e10, allow_inf_nan=False)]
Millis = Annotated[float, Field(gt=0, le=3_600_000, allow_inf_nan=False)]


class SearchConstraints(BaseModel):
    """A field left out takes the deployment's value (monthly budget, TTFT and TPOT SLOs) or the
    latest assessment's governance capacity; an explicit null means no limit."""

    model_config = ConfigDict(extra="forbid")
    monthly_budget_usd: Money | None = None
    one_off_budget_usd: Money | None = None
    ttft_p95_ms: Millis | None = None
    tpot_p95_ms: Millis | None = None
    time_to_answer_p95_ms: Millis | None = None
    governance_capacity: int | None = Field(default=None, ge=0, le=100)


class FailureModeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    failure_mode: Annotated[str, StringConstraints(min_length=1, max_length=48)]
    severity: int = Field(ge=0, le=4, description="0 none … 4 critical")
    traffic_share: float = Field(
        default=0.0,
        ge=0,
        le=1,
        allow_inf_nan=False,
        description="Share of the traffic it hits, 0-1 (0.3 is 30 %; the page takes percent)",
    )
    segment_risk: int = Field(default=0, ge=0, le=3, description="0 none, 1 low, 2 medium, 3 high")


class PortfolioSearchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    constraints: SearchConstraints = Field(default_factory=SearchConstraints)
    failure_modes: list[FailureModeIn] | None = Field(
        default=None,
        min_length=1,
        max_length=20,
        description="Omitted: the failure modes of the deployment's latest assessment",
    )
    include_hosted: bool = Field(
        default=False,
        description="Also try hosted LLM APIs (the organisation's prices): moving to one, or "
        "routing the easy share of requests to one (README 'Hosted options in decisions')",
    )


class SearchItemOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    axis: str
    technique: str
    params: dict[str, Any]


class GovernanceRiskOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    framework: str
    id: str
    title: str
    rationale: str


class HostedPartOut(BaseModel):
    """A point's hosted API part: the API's share of the bill (its prices x the routed requests'
    tokens), the self-hosted rest, the latency's source, and the data that leaves the
    organisation with the framework risks it brings in."""

    model_config = ConfigDict(from_attributes=True)
    key: str
    provider: str
    model: str
    kind: str = Field(description='"move" (every request) or "route" (the easiest share)')
    share: float
    hosted_monthly_cost_usd: float
    self_hosted_monthly_cost_usd: float | None
    cached_share: float
    input_per_m_usd: float
    cached_input_per_m_usd: float | None
    output_per_m_usd: float
    latency_known: bool
    latency_source: str
    data_leaves_organisation: bool
    governance_risks: list[GovernanceRiskOut]
    governance_burden_added: int
    note: str


class ParetoPointOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    items: list[SearchItemOut]
    monthly_cost_usd: float | None
    one_off_usd: float | None
    ttft_p95_ms: float | None
    tpot_p95_ms: float | None
    time_to_answer_p95_ms: float | None
    coverage: float
    governance_burden: int
    feasible: bool
    hosted: HostedPartOut | None = Field(
        default=None,
        description="The hosted API part of the point (include_hosted): its share of the bill, "
        "the latency's source, the data that leaves the organisation and the risks it brings in",
    )


class BestOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    index: int | None = Field(description="Position in pareto[]; null when nothing is feasible")
    why: str


class ExcludedOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    technique: str
    why: str


class BaselineOut(BaseModel):
    """The deployment as it is (GPU-hours needed) and why serving economics fail today."""

    model_config = ConfigDict(from_attributes=True)
    monthly_cost_usd: float | None
    ttft_p95_ms: float | None
    tpot_p95_ms: float | None
    fits: bool
    serving_fails: list[str]


class PortfolioSearchOut(BaseModel):
    candidates_evaluated: int
    states_evaluated: int = Field(description="Distinct serving states evaluated (load simulated)")
    elapsed_ms: float
    pareto: list[ParetoPointOut]
    best: BestOut
    excluded: list[ExcludedOut]
    serving_first: bool
    baseline: BaselineOut
    constraints: dict[str, float | int | None] = Field(
        description="The constraints applied (defaults filled in)"
    )
    failure_modes: list[FailureModeIn] = Field(description="The failure modes searched")
    include_hosted: bool = Field(default=False, description="Whether hosted APIs were tried")
    constraint_defaults: dict[str, str] = Field(
        default_factory=dict,
        description="The constraints left out of the request, each with where its value came "
        "from (time_to_answer_p95_ms: the deployment's TTFT SLO)",
    )


class SearchPartOut(BaseModel):
    """A search part's job result: each serving state's outcome (``StateOutcome.as_json``), keyed
    by the state's number, read back by ``outcome_from_json``."""

    outcomes: dict[str, list[Any]]
