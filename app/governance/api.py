from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from app.db import SessionDep
from app.governance import service
from app.governance.schemas import DecisionIn, DecisionOut, EvaluationIn, EvaluationOut
from app.web.deps import ApiCaller, IdPath, SettingsDep

router = APIRouter(tags=["governance"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    403: {"description": "Only governance and admin decide; never on one's own submission"},
    404: {"description": "No such recommendation or portfolio in your organisation"},
}


@router.post("/recommendations/{recommendation_id:int}/decision", response_model=DecisionOut,
             status_code=201, responses=_ERRORS)  # fmt: skip
def decide_recommendation(
    recommendation_id: IdPath, data: DecisionIn, session: SessionDep, caller: ApiCaller,
    settings: SettingsDep,
) -> object:  # fmt: skip
    return service.decide_recommendation(session, caller, recommendation_id, data,
                                         audit_key=settings.audit_hmac_key)  # fmt: skip


@router.get("/recommendations/{recommendation_id:int}/decisions", response_model=list[DecisionOut])
def recommendation_decisions(
    recommendation_id: IdPath, session: SessionDep, caller: ApiCaller
) -> object:
    return service.decisions(session, caller, target_type="recommendation",
                             target_id=recommendation_id)  # fmt: skip


@router.post("/portfolios/{portfolio_id:int}/decision", response_model=DecisionOut, status_code=201,
             responses=_ERRORS)  # fmt: skip
def decide_portfolio(
    portfolio_id: IdPath, data: DecisionIn, session: SessionDep, caller: ApiCaller,
    settings: SettingsDep,
) -> object:  # fmt: skip
    return service.decide_portfolio(session, caller, portfolio_id, data,
                                    audit_key=settings.audit_hmac_key)  # fmt: skip


@router.get("/portfolios/{portfolio_id:int}/decisions", response_model=list[DecisionOut])
def portfolio_decisions(portfolio_id: IdPath, session: SessionDep, caller: ApiCaller) -> object:
    return service.decisions(session, caller, target_type="portfolio", target_id=portfolio_id)


@router.post("/deployments/{deployment_id:int}/evaluations", response_model=EvaluationOut,
             status_code=201, responses=_ERRORS)  # fmt: skip
def record_evaluation(
    deployment_id: IdPath, data: EvaluationIn, session: SessionDep, caller: ApiCaller,
    settings: SettingsDep,
) -> object:  # fmt: skip
    ev = service.record_evaluation(session, caller, deployment_id, data,
                                   audit_key=settings.audit_hmac_key)  # fmt: skip
    return service.evaluation_out(ev)


@router.get("/deployments/{deployment_id:int}/evaluations", response_model=list[EvaluationOut])
def list_evaluations(deployment_id: IdPath, session: SessionDep, caller: ApiCaller) -> object:
    return [service.evaluation_out(e) for e in service.evaluations(session, caller, deployment_id)]


@router.get("/evaluations/{evaluation_id:int}", response_model=EvaluationOut, responses=_ERRORS)
def get_evaluation(evaluation_id: IdPath, session: SessionDep, caller: ApiCaller) -> object:
    return service.evaluation_out(service.get_evaluation(session, caller, evaluation_id))


@router.get("/deployments/{deployment_id:int}/risks", responses=_ERRORS)
def deployment_risks(deployment_id: IdPath, session: SessionDep, caller: ApiCaller) -> Any:
    """The axes in play (recommended or adopted), each framework's entries they bring in with
    the rationale, and the ISO/IEC 42001 statement of applicability."""
    return service.risk_picture(session, caller, deployment_id)
