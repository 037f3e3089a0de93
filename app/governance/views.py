"""Decision forms (htmx fragment on the recommendation and portfolio pages)."""

from __future__ import annotations

import csv
import io
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import ValidationError

from app import frameworks
from app.assessments import service as assessments
from app.assessments.repository import AssessmentPageRepo, AssessmentRepository
from app.auth.context import Caller
from app.auth.deps import PageCaller
from app.auth.guards import page_requires
from app.auth.permissions import Permission
from app.db import SessionDep
from app.deployments import service as deployments
from app.errors import AppError, NotFound
from app.estimators.errors import FieldError
from app.governance import charts, service, workflow
from app.governance.schemas import DecisionIn, EvaluationIn
from app.portfolios import service as portfolios
from app.web.deps import IdPath, SettingsDep
from app.web.flash import flash
from app.web.forms import FormDep, as_list, field_errors, form_error
from app.web.htmx import redirect
from app.web.templates import render

router = APIRouter(include_in_schema=False)


def decision_context(
    session: SessionDep,
    repo: AssessmentRepository,
    caller: Caller,
    target_type: str,
    target_id: IdPath,
    *,
    ranked: list[str] | None = None,
    author: str = "",
) -> dict[str, Any]:
    """What the decision block needs; pages include ``governance/_decision.html`` with it: the
    decisions (voided ones marked), the workflow status, the contributors (who may not decide)."""
    decided = service.decisions(session, caller, target_type=target_type, target_id=target_id)
    if target_type == "recommendation":
        rec = repo.recommendation(target_id)
        if rec is None:
            raise NotFound(f"recommendation {target_id} not found")
        a = assessments.get(session, caller, rec.assessment_id)
        contributors = workflow.recommendation_contributors(rec, a, repo.recommendations(a.id))
        status = workflow.recommendation_statuses(session, caller.org_id, [rec])[rec.id]
        author = a.created_by
    else:
        p = portfolios.get(session, caller, target_id)
        contributors = workflow.portfolio_contributors(p)
        status = workflow.portfolio_status(p, decided)
        author = p.created_by
    own = ""
    if caller.email in contributors:
        if caller.email == author:
            own = "submitted this assessment" if target_type == "recommendation" else "wrote it"
        else:
            own = "re-ran it" if target_type == "recommendation" else "edited or submitted it"
    return {
        "decisions": decided,
        "action": f"/{target_type}s/{target_id}/decision",
        "ranked": ranked or [],
        "own_work": own,
        "decision_values": {},
        "decision_errors": {},
        "target_type": target_type,
        "target_id": target_id,
        "workflow_status": status,
        "contributors": contributors,
    }


def _payload(form: dict[str, Any]) -> dict[str, Any]:
    conditions = [c.strip() for c in str(form.get("conditions", "")).splitlines() if c.strip()]
    return {
        "decision": form.get("decision") or None,
        "comment": str(form.get("comment", "")),
        "conditions": conditions,
        "adopted": as_list(form.get("adopted")),
        "override_reason": str(form.get("override_reason", "")).strip() or None,
    }


def _target_context(
    session: SessionDep,
    repo: AssessmentRepository,
    caller: Caller,
    target_type: str,
    target_id: int,
) -> tuple[dict[str, Any], str]:
    """The decision block's context for a recommendation or a portfolio of the caller's
    organisation (404 otherwise), and the page it belongs to."""
    if target_type == "recommendation":
        rec = repo.recommendation(target_id)
        if rec is None:
            raise NotFound(f"recommendation {target_id} not found")
        a = assessments.get(session, caller, rec.assessment_id)
        ranked = [f"{i['axis']}/{i['technique']}" for i in rec.result["items"]]
        ctx = decision_context(
            session, repo, caller, target_type, target_id, ranked=ranked, author=a.created_by
        )
        return ctx, f"/assessments/{a.id}?rec={rec.id}"
    p = portfolios.get(session, caller, target_id)
    ctx = decision_context(session, repo, caller, target_type, target_id, author=p.created_by)
    return ctx, f"/portfolios/{p.id}"


def _decide(
    request: Request,
    session: SessionDep,
    repo: AssessmentRepository,
    caller: Caller,
    settings: Any,
    form: dict[str, Any],
    target_type: str,
    target_id: IdPath,
) -> Response:
    ctx, back = _target_context(session, repo, caller, target_type, target_id)
    errors: dict[str, str] = {}
    status = 200
    try:
        data = DecisionIn.model_validate(_payload(form))
        if target_type == "recommendation":
            service.decide_recommendation(
                session, caller, target_id, data, audit_key=settings.audit_hmac_key
            )
        else:
            service.decide_portfolio(
                session, caller, target_id, data, audit_key=settings.audit_hmac_key
            )
    except ValidationError as exc:
        errors = field_errors(exc)
    except (AppError, FieldError) as exc:  # a 409: not awaiting a decision (shown inline)
        field, message, refused = form_error(exc, statuses=(409, 422), default="decision")
        errors = {"decision" if refused == 409 else field: message}
        status = refused
    status = (status if status == 409 else 422) if errors else 200
    if errors:
        ctx["decision_values"] = {**form, "adopted": as_list(form.get("adopted"))}
        ctx["decision_errors"] = {k: f"{k.replace('_', ' ')}: {v}" for k, v in errors.items()}
    else:
        ctx = {
            **ctx,
            **decision_context(session, repo, caller, target_type, target_id, ranked=ctx["ranked"]),
        }
    return render(
        request,
        "governance/decision.html",
        {"caller": caller, "back": back, **ctx},
        block="decision",
        status_code=status,
    )


@router.post("/recommendations/{recommendation_id:int}/decision")
def decide_recommendation(
    recommendation_id: IdPath,
    request: Request,
    session: SessionDep,
    assessments_repo: AssessmentPageRepo,
    caller: Annotated[Caller, Depends(page_requires(Permission.decision_make))],
    settings: SettingsDep,
    form: FormDep,
) -> Response:
    return _decide(
        request,
        session,
        assessments_repo,
        caller,
        settings,
        form,
        "recommendation",
        recommendation_id,
    )


@router.post("/portfolios/{portfolio_id:int}/decision")
def decide_portfolio(
    portfolio_id: IdPath,
    request: Request,
    session: SessionDep,
    assessments_repo: AssessmentPageRepo,
    caller: Annotated[Caller, Depends(page_requires(Permission.decision_make))],
    settings: SettingsDep,
    form: FormDep,
) -> Response:
    return _decide(
        request, session, assessments_repo, caller, settings, form, "portfolio", portfolio_id
    )


# The decision panel of the assessment and portfolio pages, which load it (hx-trigger="load"):
# the block for htmx, a page of its own otherwise.
@router.get("/recommendations/{recommendation_id:int}/decision")
def recommendation_decision_panel(
    recommendation_id: IdPath,
    request: Request,
    session: SessionDep,
    assessments_repo: AssessmentPageRepo,
    caller: PageCaller,
) -> Response:
    ctx, back = _target_context(
        session, assessments_repo, caller, "recommendation", recommendation_id
    )
    return render(
        request,
        "governance/decision.html",
        {"caller": caller, "back": back, **ctx},
        block="decision",
    )


@router.get("/portfolios/{portfolio_id:int}/decision")
def portfolio_decision_panel(
    portfolio_id: IdPath,
    request: Request,
    session: SessionDep,
    assessments_repo: AssessmentPageRepo,
    caller: PageCaller,
) -> Response:
    ctx, back = _target_context(session, assessments_repo, caller, "portfolio", portfolio_id)
    return render(
        request,
        "governance/decision.html",
        {"caller": caller, "back": back, **ctx},
        block="decision",
    )


# ---- disaggregated evaluations -------------------------------------------------------------
def _parse_csv(text: str) -> tuple[list[dict[str, Any]], str | None]:
    """``segment,metric,phase,value[,higher_is_better]`` per line (a header line is skipped)."""
    out = []
    for n, raw in enumerate(csv.reader(io.StringIO(text)), 1):
        cells = [c.strip() for c in raw]
        if not any(cells) or (n == 1 and cells and cells[0].lower() == "segment"):
            continue
        if len(cells) not in (4, 5):
            return [], f"line {n}: write segment,metric,phase,value[,higher_is_better]"
        try:
            value = float(cells[3])
        except ValueError:
            return [], f"line {n}: '{cells[3]}' is not a number"
        row: dict[str, Any] = {
            "segment": cells[0],
            "metric": cells[1],
            "phase": cells[2],
            "value": value,
        }
        if len(cells) == 5:
            row["higher_is_better"] = cells[4].lower() not in ("false", "no", "0", "lower")
        out.append(row)
    return out, None


def _evaluations_page(
    request: Request,
    session: SessionDep,
    caller: Caller,
    dep_id: IdPath,
    values: dict[str, Any],
    errors: dict[str, str],
    status: int = 200,
) -> Response:
    dep = deployments.get(session, caller, dep_id)
    return render(
        request,
        "governance/evaluations.html",
        {
            "caller": caller,
            "deployment": dep,
            "evaluations": service.evaluations(session, caller, dep_id),
            "values": values,
            "errors": errors,
        },
        status_code=status,
    )


@router.get("/deployments/{deployment_id:int}/evaluations")
def evaluations_page(
    deployment_id: IdPath, request: Request, session: SessionDep, caller: PageCaller
) -> Response:
    return _evaluations_page(request, session, caller, deployment_id, {"tolerance": "0"}, {})


@router.post("/deployments/{deployment_id:int}/evaluations")
def record_evaluation(
    deployment_id: IdPath,
    request: Request,
    session: SessionDep,
    caller: Annotated[Caller, Depends(page_requires(Permission.evaluation_write))],
    settings: SettingsDep,
    form: FormDep,
) -> Response:
    rows, problem = _parse_csv(str(form.get("results_csv", "")))
    errors: dict[str, str] = {"results_csv": problem} if problem else {}
    if not errors:
        try:
            body = {
                "label": form.get("label", ""),
                "results": rows,
                "tolerance": form.get("tolerance") or 0,
            }
            data = EvaluationIn.model_validate(body)
            ev = service.record_evaluation(
                session, caller, deployment_id, data, audit_key=settings.audit_hmac_key
            )
        except ValidationError as exc:
            errors = {
                ("results_csv" if k == "results" else k): v for k, v in field_errors(exc).items()
            }
        except (AppError, FieldError) as exc:
            field, message, _ = form_error(exc, statuses=(422,), default="results_csv")
            errors = {"results_csv" if field.startswith("results") else field: message}
        else:
            resp = redirect(request, f"/evaluations/{ev.id}")
            flash(request, resp, "Evaluation recorded.")
            return resp
    return _evaluations_page(request, session, caller, deployment_id, form, errors, 422)


@router.get("/evaluations/{evaluation_id:int}")
def evaluation_page(
    evaluation_id: IdPath, request: Request, session: SessionDep, caller: PageCaller
) -> Response:
    ev = service.get_evaluation(session, caller, evaluation_id)
    dep = deployments.get(session, caller, ev.deployment_id)
    figures = {m: charts.before_after(ev.analysis, m) for m in sorted(ev.analysis["segments"])}
    ctx = {
        "caller": caller,
        "deployment": dep,
        "ev": ev,
        "analysis": ev.analysis,
        "figures": figures,
    }
    return render(request, "governance/evaluation.html", ctx)


@router.get("/deployments/{deployment_id:int}/risks")
def risks_page(
    deployment_id: IdPath, request: Request, session: SessionDep, caller: PageCaller
) -> Response:
    dep = deployments.get(session, caller, deployment_id)
    ctx = {
        "caller": caller,
        "deployment": dep,
        "risk_picture": service.risk_picture(session, caller, dep.id),
        "titles": frameworks.TITLES,
    }
    return render(request, "governance/risks.html", ctx)


# ---- the governance queue and notifications -------------------------------------------------
QUEUE_STATUSES = {"pending": "submitted", "approved": "approved", "rejected": "rejected"}


@router.get("/governance/queue")
def queue_page(
    request: Request, session: SessionDep, caller: PageCaller, status: str = "pending"
) -> Response:
    status = status if status in QUEUE_STATUSES else "pending"
    rows = workflow.queue(session, caller, QUEUE_STATUSES[status])
    return render(
        request,
        "governance/queue.html",
        {
            "caller": caller,
            "rows": rows,
            "status": status,
            "statuses": list(QUEUE_STATUSES),
        },
    )


@router.get("/notifications")
def notifications_page(request: Request, session: SessionDep, caller: PageCaller) -> Response:
    return render(
        request,
        "governance/notifications.html",
        {
            "caller": caller,
            "notes": workflow.notifications(session, caller),
        },
    )


@router.get("/notifications/badge")
def notifications_badge(request: Request, session: SessionDep, caller: PageCaller) -> Response:
    """The unread count in the top bar (loaded by htmx after the page)."""
    n = workflow.unread_count(session, caller)
    body = f'<span class="badge" aria-label="{n} unread">{n}</span>' if n else ""
    return Response(body, media_type="text/html")


@router.post("/notifications/read")
def notifications_read(request: Request, session: SessionDep, caller: PageCaller) -> Response:
    n = workflow.mark_read(session, caller)
    resp = redirect(request, "/notifications")
    flash(request, resp, f"{n} notification{'s' if n != 1 else ''} marked read.")
    return resp


from app.governance import soa_views  # noqa: E402  (the statement of applicability's pages)

router.include_router(soa_views.router)
