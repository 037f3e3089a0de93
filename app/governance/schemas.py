"""Governance I/O schemas. Field names are the API contract (issue 7)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]
Short = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    decision: Literal["approved", "rejected"]
    comment: Text
    conditions: list[Short] = Field(default_factory=list, max_length=20)
    adopted: list[Annotated[str, StringConstraints(min_length=3, max_length=100)]] = Field(
        default_factory=list,
        max_length=20,
        description="axis/technique adopted instead of the engine's ranking (recommendations)",
    )
    override_reason: Text | None = Field(
        default=None, description="Required when `adopted` departs from the engine's ranking"
    )


class DecisionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    deployment_id: int
    target_type: str
    target_id: int
    decision: str
    comment: str
    conditions: list[str]
    adopted: list[str]
    override_reason: str | None
    decided_by: str
    created_at: datetime
    content_sha256: str | None = Field(
        description="SHA-256 of the canonical content decided on (null for decisions recorded "
        "before approvals were bound to content)"
    )
    voided_at: datetime | None = Field(description="Set when a later edit voided the decision")
    voided_by: str | None
    void_reason: str | None


class ResultIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    segment: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]
    metric: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]
    phase: Literal["before", "after"]
    value: float = Field(allow_inf_nan=False)
    higher_is_better: bool = True


class EvaluationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    results: list[ResultIn] = Field(min_length=2, max_length=5000)
    tolerance: float = Field(
        default=0.0,
        ge=0,
        le=1e9,
        allow_inf_nan=False,
        description="How much worse (in the metric's units) counts as a regression",
    )


class RegressionOut(BaseModel):
    segment: str
    metric: str
    before: float
    after: float
    change: float
    risk: str
    hidden: bool = Field(description="The aggregate of the metric improved or held meanwhile")


class EvaluationOut(BaseModel):
    id: int
    deployment_id: int
    label: str
    tolerance: float
    results: list[dict[str, object]]
    regressions: list[RegressionOut]
    aggregate: dict[str, dict[str, float]] = Field(description="before/after -> metric -> value")
    created_by: str
    created_at: datetime


class ApprovalOut(BaseModel):
    target_type: Literal["recommendation", "portfolio", "soa"]
    target_id: int
    title: str
    deployment_id: int
    deployment: str
    status: str
    submitted_by: str = Field(description="Who submitted it (a recommendation: who produced it)")
    since: datetime = Field(description="When it was submitted")
    contributors: list[str] = Field(description="None of them may decide on it")
    link: str = Field(description="The page to decide on it")


class NotificationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    kind: str
    message: str
    link: str
    created_at: datetime
    read_at: datetime | None


class NotificationsRead(BaseModel):
    marked_read: int


class SoaControlIn(BaseModel):
    """A change of one control of a statement of applicability (omitted fields unchanged)."""

    model_config = ConfigDict(extra="forbid")
    applicable: bool | None = None
    basis: Literal["risk_assessment", "external_requirement"] | None = Field(
        default=None, description="What an exclusion relies on (required to exclude)"
    )
    reference: Short | None = Field(
        default=None, description="The risk-assessment entry or external requirement cited"
    )
    justification: Text | None = None
    status: Literal["planned", "implemented", "verified"] | None = None
    owner: Annotated[str, StringConstraints(strip_whitespace=True, max_length=254)] | None = None


class SoaLinkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: Annotated[str, StringConstraints(strip_whitespace=True, min_length=8, max_length=1000)]
    title: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] = ""
