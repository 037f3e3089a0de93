from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from app.db import SessionDep
from app.governance import service
from app.governance.schemas import DecisionIn, DecisionOut
from app.web.deps import ApiCaller, SettingsDep

router = APIRouter(tags=["governance"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    403: {"description": "Only governance and admin decide; never on one's own submission"},
    404: {"description": "No such recommendation or portfolio in your organisation"},
}


@router.post("/recommendations/{recommendation_id}/decision", response_model=DecisionOut,
             status_code=201, responses=_ERRORS)  # fmt: skip
def decide_recommendation(
    recommendation_id: int, data: DecisionIn, session: SessionDep, caller: ApiCaller,
    settings: SettingsDep,
) -> object:  # fmt: skip
    return service.decide_recommendation(session, caller, recommendation_id, data,
                                         audit_key=settings.audit_hmac_key)  # fmt: skip


@router.get("/recommendations/{recommendation_id}/decisions", response_model=list[DecisionOut])
def recommendation_decisions(
    recommendation_id: int, session: SessionDep, caller: ApiCaller
) -> object:
    return service.decisions(session, caller, target_type="recommendation",
                             target_id=recommendation_id)  # fmt: skip


@router.post("/portfolios/{portfolio_id}/decision", response_model=DecisionOut, status_code=201,
             responses=_ERRORS)  # fmt: skip
def decide_portfolio(
    portfolio_id: int, data: DecisionIn, session: SessionDep, caller: ApiCaller,
    settings: SettingsDep,
) -> object:  # fmt: skip
    return service.decide_portfolio(session, caller, portfolio_id, data,
                                    audit_key=settings.audit_hmac_key)  # fmt: skip


@router.get("/portfolios/{portfolio_id}/decisions", response_model=list[DecisionOut])
def portfolio_decisions(portfolio_id: int, session: SessionDep, caller: ApiCaller) -> object:
    return service.decisions(session, caller, target_type="portfolio", target_id=portfolio_id)
