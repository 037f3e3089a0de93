from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Response
from sqlalchemy.orm import Session

from app.assessments import service, workflow
from app.assessments.models import Assessment, Recommendation
from app.assessments.schemas import (
    AssessmentIn,
    AssessmentOut,
    DryRunOut,
    RecommendationOut,
    RuleSetCheck,
    RuleSetOut,
    RuleSetPublish,
    RuleSetText,
)
from app.auth.context import Caller
from app.auth.deps import ApiCaller
from app.auth.guards import api_requires
from app.auth.permissions import Permission
from app.db import SessionDep
from app.rulesets import service as rulesets
from app.rulesets.models import RuleSetVersion
from app.web.deps import IdPath, IdQuery, SettingsDep

router = APIRouter(tags=["assessments"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    403: {"description": "Role may not submit assessments"},
    404: {"description": "No such deployment or assessment in your organisation"},
}


def recommendation_out(
    rec: Recommendation, status: str = "submitted", contributors: list[str] | None = None
) -> RecommendationOut:
    r = rec.result
    return RecommendationOut.model_validate(
        {
            "id": rec.id,
            "previous_id": rec.previous_id,
            "created_at": rec.created_at,
            "items": r["items"],
            "governance_burden": r["governance_burden"],
            "governance_capacity": r["governance_capacity"],
            "no_intervention": r["no_intervention"],
            "notes": r["notes"],
            "warnings": r["warnings"],
            "plan": r.get("plan"),
            "status": status,
            "contributors": contributors or [rec.created_by],
            "versions": {
                "matrix": rec.matrix_version,
                "rules": rec.rules_version,
                "estimator": rec.estimator_version,
            },
        }
    )


def assessment_out(session: Session, caller: Caller, a: Assessment) -> AssessmentOut:
    recs = service.recommendations(session, caller, a.id)
    return AssessmentOut(
        id=a.id,
        deployment_id=a.deployment_id,
        status=a.status,
        answers=a.answers,
        **a.serving,
        created_by=a.created_by,
        submitted_at=a.submitted_at,
        recommendation=recommendation_out(
            recs[-1],
            workflow.recommendation_statuses(session, caller.org_id, recs[-1:])[recs[-1].id],
            workflow.recommendation_contributors(recs[-1], a, recs),
        )
        if recs
        else None,
        recommendations=[r.id for r in recs],
    )


@router.post(
    "/deployments/{deployment_id:int}/assessments",
    response_model=AssessmentOut,
    status_code=201,
    responses={**_ERRORS, 409: {"description": "Idempotency-Key reused with another body"}},
)
def submit_assessment(
    deployment_id: IdPath,
    data: AssessmentIn,
    session: SessionDep,
    caller: Annotated[Caller, Depends(api_requires(Permission.assessment_submit))],
    settings: SettingsDep,
    response: Response,
    idempotency_key: Annotated[
        str | None,
        Header(description="Retries with the same key return the same assessment"),
    ] = None,
) -> AssessmentOut:
    a, replayed = service.submit(
        session,
        caller,
        deployment_id,
        data,
        audit_key=settings.audit_hmac_key,
        idempotency_key=idempotency_key,
    )
    response.headers["Location"] = f"/api/v1/assessments/{a.id}"
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return assessment_out(session, caller, a)


@router.get(
    "/deployments/{deployment_id:int}/assessments",
    response_model=list[AssessmentOut],
    responses=_ERRORS,
)
def list_assessments(
    deployment_id: IdPath, session: SessionDep, caller: ApiCaller
) -> list[AssessmentOut]:
    rows = service.list_for_deployment(session, caller, deployment_id)
    return [assessment_out(session, caller, a) for a in rows]


@router.get("/assessments/{assessment_id:int}", response_model=AssessmentOut, responses=_ERRORS)
def get_assessment(assessment_id: IdPath, session: SessionDep, caller: ApiCaller) -> AssessmentOut:
    return assessment_out(session, caller, service.get(session, caller, assessment_id))


@router.post(
    "/assessments/{assessment_id:int}/rerun",
    response_model=AssessmentOut,
    status_code=201,
    responses=_ERRORS,
)
def rerun_assessment(
    assessment_id: IdPath,
    session: SessionDep,
    caller: Annotated[Caller, Depends(api_requires(Permission.assessment_submit))],
    settings: SettingsDep,
) -> AssessmentOut:
    service.rerun(session, caller, assessment_id, audit_key=settings.audit_hmac_key)
    return assessment_out(session, caller, service.get(session, caller, assessment_id))


# ---- rule set ------------------------------------------------------------------------------
def ruleset_out(row: RuleSetVersion) -> RuleSetOut:
    return RuleSetOut(
        version=row.version,
        note=row.note,
        created_by=row.created_by,
        created_at=row.created_at,
        rules=list(row.body.get("rules", [])),
        yaml=row.text,
    )


@router.get("/rules", response_model=RuleSetOut, tags=["rules"])
def get_rules(session: SessionDep, caller: ApiCaller, version: IdQuery = None) -> RuleSetOut:
    return ruleset_out(rulesets.get_version(session, caller.org_id, version))


@router.get("/rules/versions", response_model=list[RuleSetOut], tags=["rules"])
def list_rule_versions(session: SessionDep, caller: ApiCaller) -> list[RuleSetOut]:
    return [ruleset_out(r) for r in rulesets.versions(session, caller.org_id)]


@router.post(
    "/rules/validate",
    response_model=RuleSetCheck,
    tags=["rules"],
    responses={422: {"description": "Invalid; `field` is the path of the first error"}},
)
def validate_rules(
    data: RuleSetText,
    session: SessionDep,
    caller: Annotated[Caller, Depends(api_requires(Permission.rules_edit))],
) -> RuleSetCheck:
    _, rs = rulesets.parse_text(session, data.yaml)
    return RuleSetCheck(valid=True, rules=len(rs.rules))


@router.post("/rules/dry-run", response_model=DryRunOut, tags=["rules"])
def dry_run_rules(
    data: RuleSetText,
    session: SessionDep,
    caller: Annotated[Caller, Depends(api_requires(Permission.rules_edit))],
) -> DryRunOut:
    _, rs = rulesets.parse_text(session, data.yaml)
    return service.dry_run(session, caller, rs)


@router.post(
    "/rules",
    response_model=RuleSetOut,
    status_code=201,
    tags=["rules"],
    responses={409: {"description": "Another publish took this version number first; reload"}},
)
def publish_rules(
    data: RuleSetPublish,
    session: SessionDep,
    caller: Annotated[Caller, Depends(api_requires(Permission.rules_edit))],
    settings: SettingsDep,
) -> RuleSetOut:
    row = rulesets.publish(session, caller, data.yaml, data.note, audit_key=settings.audit_hmac_key)
    return ruleset_out(row)
