"""Portfolio pages: list per deployment, build/edit (techniques with their parameters), the
evaluation, and the side-by-side comparison with its charts and CSV/JSON export."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import ValidationError

from app.assessments import service as assessments
from app.auth.context import Caller
from app.auth.deps import PageCaller
from app.auth.guards import page_requires
from app.auth.permissions import Permission
from app.catalog.repository import CatalogRepo, CatalogRepository
from app.csv_export import write_dicts
from app.db import SessionDep
from app.deployments import service as deployments
from app.errors import AppError
from app.estimators.errors import FieldError
from app.estimators.techniques import PARAMS, UNPRICED
from app.portfolios import charts, service
from app.portfolios.models import Portfolio
from app.portfolios.schemas import ItemIn, PortfolioCreate, PortfolioUpdate
from app.web.deps import IdPath, SettingsDep
from app.web.flash import flash
from app.web.forms import FormDep, as_list, field_errors, form_error
from app.web.htmx import redirect
from app.web.templates import render

router = APIRouter(include_in_schema=False)


# ---- the form ------------------------------------------------------------------------------
def _catalog(repo: CatalogRepository) -> list[dict[str, Any]]:
    """Axes with their techniques and each technique's parameters, for the form."""
    by_axis: dict[str, list[Any]] = {}
    for t in repo.techniques():
        by_axis.setdefault(t.axis_key, []).append(t)
    return [
        {
            "axis": a,
            "techniques": [
                {"t": t, "params": PARAMS.get(t.key, ()), "priced": t.key not in UNPRICED}
                for t in by_axis.get(a.key, [])
            ],
        }
        for a in repo.axes()
    ]


def _values_from(p: Portfolio) -> dict[str, Any]:
    values: dict[str, Any] = {"name": p.name, "use": [i["technique"] for i in p.items]}
    for i in p.items:
        for k, v in i["params"].items():
            values[f"p.{i['technique']}.{k}"] = v
    return values


def _parse(form: dict[str, Any], axis_of: dict[str, str]) -> tuple[list[ItemIn], dict[str, str]]:
    items, errors = [], {}
    for tech in as_list(form.get("use")):
        params: dict[str, Any] = {}
        for p in PARAMS.get(tech, ()):
            name = f"p.{tech}.{p.name}"
            raw = str(form.get(name, "")).strip()
            if p.type == "bool":
                params[p.name] = raw in ("on", "true", "yes")
            elif raw == "":
                continue
            elif p.type in ("int", "float"):
                try:
                    num = float(raw.replace(",", ""))
                    params[p.name] = int(num) if p.type == "int" and num.is_integer() else num
                except ValueError:
                    errors[name] = "enter a number"
            else:
                params[p.name] = raw
        try:
            items.append(ItemIn(axis=axis_of.get(tech, "?"), technique=tech, params=params))
        except ValidationError:
            errors[f"use.{tech}"] = "not a technique of the catalog"
    return items, errors


def _field(f: str, items: list[ItemIn]) -> str:
    """``items[2].params.k`` → ``p.<technique>.k``; other fields as they are."""
    if f.startswith("items[") and "]" in f:
        idx = int(f[6 : f.index("]")])
        rest = f[f.index("]") + 2 :]
        tech = items[idx].technique if idx < len(items) else ""
        return (
            f"p.{tech}.{rest.removeprefix('params.')}"
            if rest.startswith("params.")
            else (f"use.{tech}")
        )
    return f


def _form_page(
    request: Request,
    catalog: CatalogRepository,
    caller: Caller,
    dep: Any,
    values: dict[str, Any],
    errors: dict[str, str],
    portfolio: Portfolio | None,
    status: int = 200,
) -> Response:
    return render(
        request,
        "portfolios/form.html",
        {
            "caller": caller,
            "deployment": dep,
            "values": values,
            "errors": errors,
            "portfolio": portfolio,
            "catalog": _catalog(catalog),
            "models": [m for m in catalog.models() if m.published_total_params is not None],
        },
        status_code=status,
    )


def _save(
    request: Request,
    session: SessionDep,
    catalog: CatalogRepository,
    caller: Caller,
    settings: SettingsDep,
    form: dict[str, Any],
    dep: Any,
    portfolio: Portfolio | None,
) -> Response:
    axis_of = {t.key: t.axis_key for t in catalog.techniques()}
    items, errors = _parse(form, axis_of)
    name = str(form.get("name", "")).strip()
    if not name:
        errors["name"] = "give the portfolio a name"
    for field, message in service.item_errors(session, dep, items).items():  # all at once
        errors.setdefault(_field(field, items), message)
    if not errors:
        try:
            if portfolio is None:
                data = PortfolioCreate(deployment_id=dep.id, name=name, items=items)
                p = service.create(session, caller, data, audit_key=settings.audit_hmac_key)
            else:
                p = service.update(
                    session,
                    caller,
                    portfolio.id,
                    PortfolioUpdate(name=name, items=items),
                    audit_key=settings.audit_hmac_key,
                )
        except (AppError, FieldError) as exc:
            field, message, _ = form_error(exc)
            errors[_field(field, items)] = message
        except ValidationError as exc:  # a name too long and the like
            errors.update(field_errors(exc))
        else:
            resp = redirect(request, f"/portfolios/{p.id}")
            flash(request, resp, f"Portfolio '{p.name}' saved.")
            return resp
    values = {**form, "use": as_list(form.get("use"))}
    return _form_page(request, catalog, caller, dep, values, errors, portfolio, 422)


@router.get("/deployments/{deployment_id:int}/portfolios")
def list_page(
    deployment_id: IdPath, request: Request, session: SessionDep, caller: PageCaller
) -> Response:
    dep = deployments.get(session, caller, deployment_id)
    ps = service.list_(session, caller, dep.id)
    return render(
        request,
        "portfolios/list.html",
        {
            "caller": caller,
            "deployment": dep,
            "portfolios": ps,
            "statuses": service.status_of(session, caller, ps),
        },
    )


@router.get("/deployments/{deployment_id:int}/portfolios/new")
def new_page(
    deployment_id: IdPath,
    request: Request,
    session: SessionDep,
    catalog: CatalogRepo,
    caller: Annotated[Caller, Depends(page_requires(Permission.portfolio_write))],
) -> Response:
    dep = deployments.get(session, caller, deployment_id)
    return _form_page(request, catalog, caller, dep, {"use": []}, {}, None)


@router.post("/deployments/{deployment_id:int}/portfolios/new")
def create(
    deployment_id: IdPath,
    request: Request,
    session: SessionDep,
    catalog: CatalogRepo,
    caller: Annotated[Caller, Depends(page_requires(Permission.portfolio_write))],
    settings: SettingsDep,
    form: FormDep,
) -> Response:
    dep = deployments.get(session, caller, deployment_id)
    return _save(request, session, catalog, caller, settings, form, dep, None)


# ---- compare (before /portfolios/{id}) -----------------------------------------------------
def _ids(request: Request) -> list[int]:
    raw = ",".join(request.query_params.getlist("ids"))
    return service.parse_ids(raw)


def _flat(out: service.PortfolioComparison) -> list[dict[str, Any]]:
    rows = []
    for e in out.evaluations:
        row = {"portfolio_id": e.portfolio_id, "name": out.names[e.portfolio_id]}
        for k in (
            "monthly_cost_usd",
            "one_off_cost_usd",
            "ttft_ms_p95",
            "tpot_ms_p95",
            "time_to_answer_ms_p95",
            "meets_slo",
            "capability_score",
            "governance_burden",
        ):
            row[k] = getattr(e, k)
        row.update({f"dimension.{k}": v for k, v in e.dimension_scores.items()})
        row.update({f"suitability.{k}": v for k, v in e.profile_suitability.items()})
        row["pareto"] = e.portfolio_id in out.pareto_ids
        row["risks"] = "; ".join(e.risks)
        row["warnings"] = "; ".join(e.warnings)
        rows.append(row)
    return rows


@router.get("/portfolios/compare.csv")
def compare_csv(request: Request, session: SessionDep, caller: PageCaller) -> Response:
    rows = _flat(service.comparison(session, caller, _ids(request)))
    return Response(
        write_dicts(list(rows[0]), rows),
        media_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="portfolio-comparison.csv"'},
    )


@router.get("/portfolios/compare.json")
def compare_json(request: Request, session: SessionDep, caller: PageCaller) -> Response:
    out = service.comparison(session, caller, _ids(request))
    body = out.as_json()
    body["items"] = {p.id: p.items for p in out.portfolios}
    return Response(
        json.dumps(body, indent=2, default=str),
        media_type="application/json",
        headers={"Content-Disposition": 'attachment; filename="portfolio-comparison.json"'},
    )


ROWS = [
    ("monthly_cost_usd", "Monthly serving cost (GPU-hours actually needed)", "money", "lower"),
    ("one_off_cost_usd", "One-off cost", "money", "lower"),
    ("ttft_ms_p95", "TTFT p95 (ms)", "ms", "lower"),
    ("tpot_ms_p95", "TPOT p95 (ms)", "ms", "lower"),
    ("time_to_answer_ms_p95", "Time to answer p95 (ms)", "ms", "lower"),
    ("capability_score", "Capability (1-5)", "score", "higher"),
    ("governance_burden", "Governance burden", "int", "lower"),
]


@router.get("/portfolios/compare")
def compare_page(request: Request, session: SessionDep, caller: PageCaller) -> Response:
    out = service.comparison(session, caller, _ids(request))
    deps = {p.deployment_id for p in out.portfolios}
    dep = deployments.get(session, caller, out.portfolios[0].deployment_id)
    evals, names = out.evaluations, out.names
    query = "ids=" + ",".join(str(i) for i in out.ids)
    return render(
        request,
        "portfolios/compare.html",
        {
            "caller": caller,
            "deployment": dep,
            "out": out,
            "rows": ROWS,
            "query": query,
            "mixed": len(deps) > 1,
            "figures": {
                "radar": charts.radar(evals, names),
                "suitability": charts.suitability(evals, names),
                "scatter": charts.cost_latency(
                    evals, names, out.pareto_ids, dep.ttft_slo_ms, dep.monthly_budget_usd
                ),
            },
        },
    )


# ---- one portfolio -------------------------------------------------------------------------
@router.get("/portfolios/{portfolio_id:int}")
def detail_page(
    portfolio_id: IdPath,
    request: Request,
    session: SessionDep,
    catalog: CatalogRepo,
    caller: PageCaller,
) -> Response:
    p = service.get(session, caller, portfolio_id)
    dep = deployments.get(session, caller, p.deployment_id)
    names = {t.key: t.name for t in catalog.techniques()}
    try:
        ev, error = service.evaluation(session, caller, p), None
    except (AppError, FieldError) as exc:
        ev, error = None, exc.message
    return render(
        request,
        "portfolios/detail.html",
        {
            "caller": caller,
            "portfolio": p,
            "deployment": dep,
            "ev": ev,
            "error": error,
            "names": names,
            "siblings": [x for x in service.list_(session, caller, dep.id) if x.id != p.id],
            # the decision panel is governance's (loaded by htmx); the status heads the page
            "workflow_status": service.status_of(session, caller, [p])[p.id],
        },
    )


@router.get("/portfolios/{portfolio_id:int}/edit")
def edit_page(
    portfolio_id: IdPath,
    request: Request,
    session: SessionDep,
    catalog: CatalogRepo,
    caller: Annotated[Caller, Depends(page_requires(Permission.portfolio_write))],
) -> Response:
    p = service.get(session, caller, portfolio_id)
    dep = deployments.get(session, caller, p.deployment_id)
    return _form_page(request, catalog, caller, dep, _values_from(p), {}, p)


@router.post("/portfolios/{portfolio_id:int}/edit")
def edit(
    portfolio_id: IdPath,
    request: Request,
    session: SessionDep,
    catalog: CatalogRepo,
    caller: Annotated[Caller, Depends(page_requires(Permission.portfolio_write))],
    settings: SettingsDep,
    form: FormDep,
) -> Response:
    p = service.get(session, caller, portfolio_id)
    dep = deployments.get(session, caller, p.deployment_id)
    return _save(request, session, catalog, caller, settings, form, dep, p)


@router.post("/portfolios/{portfolio_id:int}/duplicate")
def duplicate(
    portfolio_id: IdPath,
    request: Request,
    session: SessionDep,
    caller: Annotated[Caller, Depends(page_requires(Permission.portfolio_write))],
    settings: SettingsDep,
) -> Response:
    p = service.duplicate(session, caller, portfolio_id, audit_key=settings.audit_hmac_key)
    resp = redirect(request, f"/portfolios/{p.id}/edit")
    flash(request, resp, f"Duplicated as '{p.name}': edit it below.")
    return resp


@router.post("/portfolios/{portfolio_id:int}/submit")
def submit(
    portfolio_id: IdPath,
    request: Request,
    session: SessionDep,
    caller: Annotated[Caller, Depends(page_requires(Permission.portfolio_write))],
    settings: SettingsDep,
) -> Response:
    p = service.submit(session, caller, portfolio_id, audit_key=settings.audit_hmac_key)
    resp = redirect(request, f"/portfolios/{p.id}")
    flash(request, resp, f"'{p.name}' submitted: it is in the governance queue.")
    return resp


@router.post("/portfolios/{portfolio_id:int}/delete")
def delete(
    portfolio_id: IdPath,
    request: Request,
    session: SessionDep,
    caller: Annotated[Caller, Depends(page_requires(Permission.portfolio_write))],
    settings: SettingsDep,
) -> Response:
    p = service.get(session, caller, portfolio_id)
    dep_id, name = p.deployment_id, p.name
    service.delete(session, caller, portfolio_id, audit_key=settings.audit_hmac_key)
    resp = redirect(request, f"/deployments/{dep_id}/portfolios")
    flash(request, resp, f"Portfolio '{name}' deleted.")
    return resp


@router.post("/assessments/{assessment_id:int}/portfolio")
def from_recommendation(
    assessment_id: IdPath,
    request: Request,
    session: SessionDep,
    caller: Annotated[Caller, Depends(page_requires(Permission.portfolio_write))],
    settings: SettingsDep,
    form: FormDep,
) -> Response:
    """Only the items ticked on the recommendation's cards."""
    assessments.get(session, caller, assessment_id)
    ticked = as_list(form.get("item"))
    ranks = [int(r) for r in ticked if r.isdigit() and len(r) <= 4]
    if not ranks or len(ranks) != len(ticked):
        resp = redirect(request, f"/assessments/{assessment_id}")
        flash(request, resp, "Tick at least one recommended item to make a portfolio.", "error")
        return resp
    p = service.from_recommendation(
        session, caller, assessment_id, ranks=ranks, audit_key=settings.audit_hmac_key
    )
    resp = redirect(request, f"/portfolios/{p.id}/edit")
    flash(request, resp, f"Portfolio '{p.name}' made from the recommendation: tune its parameters.")
    return resp


@router.get("/deployments/{deployment_id:int}/portfolios-panel")
def deployment_portfolios_panel(
    deployment_id: IdPath, request: Request, session: SessionDep, caller: PageCaller
) -> Response:
    """The deployment page's portfolios card (a fragment for htmx, a page otherwise)."""
    dep = deployments.get(session, caller, deployment_id)
    return render(
        request,
        "portfolios/deployment_panel.html",
        {
            "caller": caller,
            "deployment": dep,
            "portfolio_count": len(service.list_(session, caller, dep.id)),
        },
        block="panel",
    )
