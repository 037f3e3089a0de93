"""The "Find the best portfolio" page of a deployment (issue 20): constraints and failure modes
in a form (inline errors keep what was typed), the search inline or as a job with progress, the
frontier chart and table, each point saved with the portfolio form's own fields."""

from __future__ import annotations

import math
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Depends, Request
from fastapi.responses import Response
from pydantic import ValidationError

from app.assessments import service as assessments
from app.assessments.repository import AssessmentPageRepo, AssessmentRepository
from app.auth.context import Caller
from app.auth.deps import PageCaller
from app.auth.guards import page_requires
from app.auth.permissions import Permission
from app.db import SessionDep
from app.deployments import service as deployments
from app.deployments.models import Deployment
from app.errors import Conflict, InvalidInput, NotFound
from app.estimators.errors import FieldError
from app.jobs import service as jobs
from app.jobs.deps import JobsRecovered
from app.jobs.models import Job
from app.portfolios import charts, search_service
from app.portfolios.search_labels import point_labels
from app.portfolios.search_schemas import PortfolioSearchIn, PortfolioSearchOut
from app.rules.questionnaire import RISK_LEVELS
from app.web.deps import IdPath, SettingsDep
from app.web.forms import FormDep, plain_message
from app.web.templates import render

router = APIRouter(include_in_schema=False)
TEMPLATE = "portfolios/search.html"
CONSTRAINTS = (
    ("monthly_budget_usd", "Monthly budget (USD)"),
    ("one_off_budget_usd", "One-off budget (USD)"),
    ("ttft_p95_ms", "TTFT p95 limit (ms)"),
    ("tpot_p95_ms", "TPOT p95 limit (ms)"),
    ("time_to_answer_p95_ms", "Time to answer p95 limit (ms, reasoning included)"),
    ("governance_capacity", "Governance review capacity (burden points)"),
)


def _rows(session: SessionDep, dep: Deployment) -> list[Any]:
    return list(assessments.catalog(session, dep.org_id).rows)


def _defaults(repo: AssessmentRepository, dep: Deployment) -> dict[str, Any]:
    """The form's starting values: the deployment's budget and SLOs, the latest assessment's
    failure modes (severity, traffic share, the riskiest segment hit) and capacity."""
    latest = next(iter(repo.for_deployment(dep.id)), None)
    values: dict[str, Any] = {
        "monthly_budget_usd": _plain(dep.monthly_budget_usd),
        "ttft_p95_ms": _plain(dep.ttft_slo_ms),
        "tpot_p95_ms": _plain(dep.tpot_slo_ms),
        "time_to_answer_p95_ms": _plain(dep.ttft_slo_ms),  # as portfolios and cards hold it
        "governance_capacity": None
        if latest is None
        else latest.serving.get("governance_capacity"),
    }
    risk = {s["name"].lower(): RISK_LEVELS.get(s["risk"], 0) for s in dep.segments}
    for a in latest.answers if latest is not None else []:
        key = a["failure_mode"]
        values[f"fm.{key}.severity"] = a["severity"]
        # not answered: blank, which the search counts as 0 %, as the rules engine scores it
        values[f"fm.{key}.share"] = _percent(a.get("traffic_share"))
        values[f"fm.{key}.risk"] = max(
            (risk.get(s.lower(), 0) for s in a.get("segments", [])), default=0
        )
    values["from_assessment"] = latest.id if latest is not None else None
    return values


def _ctx(
    session: SessionDep,
    caller: Caller,
    dep: Deployment,
    values: dict[str, Any],
    errors: dict[str, str],
) -> dict[str, Any]:
    return {
        "caller": caller,
        "deployment": dep,
        "values": values,
        "errors": errors,
        "rows": _rows(session, dep),
        "constraints": CONSTRAINTS,
        "point_labels": point_labels,  # the frontier rows' labels (names, the params that differ)
    }


SHARE_ERROR = "enter a percentage between 0 and 100"


def _plain(value: float | None) -> str | None:
    """A stored limit as typed (25000.0 -> "25000", 62.5 stays "62.5")."""
    if value is None:
        return None
    return str(int(value)) if float(value).is_integer() else str(value)


def _percent(share: float | None) -> str | None:
    """A stored 0-1 share as the percent the page takes (0.003 -> "0.3"), like the questionnaire."""
    return None if share is None else format(round(share * 100, 6), "g")


def _share(raw: str) -> float | None:
    """The page's percent as the API's 0-1 share (the API stays 0-1); None: not a percentage."""
    try:
        pct = float(raw.replace(",", ""))
    except ValueError:
        return None
    return pct / 100 if math.isfinite(pct) and 0 <= pct <= 100 else None


def _parse(
    form: dict[str, Any], rows: list[Any]
) -> tuple[PortfolioSearchIn | None, dict[str, str]]:
    """The form as the API's request: a blank constraint is no limit; a failure mode with a
    blank or 0 severity is left out."""
    errors: dict[str, str] = {}
    constraints: dict[str, Any] = {}
    for name, _ in CONSTRAINTS:
        raw = str(form.get(name, "")).strip().replace(",", "")
        constraints[name] = raw or None
    fms, keys = [], []
    for r in rows:
        sev = str(form.get(f"fm.{r.key}.severity", "")).strip()
        if sev in ("", "0"):
            continue
        keys.append(r.key)
        raw_share = str(form.get(f"fm.{r.key}.share", "")).strip()
        share = _share(raw_share) if raw_share else 0.0  # the page takes percent
        if share is None:
            errors[f"fm.{r.key}.share"] = SHARE_ERROR
        fms.append(
            {
                "failure_mode": r.key,
                "severity": sev,
                "traffic_share": share or 0.0,
                "segment_risk": str(form.get(f"fm.{r.key}.risk", "")).strip() or 0,
            }
        )
    if not fms:
        errors["failure_modes"] = "give at least one failure mode a severity above 0"
    body: dict[str, Any] = {"constraints": constraints, "failure_modes": fms or None}
    hosted = str(form.get("include_hosted", "")).strip()
    if hosted:  # a checkbox: "true" when ticked (anything else is a 422 naming the field)
        body["include_hosted"] = "true" if hosted == "on" else hosted
    try:
        req = PortfolioSearchIn.model_validate(body)
    except ValidationError as exc:
        names = {"severity": "severity", "traffic_share": "share", "segment_risk": "risk"}
        for e in exc.errors():
            loc = e.get("loc", ())
            if loc and loc[0] == "include_hosted":
                errors.setdefault("include_hosted", plain_message(e))
            elif len(loc) >= 2 and loc[0] == "constraints":
                errors.setdefault(str(loc[1]), plain_message(e))
            elif len(loc) >= 3 and loc[0] == "failure_modes" and isinstance(loc[1], int):
                field = f"fm.{keys[loc[1]]}.{names.get(str(loc[2]), 'severity')}"
                errors.setdefault(
                    field, SHARE_ERROR if field.endswith(".share") else plain_message(e)
                )
            else:
                errors.setdefault("failure_modes", plain_message(e))
        return None, errors
    return (None, errors) if errors else (req, errors)


def results_context(out: PortfolioSearchOut) -> dict[str, Any]:
    best = out.best.index
    budget = out.constraints.get("monthly_budget_usd")
    return {"result": out, "best": best, "fig": charts.search_frontier(out.pareto, best, budget)}


@router.get("/deployments/{deployment_id:int}/portfolio-search")
def search_page(
    deployment_id: IdPath,
    request: Request,
    session: SessionDep,
    assessments_repo: AssessmentPageRepo,
    caller: Annotated[Caller, Depends(page_requires(Permission.portfolio_write))],
) -> Response:
    dep = deployments.get(session, caller, deployment_id)
    return render(
        request, TEMPLATE, _ctx(session, caller, dep, _defaults(assessments_repo, dep), {})
    )


@router.post("/deployments/{deployment_id:int}/portfolio-search")
def search_submit(
    deployment_id: IdPath,
    request: Request,
    session: SessionDep,
    caller: Annotated[Caller, Depends(page_requires(Permission.portfolio_write))],
    settings: SettingsDep,
    form: FormDep,
    background: BackgroundTasks,
) -> Response:
    dep = deployments.get(session, caller, deployment_id)
    ctx = _ctx(session, caller, dep, dict(form), {})
    req, errors = _parse(dict(form), ctx["rows"])
    if req is None:
        ctx["errors"] = errors
        return render(request, TEMPLATE, ctx, block="results", status_code=422)
    try:
        out = search_service.search(session, caller, dep.id, req)
    except (InvalidInput, FieldError) as exc:
        ctx["errors"] = {
            exc.field if exc.field in dict(CONSTRAINTS) else "failure_modes": exc.message
        }
        return render(request, TEMPLATE, ctx, block="results", status_code=422)
    except Conflict as exc:
        # shown above the results (htmx swaps a 409); a search of this deployment still running
        # keeps its progress card (and its polling), so its frontier still appears when done
        running = jobs.active_heavy_job(session, caller.org_id, caller.email)
        if running is not None and running.params.get("deployment_id") == dep.id:
            ctx["job"] = running
            ctx["errors"] = {
                "search": f"your search (job {running.id}) is still {running.status}; its "
                "frontier appears below when it is done"
            }
        elif running is not None:
            ctx["errors"] = {
                "search": f"your job {running.id} ({running.kind.replace('_', ' ')}) is still "
                f"{running.status}; one heavy job per user at a time: search again when it is done"
            }
        else:
            ctx["errors"] = {"search": exc.message}
        return render(request, TEMPLATE, ctx, block="results", status_code=409)
    if isinstance(out, Job):
        background.add_task(jobs.submit, out.id, settings, request.app.state.job_runner)
        ctx["job"] = out
        return render(request, TEMPLATE, ctx, block="results", status_code=202)
    ctx.update(results_context(out))
    return render(request, TEMPLATE, ctx, block="results")


@router.get("/deployments/{deployment_id:int}/portfolio-search/jobs/{search_job_id:int}")
def search_job(
    deployment_id: IdPath,
    search_job_id: IdPath,
    request: Request,
    session: SessionDep,
    caller: PageCaller,
    _recovered: JobsRecovered,
) -> Response:
    """The results block of a search job: its progress while it runs, the frontier when done."""
    dep = deployments.get(session, caller, deployment_id)
    job = jobs.get(session, search_job_id, caller.org_id)
    if job.kind != "portfolio_search" or job.params.get("deployment_id") != dep.id:
        raise NotFound("no such search job")
    ctx = _ctx(session, caller, dep, {}, {})
    if job.status == "succeeded" and job.result is not None:
        ctx.update(results_context(PortfolioSearchOut.model_validate(job.result)))
    elif job.status == "failed":
        ctx["errors"] = {"failure_modes": f"job {job.id} failed: {job.error}"}
    else:
        ctx["job"] = job
    return render(request, TEMPLATE, ctx, block="results")
