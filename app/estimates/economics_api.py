"""The API of a deployment's serving economics (under /deployments; the plan is the estimates')."""

from __future__ import annotations

from fastapi import APIRouter

from app.auth.deps import ApiCaller
from app.db import SessionDep
from app.deployments.schemas import DeploymentEconomics
from app.estimates import service
from app.web.deps import IdPath

router = APIRouter(tags=["deployments"])


@router.get(
    "/deployments/{deployment_id:int}/economics",
    response_model=DeploymentEconomics,
    responses={
        404: {"description": "No such deployment in your organisation"},
        422: {"description": "The deployment cannot be estimated (the reason is given)"},
    },
)
def deployment_economics(
    deployment_id: IdPath, session: SessionDep, caller: ApiCaller
) -> DeploymentEconomics:
    """Serving economics planned for the traffic's peak at the p95 SLOs (the same computation
    as the deployment page). Money figures are null with a reason when the GPU is unpriced."""
    return service.economics(session, caller, deployment_id)
