"""API: the hosted LLM API catalog (your organisation's copy) and a deployment's hosted
alternatives (self-host or buy)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, ConfigDict, Field

from app.auth.context import Caller
from app.auth.deps import ApiCaller
from app.auth.guards import api_requires
from app.auth.permissions import Permission
from app.catalog import hosted
from app.db import SessionDep
from app.web.deps import SettingsDep

router = APIRouter(tags=["hosted models"])
ModelKeyPath = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[a-z0-9_]+$")]
PerM = Annotated[float, Field(ge=0, lt=10_000, allow_inf_nan=False)]


class HostedModelOut(BaseModel):
    key: str
    provider: str
    model: str
    input_per_m_usd: float | None = Field(description="USD per 1M input tokens; null: unpriced")
    cached_input_per_m_usd: float | None = Field(
        description="USD per 1M prompt tokens read from the provider's cache; null: none published"
    )
    output_per_m_usd: float | None
    context_tokens: int | None
    price_source: str
    price_date: str | None
    price_origin: str = Field(description="shipped_default or organisation")
    source_url: str
    notes: str
    ttft_ms: float | None = Field(description="published time to first token, where there is one")
    output_tokens_per_s: float | None
    latency_source: str
    default_prices: dict[str, Any] | None = Field(
        description="the shipped row's prices when your organisation has its own"
    )
    data_leaves_organisation: bool = True


class HostedPriceIn(BaseModel):
    """Your organisation's prices for a hosted API (a catalog model, or one you add under a new
    key: then provider and model are required)."""

    model_config = ConfigDict(extra="forbid")
    input_per_m_usd: PerM
    cached_input_per_m_usd: PerM | None = None
    output_per_m_usd: PerM
    context_tokens: int | None = Field(None, ge=1, le=hosted.MAX_TOKENS)
    provider: str | None = Field(None, max_length=80)
    model: str | None = Field(None, max_length=120)
    note: str = Field("", max_length=500, description="e.g. the contract or discount")


class GovernanceRisk(BaseModel):
    framework: str
    id: str
    title: str
    rationale: str


class HostedAlternativeOut(BaseModel):
    key: str
    provider: str
    model: str
    monthly_cost_usd: float | None
    cost_per_1k_requests_usd: float | None
    break_even_requests_per_day: float | None = Field(
        description="the lowest requests/day at which self-hosting costs no more than this API"
    )
    self_hosted_cheaper_from_requests_per_day: float | None = Field(
        description="the requests/day above which self-hosting stays cheaper"
    )
    cheaper_than_self_hosted: bool | None
    input_per_m_usd: float | None
    cached_input_per_m_usd: float | None
    output_per_m_usd: float | None
    cached_share_applied: float
    context_tokens: int | None
    fits_context: bool | None
    price_source: str
    price_date: str | None
    price_origin: str
    notes: str
    ttft_ms: float | None
    output_tokens_per_s: float | None
    same_model_as_deployment: bool = Field(
        description="the host serves the deployment's own model (a like-for-like comparison)"
    )
    data_leaves_organisation: bool
    governance_risks: list[GovernanceRisk]
    reasons: dict[str, str] = Field(description="why a figure is null, by field")


class SelfHostedOut(BaseModel):
    monthly_cost_usd: float | None
    cost_per_1k_requests_usd: float | None
    replicas: int | None
    gpus_per_replica: int | None
    gpu: str
    price_per_gpu_hour_usd: float | None
    price_source: str | None
    max_requests_per_s_per_replica: float | None
    peak_to_average: float | None
    reason: str


class HostedGovernanceOut(BaseModel):
    data_leaves_organisation: bool
    sensitive_flags: list[str]
    risks: list[GovernanceRisk]
    note: str


class HostedAlternativesOut(BaseModel):
    deployment_id: int
    requests_per_day: float
    input_tokens: float
    output_tokens: float
    cached_share: float
    cached_share_source: str
    self_hosted: SelfHostedOut
    items: list[HostedAlternativeOut]
    governance: HostedGovernanceOut
    formulas: dict[str, str]


def model_out(m: hosted.HostedModel) -> HostedModelOut:
    return HostedModelOut(
        key=m.key,
        provider=m.provider,
        model=m.model,
        input_per_m_usd=m.input_per_m_usd,
        cached_input_per_m_usd=m.cached_input_per_m_usd,
        output_per_m_usd=m.output_per_m_usd,
        context_tokens=m.context_tokens,
        price_source=m.price_source,
        price_date=m.price_date,
        price_origin=m.origin,
        source_url=m.source_url,
        notes=m.notes,
        ttft_ms=m.ttft_ms,
        output_tokens_per_s=m.output_tokens_per_s,
        latency_source=m.latency_source,
        default_prices=m.default,
    )


@router.get("/hosted-models", response_model=list[HostedModelOut])
def list_hosted_models(session: SessionDep, caller: ApiCaller) -> list[HostedModelOut]:
    """Hosted LLM APIs with your organisation's prices (its own, else the shipped catalog's,
    each with its source and date). Every one sends prompts outside the organisation."""
    return [model_out(m) for m in hosted.effective_models(session, caller.org_id)]


_ERRORS: dict[int | str, dict[str, Any]] = {
    403: {"description": "Your role may not set prices"},
    404: {"description": "Unknown hosted model"},
    422: {"description": "Invalid price, context or note; names the field"},
}


@router.put("/hosted-models/{model_key}/price", response_model=HostedModelOut, responses=_ERRORS)
def set_hosted_price(
    model_key: ModelKeyPath,
    data: HostedPriceIn,
    session: SessionDep,
    caller: Annotated[Caller, Depends(api_requires(Permission.catalog_edit))],
    settings: SettingsDep,
) -> HostedModelOut:
    """Your organisation's own prices for a hosted API (negotiated, batch, regional); its
    alternatives use them; no other organisation's catalog changes. Audited."""
    change = hosted.HostedPriceChange(**data.model_dump())
    m = hosted.set_org_price(session, caller, model_key, change, audit_key=settings.audit_hmac_key)
    return model_out(m)


@router.delete("/hosted-models/{model_key}/price", status_code=204, responses=_ERRORS)
def remove_hosted_price(
    model_key: ModelKeyPath,
    session: SessionDep,
    caller: Annotated[Caller, Depends(api_requires(Permission.catalog_edit))],
    settings: SettingsDep,
) -> None:
    """Drop your organisation's own prices: the shipped catalog's apply again. Audited."""
    hosted.remove_org_price(session, caller, model_key, audit_key=settings.audit_hmac_key)
