from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query

from app.auth.context import Caller
from app.auth.deps import ApiCaller
from app.auth.guards import api_requires
from app.auth.permissions import Permission
from app.db import SessionDep
from app.governance import service, soa_api, workflow
from app.governance.schemas import (
    ApprovalOut,
    DecisionIn,
    DecisionOut,
    EvaluationIn,
    EvaluationOut,
    NotificationOut,
    NotificationsRead,
)
from app.web.deps import IdPath, SettingsDep

router = APIRouter(tags=["governance"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    403: {"description": "Only governance and admin decide; never on one's own submission"},
    404: {"description": "No such recommendation or portfolio in your organisation"},
}
_NOT_AWAITING: dict[int | str, dict[str, Any]] = {
    409: {
        "description": "Not awaiting a decision: a draft portfolio (submit it first), already "
        "decided (a new version or re-run is decided on), superseded, or its deployment archived"
    }
}


@router.post(
    "/recommendations/{recommendation_id:int}/decision",
    response_model=DecisionOut,
    status_code=201,
    responses={**_ERRORS, **_NOT_AWAITING},
)
def decide_recommendation(
    recommendation_id: IdPath,
    data: DecisionIn,
    session: SessionDep,
    caller: Annotated[Caller, Depends(api_requires(Permission.decision_make))],
    settings: SettingsDep,
) -> object:
    return service.decide_recommendation(
        session, caller, recommendation_id, data, audit_key=settings.audit_hmac_key
    )


@router.get("/recommendations/{recommendation_id:int}/decisions", response_model=list[DecisionOut])
def recommendation_decisions(
    recommendation_id: IdPath, session: SessionDep, caller: ApiCaller
) -> object:
    return service.decisions(
        session, caller, target_type="recommendation", target_id=recommendation_id
    )


@router.post(
    "/portfolios/{portfolio_id:int}/decision",
    response_model=DecisionOut,
    status_code=201,
    responses={**_ERRORS, **_NOT_AWAITING},
)
def decide_portfolio(
    portfolio_id: IdPath,
    data: DecisionIn,
    session: SessionDep,
    caller: Annotated[Caller, Depends(api_requires(Permission.decision_make))],
    settings: SettingsDep,
) -> object:
    return service.decide_portfolio(
        session, caller, portfolio_id, data, audit_key=settings.audit_hmac_key
    )


@router.get("/portfolios/{portfolio_id:int}/decisions", response_model=list[DecisionOut])
def portfolio_decisions(portfolio_id: IdPath, session: SessionDep, caller: ApiCaller) -> object:
    return service.decisions(session, caller, target_type="portfolio", target_id=portfolio_id)


@router.post(
    "/deployments/{deployment_id:int}/evaluations",
    response_model=EvaluationOut,
    status_code=201,
    responses=_ERRORS,
)
def record_evaluation(
    deployment_id: IdPath,
    data: EvaluationIn,
    session: SessionDep,
    caller: Annotated[Caller, Depends(api_requires(Permission.evaluation_write))],
    settings: SettingsDep,
) -> object:
    ev = service.record_evaluation(
        session, caller, deployment_id, data, audit_key=settings.audit_hmac_key
    )
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
    return service.risk_picture(session, caller, deployment_id).as_json()


APPROVAL_STATUS = {
    "pending": "submitted",
    "approved": "approved",
    "rejected": "rejected",
    "draft": "draft",
    "superseded": "superseded",
}


@router.get("/approvals", response_model=list[ApprovalOut])
def approvals(
    session: SessionDep,
    caller: ApiCaller,
    status: Literal["pending", "approved", "rejected", "draft", "superseded"] = Query(
        default="pending", description="pending: submitted and awaiting a decision"
    ),
) -> object:
    """The governance queue: recommendations and portfolios of active deployments in a status,
    oldest first (what, which deployment, who submitted, since when, who may not decide)."""
    return workflow.queue(session, caller, APPROVAL_STATUS[status])


@router.get("/notifications", response_model=list[NotificationOut])
def list_notifications(
    session: SessionDep, caller: ApiCaller, unread: bool = Query(default=False)
) -> object:
    """Your in-app notifications, newest first: decisions on your work, voided approvals."""
    return workflow.notifications(session, caller, unread_only=unread)


@router.post("/notifications/read", response_model=NotificationsRead)
def read_notifications(session: SessionDep, caller: ApiCaller) -> NotificationsRead:
    return NotificationsRead(marked_read=workflow.mark_read(session, caller))


router.include_router(soa_api.router)
