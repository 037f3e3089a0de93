from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response

from app.auth.context import Caller
from app.auth.deps import ApiCaller
from app.auth.guards import api_requires
from app.auth.permissions import Permission
from app.db import SessionDep
from app.deployments import service
from app.deployments.schemas import (
    DeploymentCreate,
    DeploymentPage,
    DeploymentRead,
    DeploymentUpdate,
)
from app.web.deps import IdPath, PageDep, SettingsDep

router = APIRouter(prefix="/deployments", tags=["deployments"])

_ERRORS: dict[int | str, dict[str, object]] = {
    403: {"description": "Role may not change deployments"},
    404: {"description": "No such deployment in your organisation"},
}


@router.get("", response_model=DeploymentPage)
def list_deployments(
    session: SessionDep,
    caller: ApiCaller,
    page: PageDep,
    archived: Literal["exclude", "include", "only"] = Query(
        default="exclude",
        description="Archived deployments (deleted while they had governance records) are "
        "left out unless asked for",
    ),
) -> DeploymentPage:
    rows, total = service.list_(
        session, caller, limit=page.limit, offset=page.offset, archived=archived
    )
    return DeploymentPage(
        items=[DeploymentRead.model_validate(r) for r in rows],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


@router.post(
    "",
    response_model=DeploymentRead,
    status_code=201,
    responses={**_ERRORS, 409: {"description": "Name already used"}},
)
def create_deployment(
    data: DeploymentCreate,
    session: SessionDep,
    caller: Annotated[Caller, Depends(api_requires(Permission.deployment_write))],
    settings: SettingsDep,
    response: Response,
) -> object:
    dep = service.create(session, caller, data, audit_key=settings.audit_hmac_key)
    response.headers["Location"] = f"/api/v1/deployments/{dep.id}"
    return dep


@router.get("/{deployment_id:int}", response_model=DeploymentRead, responses=_ERRORS)
def get_deployment(deployment_id: IdPath, session: SessionDep, caller: ApiCaller) -> object:
    return service.get(session, caller, deployment_id)


@router.patch(
    "/{deployment_id:int}",
    response_model=DeploymentRead,
    responses={**_ERRORS, 409: {"description": "Name already used"}},
)
def update_deployment(
    deployment_id: IdPath,
    data: DeploymentUpdate,
    session: SessionDep,
    caller: Annotated[Caller, Depends(api_requires(Permission.deployment_write))],
    settings: SettingsDep,
) -> object:
    return service.update(session, caller, deployment_id, data, audit_key=settings.audit_hmac_key)


@router.delete(
    "/{deployment_id:int}",
    status_code=204,
    responses={
        **_ERRORS,
        200: {
            "description": "Archived instead of deleted: it has governance decisions or "
            "evaluations, which are never deleted",
            "model": DeploymentRead,
        },
    },
)
def delete_deployment(
    deployment_id: IdPath,
    session: SessionDep,
    caller: Annotated[Caller, Depends(api_requires(Permission.deployment_write))],
    settings: SettingsDep,
) -> Response:
    outcome = service.delete(session, caller, deployment_id, audit_key=settings.audit_hmac_key)
    if outcome == "deleted":
        return Response(status_code=204)
    dep = DeploymentRead.model_validate(service.get(session, caller, deployment_id))
    return Response(dep.model_dump_json(), status_code=200, media_type="application/json")
