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
