"""The API of a deployment's hosted alternatives: each hosted API at the deployment's traffic
against the self-hosted cost of its serving plan (the hosted catalog is app/catalog's)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from app.auth.deps import ApiCaller
from app.catalog import hosted
from app.catalog.hosted_api import HostedAlternativesOut
from app.db import SessionDep
from app.deployments import service as deployments
from app.estimates.service import deployment_serving_plan, serving_plan_fields
from app.web.deps import IdPath

router = APIRouter(tags=["hosted models"])


@router.get(
    "/deployments/{deployment_id:int}/hosted-alternatives",
    response_model=HostedAlternativesOut,
    responses={
        404: {"description": "No such deployment in your organisation"},
        422: {"description": "Invalid cached_share"},
    },
)
def hosted_alternatives(
    deployment_id: IdPath,
    session: SessionDep,
    caller: ApiCaller,
    cached_share: Annotated[
        float | None,
        Query(
            ge=0,
            le=1,
            allow_inf_nan=False,
            description="share of prompt tokens read from the provider's cache (default 0)",
        ),
    ] = None,
) -> HostedAlternativesOut:
    """Each hosted API at the deployment's traffic (requests/day) and token mix (mean input and
    output tokens), cheapest first, against the self-hosted cost of its serving plan (peak-sized
    replicas at your GPU price): monthly cost, cost per 1,000 requests, the break-even traffic,
    and what it changes for governance (the data leaves the organisation; with PII or regulated
    flags, OWASP LLM02:2025 and NIST AI 600-1 Data Privacy). Formulas in the README."""
    dep = deployments.get(session, caller, deployment_id)
    plan = deployment_serving_plan(session, dep)
    out = hosted.alternatives(
        dep,
        serving_plan_fields(plan),
        hosted.effective_models(session, caller.org_id),
        cached_share,
    )
    out.pop("_self_hosted_steps")
    return HostedAlternativesOut.model_validate(out)
