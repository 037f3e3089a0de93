"""The deployment page's panels the estimates serve (it loads them with htmx): the serving cost and
SLO check, and "self-host or a hosted API?" (each hosted API at the deployment's traffic against
the self-hosted cost of its serving plan; the hosted catalog is app/catalog's)."""

from __future__ import annotations

import math
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from app.auth.deps import PageCaller
from app.catalog import charts, hosted
from app.db import SessionDep
from app.deployments import service as deployments
from app.estimates.service import (
    deployment_economics,
    deployment_serving_plan,
    serving_plan_fields,
)
from app.estimators import hosted as calc
from app.web.deps import IdPath
from app.web.templates import render

router = APIRouter(include_in_schema=False)
CHART_LINES = 5  # hosted lines drawn: the cheapest that fit the context


@router.get("/deployments/{deployment_id:int}/serving-cost")
def serving_cost(
    deployment_id: IdPath, request: Request, session: SessionDep, caller: PageCaller
) -> Response:
    """The deployment page's "serving cost and SLO check" section (a fragment for htmx, a page
    otherwise)."""
    dep = deployments.get(session, caller, deployment_id)
    return render(
        request,
        "estimates/serving_cost.html",
        {
            "caller": caller,
            "deployment": dep,
            "economics": deployment_economics(session, dep),
            "serving": deployment_serving_plan(session, dep),
        },
        block="serving",
    )


def _chart(result: dict[str, Any]) -> dict[str, Any] | None:
    sh: calc.SelfHosted | None = result["_self_hosted_steps"]
    rpd = result["requests_per_day"]
    lines = [
        i
        for i in result["items"]
        if i["monthly_cost_usd"] is not None and i["fits_context"] is not False
    ]
    # the hosts of the deployment's own model first (like for like), then the cheapest
    lines = sorted(lines, key=lambda i: not i["same_model_as_deployment"])[:CHART_LINES]
    if not lines and sh is None:
        return None
    bes = [i["break_even_requests_per_day"] for i in lines if i["break_even_requests_per_day"]]
    x_max = max(3 * rpd, 1000.0)
    if bes:
        x_max = max(x_max, min(1.25 * min(bes), 100 * max(rpd, 1000.0)))
    curve = None if sh is None else calc.self_hosted_curve(sh, x_max)
    per_day = calc.DAYS_PER_MONTH / 1000  # USD per 1,000 requests -> per month per request/day
    slopes = [
        (f"{i['provider']} {i['model']}", i["cost_per_1k_requests_usd"] * per_day) for i in lines
    ]
    return charts.hosted_break_even(curve, slopes, rpd, x_max)


@router.get("/deployments/{deployment_id:int}/hosted-alternatives")
def hosted_alternatives(
    deployment_id: IdPath,
    request: Request,
    session: SessionDep,
    caller: PageCaller,
    cached_share: str = "",
) -> Response:
    """The deployment page's "self-host or a hosted API?" section (a fragment for htmx, a page
    otherwise)."""
    dep = deployments.get(session, caller, deployment_id)
    errors: dict[str, str] = {}
    share: float | None = None
    if cached_share.strip():
        try:
            share = float(cached_share.strip().rstrip("%"))
            if cached_share.strip().endswith("%"):
                share /= 100
            if not (math.isfinite(share) and 0 <= share <= 1):
                raise ValueError
        except ValueError:
            errors["cached_share"] = "enter a share from 0 to 1 (e.g. 0.3) or a percentage (30%)"
            share = None
    plan = deployment_serving_plan(session, dep)
    models = hosted.effective_models(session, caller.org_id)
    result = hosted.alternatives(dep, serving_plan_fields(plan), models, share)
    return render(
        request,
        "catalog/hosted_alternatives.html",
        {
            "caller": caller,
            "deployment": dep,
            "hosted_alternatives": result,
            "figure": _chart(result),
            "errors": errors,
            "typed_share": cached_share,
        },
        block="alternatives",
        status_code=422 if errors else 200,
    )
