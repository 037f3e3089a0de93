"""Assessment and rule-set I/O schemas. Field names are the API contract (issue 5)."""

from __future__ import annotations

from datetime import datetime
from functools import cached_property
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from app.rules.engine import SEVERITY_MAX
from app.rules.questionnaire import FOLLOW_UP_NAMES, Answer
from app.rules.safe_yaml import RULESET_LIMITS

SegmentName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]


class AnswerIn(BaseModel):
    """One failure mode's answer. Follow-ups apply to some failure modes only (the questionnaire
    says which); sending one that does not apply is an error, not silently ignored."""

    model_config = ConfigDict(extra="forbid")

    failure_mode: Annotated[str, StringConstraints(min_length=1, max_length=48)]
    severity: int = Field(ge=0, le=SEVERITY_MAX, description="0 none … 4 critical")
    traffic_share: float | None = Field(
        default=None,
        ge=0,
        le=1,
        allow_inf_nan=False,
        description="Share of requests the failure hits; left out: not known, and the card is "
        "priced on every request",
    )
    segments: list[SegmentName] = Field(default_factory=list, max_length=50)
    labelled_data: bool | None = None
    distribution: Literal["stable", "shifting"] | None = None
    corpus_tokens: float | None = Field(default=None, ge=0, le=1e13, allow_inf_nan=False)
    cross_document: bool | None = None
    control_need: Literal["simplicity_cost", "principled"] | None = None

    @field_validator("segments")
    @classmethod
    def _unique(cls, v: list[str]) -> list[str]:
        return list(dict.fromkeys(v))

    def to_answer(self) -> Answer:
        """The engine's :class:`Answer`: the follow-ups given, by name."""
        given = ((k, getattr(self, k)) for k in sorted(FOLLOW_UP_NAMES))
        follow_ups = {k: v for k, v in given if v is not None}
        segments = tuple(self.segments)
        return Answer(self.failure_mode, self.severity, self.traffic_share, segments, follow_ups)


class AssessmentIn(BaseModel):
    """A submitted questionnaire. Failure modes left out count as severity 0. The observed serving
    numbers are optional: without them the estimators' figures for the deployment are used."""

    model_config = ConfigDict(extra="forbid")

    answers: list[AnswerIn] = Field(min_length=1, max_length=40)
    observed_ttft_ms: float | None = Field(default=None, gt=0, le=3_600_000, allow_inf_nan=False)
    observed_tpot_ms: float | None = Field(default=None, gt=0, le=60_000, allow_inf_nan=False)
    observed_monthly_cost_usd: float | None = Field(
        default=None, ge=0, le=1e10, allow_inf_nan=False
    )
    governance_capacity: int | None = Field(
        default=None,
        ge=0,
        le=100,
        description="New governance reviews the organisation can take on",
    )

    @field_validator("answers")
    @classmethod
    def _one_answer_per_failure_mode(cls, v: list[AnswerIn]) -> list[AnswerIn]:
        keys = [a.failure_mode for a in v]
        dupes = sorted({k for k in keys if keys.count(k) > 1})
        if dupes:
            raise ValueError(f"one answer per failure mode; repeated: {', '.join(dupes)}")
        return v

    @cached_property
    def engine_answers(self) -> tuple[Answer, ...]:
        """The answers as the engine reads them, built once (validation and evaluation share
        them; ``answers[i]`` is ``engine_answers[i]``)."""
        return tuple(a.to_answer() for a in self.answers)


class BeforeAfterDelta(BaseModel):
    before: float | None
    after: float | None
    delta: float | None


class BeforeAfter(BaseModel):
    before: float | None
    after: float | None


class SloAfter(BaseModel):
    ttft_ok: bool
    tpot_ok: bool
    time_to_answer_ok: bool


class OneOffUsd(BaseModel):
    total: float | None
    gpu: float | None
    labelling: float | None
    preference_data: float | None
    embedding_and_index: float | None
    evaluation: float | None


class Band(BaseModel):
    p10: float
    p90: float


class Impact(BaseModel):
    """A card's figures (issue 18 item 3). Recommendations stored before the card economics
    carry only the first five fields; the others are then null."""

    monthly_cost_delta_usd: float | None
    one_off_cost_usd: float | None
    ttft_delta_ms: float | None
    tpot_delta_ms: float | None
    governance_burden: int
    cost_per_1k_requests_usd: BeforeAfterDelta | None = None
    monthly_cost_usd: BeforeAfterDelta | None = None
    """From the GPU-hours actually needed (fractional replicas)."""
    provisioned_monthly_cost_usd: BeforeAfterDelta | None = None
    """The peak's replicas all month (the hourly profile's, hour by hour): before it is the
    deployment page's monthly cost; null on recommendations stored before it."""
    provisioned_cost_per_1k_requests_usd: BeforeAfterDelta | None = None
    """That provisioned bill per 1,000 requests: before it is the deployment page's (and the
    economics endpoint's) cost per 1,000 requests; null on recommendations stored before it."""
    replicas: BeforeAfter | None = None
    gpu_hours_per_month: BeforeAfter | None = None
    ttft_p95_ms: BeforeAfter | None = None
    tpot_p95_ms: BeforeAfter | None = None
    time_to_answer_p95_ms: BeforeAfter | None = None
    slo_after: SloAfter | None = None
    traffic_share: float | None = None
    one_off_usd: OneOffUsd | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    range: dict[str, Band | None] | None = None
    """Issue 19 item 6: each figure after the change with the p10-p90 band of its family's
    leave-one-source-out errors (None: no band, the reason in ``impact_assumptions``); null on
    recommendations stored before the bands."""


class Alternative(BaseModel):
    technique: str
    axis: str
    cost_per_1k_requests_usd: float | None
    monthly_cost_usd: float | None
    time_to_answer_p95_ms: float | None
    slo_after: SloAfter | None
    why_not: str
    # hosted APIs (technique "hosted:<provider>/<model>"), issue 20 item 5
    time_to_answer_reason: str | None = None
    break_even_requests_per_day: float | None = None
    data_leaves_organisation: bool = False
    governance_risks: list[dict[str, str]] = Field(default_factory=list)
    hosted_key: str | None = None


class RuleFired(BaseModel):
    rule: str
    description: str
    source: str
    facts: dict[str, Any]


class ItemOut(BaseModel):
    rank: int
    axis: str
    technique: str
    technique_name: str
    score: float
    breakdown: dict[str, float]
    failure_modes: list[str]
    expected_outcome: str
    rationale: list[str]
    rules_fired: list[RuleFired]
    impact: Impact
    impact_assumptions: list[str]
    warnings: list[str]
    citations: list[str]
    controls: list[str]
    waiting_on: str | None
    alternatives: list[Alternative] = Field(default_factory=list)


class Versions(BaseModel):
    matrix: int
    rules: int
    estimator: str


class RecommendationOut(BaseModel):
    id: int
    previous_id: int | None
    created_at: datetime
    items: list[ItemOut]
    governance_burden: int
    governance_capacity: int | None
    no_intervention: bool
    notes: list[str]
    warnings: list[str]
    plan: dict[str, Any] | None = Field(
        default=None,
        description="What all the items together do to the deployment: one portfolio "
        "evaluation (the card figures before/after, meets_slo, warnings); null when not priced",
    )
    status: str = Field(
        default="submitted", description="submitted | approved | rejected | superseded"
    )
    contributors: list[str] = Field(
        default_factory=list,
        description="The assessment's author and whoever re-ran it: none may decide on it",
    )
    versions: Versions


class AssessmentOut(BaseModel):
    id: int
    deployment_id: int
    status: str
    answers: list[dict[str, Any]]
    observed_ttft_ms: float | None = None
    observed_tpot_ms: float | None = None
    observed_monthly_cost_usd: float | None = None
    governance_capacity: int | None = None
    created_by: str
    submitted_at: datetime | None
    recommendation: RecommendationOut | None
    recommendations: list[int] = Field(description="Every recommendation id, oldest first")


class RuleSetText(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # Characters, never more than UTF-8 bytes: the loader then holds the bytes to the same cap.
    yaml: Annotated[str, StringConstraints(min_length=1, max_length=RULESET_LIMITS.max_bytes)]


class RuleSetPublish(RuleSetText):
    note: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class RuleSetOut(BaseModel):
    version: int
    note: str
    created_by: str
    created_at: datetime
    rules: list[dict[str, Any]]
    yaml: str


class RuleSetCheck(BaseModel):
    valid: bool
    rules: int


class DryRunChange(BaseModel):
    assessment_id: int
    deployment: str
    before: list[str]
    after: list[str]
    top_changed: bool
    added: list[str]
    removed: list[str]


class DryRunOut(BaseModel):
    current_version: int
    assessments: int
    changed: int
    changes: list[DryRunChange]
