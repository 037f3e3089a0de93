"""HTML pages: the dashboard, and every feature's page router."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from app import dashboard as role_dashboard
from app.assessments.matrix_views import router as matrix_edit_views
from app.assessments.views import router as assessment_views
from app.auditlog.views import router as audit_views
from app.auth.deps import PageCaller
from app.auth.views import router as auth_views
from app.catalog import service as catalog_service
from app.catalog.repository import CatalogRepo
from app.catalog.views import router as catalog_views
from app.db import SessionDep
from app.deployments import service as deployment_service
from app.deployments.views import router as deployment_views
from app.estimates.deployment_views import router as estimate_deployment_views
from app.estimates.views import router as estimate_views
from app.governance.reports_api import page_router as report_views
from app.governance.views import router as governance_views
from app.lab.views import router as lab_views
from app.portfolios.search_views import router as portfolio_search_views
from app.portfolios.views import router as portfolio_views
from app.web.templates import render

router = APIRouter(include_in_schema=False)


@router.get("/")
def dashboard(
    request: Request, session: SessionDep, caller: PageCaller, repo: CatalogRepo
) -> Response:
    deployments, total = deployment_service.list_(session, caller, limit=10, offset=0)
    matrix = catalog_service.current_matrix(session, caller.org_id)
    return render(
        request,
        "dashboard/index.html",
        {
            "caller": caller,
            "deployments": deployments,
            "total": total,
            "matrix": matrix,
            "axes": repo.axes(),
            "failure_modes": repo.failure_modes(),
            "role_view": caller.role,
            **role_dashboard.for_role(session, caller),
        },
    )


for r in (
    auth_views,
    catalog_views,
    matrix_edit_views,
    estimate_deployment_views,
    deployment_views,
    assessment_views,
    portfolio_views,
    portfolio_search_views,
    governance_views,
    report_views,
    estimate_views,
    lab_views,
    audit_views,
):
    router.include_router(r)
