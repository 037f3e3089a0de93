"""POST /api/v1/deployments/{id}/portfolio-search (issue 20)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Depends, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from app.auth.context import Caller
from app.auth.guards import api_requires
from app.auth.permissions import Permission
from app.db import SessionDep
from app.estimates.schemas import JobOut
from app.jobs import service as jobs
from app.jobs.models import Job
from app.portfolios import search_service
from app.portfolios.search_schemas import PortfolioSearchIn, PortfolioSearchOut
from app.web.deps import IdPath, SettingsDep

router = APIRouter(prefix="/deployments", tags=["portfolios"])

_RESPONSES: dict[int | str, dict[str, Any]] = {
    202: {
        "model": JobOut,
        "description": "Over the inline limit: started as a job; poll "
        "Location (GET /api/v1/jobs/{id}); its result is this route's 200 body",
    },
    403: {"description": "Role may not build portfolios (architects and admins may)"},
    404: {"description": "No such deployment in your organisation"},
    409: {"description": "You already have a heavy job queued or running"},
}


@router.post(
    "/{deployment_id:int}/portfolio-search", response_model=PortfolioSearchOut, responses=_RESPONSES
)
def portfolio_search(
    deployment_id: IdPath,
    data: PortfolioSearchIn,
    session: SessionDep,
    caller: Annotated[Caller, Depends(api_requires(Permission.portfolio_write))],
    settings: SettingsDep,
    request: Request,
    background: BackgroundTasks,
) -> Any:
    """Search technique combinations for the deployment's failure modes within the constraints:
    the Pareto frontier on coverage, monthly cost, time to answer and governance burden, the
    recommended point and why, and what was left out and why (README "Portfolio search")."""
    out = search_service.search(session, caller, deployment_id, data)
    if isinstance(out, Job):
        background.add_task(jobs.submit, out.id, settings, request.app.state.job_runner)
        return JSONResponse(
            jsonable_encoder(JobOut.model_validate(out)),
            status_code=202,
            headers={"Location": f"/api/v1/jobs/{out.id}"},
        )
    return out
