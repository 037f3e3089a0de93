from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response

from app.auth.context import Caller
from app.auth.deps import ApiCaller
from app.auth.guards import api_requires
from app.auth.permissions import Permission
from app.db import SessionDep
from app.portfolios import service
from app.portfolios.schemas import (
    CompareOut,
    EvaluationOut,
    FromRecommendationIn,
    PortfolioCreate,
    PortfolioOut,
    PortfolioUpdate,
)
from app.web.deps import IdPath, IdQuery, SettingsDep

router = APIRouter(prefix="/portfolios", tags=["portfolios"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    403: {"description": "Role may not change portfolios"},
    404: {"description": "No such portfolio or deployment in your organisation"},
}


@router.get("", response_model=list[PortfolioOut])
def list_portfolios(
    session: SessionDep, caller: ApiCaller, deployment_id: IdQuery = None
) -> object:
    return service.out(session, caller, service.list_(session, caller, deployment_id))


@router.post(
    "",
    response_model=PortfolioOut,
    status_code=201,
    responses={**_ERRORS, 409: {"description": "Name already used"}},
)
def create_portfolio(
    data: PortfolioCreate,
    session: SessionDep,
    caller: Annotated[Caller, Depends(api_requires(Permission.portfolio_write))],
    settings: SettingsDep,
    response: Response,
) -> object:
    p = service.create(session, caller, data, audit_key=settings.audit_hmac_key)
    response.headers["Location"] = f"/api/v1/portfolios/{p.id}"
    return service.out(session, caller, [p])[0]


@router.get("/compare", response_model=CompareOut, responses=_ERRORS)
def compare_portfolios(
    session: SessionDep,
    caller: ApiCaller,
    ids: str = Query(description="2 to 4 comma-separated portfolio ids", examples=["1,2,3"]),
) -> CompareOut:
    out = service.comparison(session, caller, service.parse_ids(ids))
    return CompareOut.model_validate(out.as_json())


@router.get("/{portfolio_id:int}", response_model=PortfolioOut, responses=_ERRORS)
def get_portfolio(portfolio_id: IdPath, session: SessionDep, caller: ApiCaller) -> object:
    return service.out(session, caller, [service.get(session, caller, portfolio_id)])[0]


@router.patch(
    "/{portfolio_id:int}",
    response_model=PortfolioOut,
    responses={**_ERRORS, 409: {"description": "Name already used"}},
)
def update_portfolio(
    portfolio_id: IdPath,
    data: PortfolioUpdate,
    session: SessionDep,
    caller: Annotated[Caller, Depends(api_requires(Permission.portfolio_write))],
    settings: SettingsDep,
) -> object:
    p = service.update(session, caller, portfolio_id, data, audit_key=settings.audit_hmac_key)
    return service.out(session, caller, [p])[0]


_DECIDED: dict[int | str, dict[str, Any]] = {
    409: {"description": "It has governance decisions (never deleted)"}
}
_NOT_DRAFT: dict[int | str, dict[str, Any]] = {
    409: {"description": "Not a draft, or its deployment is archived"}
}


@router.delete("/{portfolio_id:int}", status_code=204, responses={**_ERRORS, **_DECIDED})
def delete_portfolio(
    portfolio_id: IdPath,
    session: SessionDep,
    caller: Annotated[Caller, Depends(api_requires(Permission.portfolio_write))],
    settings: SettingsDep,
) -> Response:
    service.delete(session, caller, portfolio_id, audit_key=settings.audit_hmac_key)
    return Response(status_code=204)


@router.post(
    "/{portfolio_id:int}/duplicate", response_model=PortfolioOut, status_code=201, responses=_ERRORS
)
def duplicate_portfolio(
    portfolio_id: IdPath,
    session: SessionDep,
    caller: Annotated[Caller, Depends(api_requires(Permission.portfolio_write))],
    settings: SettingsDep,
) -> object:
    p = service.duplicate(session, caller, portfolio_id, audit_key=settings.audit_hmac_key)
    return service.out(session, caller, [p])[0]


@router.post(
    "/{portfolio_id:int}/submit", response_model=PortfolioOut, responses={**_ERRORS, **_NOT_DRAFT}
)
def submit_portfolio(
    portfolio_id: IdPath,
    session: SessionDep,
    caller: Annotated[Caller, Depends(api_requires(Permission.portfolio_write))],
    settings: SettingsDep,
) -> object:
    """Submit for a decision: it enters the governance queue (GET /api/v1/approvals)."""
    p = service.submit(session, caller, portfolio_id, audit_key=settings.audit_hmac_key)
    return service.out(session, caller, [p])[0]


@router.get("/{portfolio_id:int}/evaluation", response_model=EvaluationOut, responses=_ERRORS)
def evaluate_portfolio(portfolio_id: IdPath, session: SessionDep, caller: ApiCaller) -> object:
    return service.evaluation(session, caller, service.get(session, caller, portfolio_id)).as_json()


# A portfolio from an assessment's recommendation, under /assessments (the portfolios own it).
from_recommendation_router = APIRouter(tags=["portfolios"])
_FROM_RECOMMENDATION_ERRORS: dict[int | str, dict[str, Any]] = {
    403: {"description": "Role may not submit assessments"},
    404: {"description": "No such deployment or assessment in your organisation"},
}


@from_recommendation_router.post(
    "/assessments/{assessment_id:int}/portfolio",
    response_model=PortfolioOut,
    status_code=201,
    responses=_FROM_RECOMMENDATION_ERRORS,
)
def portfolio_from_recommendation(
    assessment_id: IdPath,
    session: SessionDep,
    caller: Annotated[Caller, Depends(api_requires(Permission.portfolio_write))],
    settings: SettingsDep,
    body: FromRecommendationIn | None = None,
) -> object:
    """A portfolio of the latest recommendation's items (those whose ranks are given, else all),
    each with the parameters its card was priced with (the questionnaire's corpus size)."""
    p = service.from_recommendation(
        session,
        caller,
        assessment_id,
        audit_key=settings.audit_hmac_key,
        ranks=body.ranks if body else None,
    )
    return service.out(session, caller, [p])[0]
