"""Governance's job kind: the PDF audit report of a large deployment, over the inline limit
(registered in app/jobs/registry.py)."""

from __future__ import annotations

import base64
from typing import Any

from pydantic import BaseModel
from sqlalchemy.orm import Session, sessionmaker

from app.db import session_scope
from app.jobs.registry import Progress, handler
from app.jobs.service import run_settings

Factory = sessionmaker[Session]


class ReportFile(BaseModel):
    """A report job's result: the signed PDF (base64) and what its download is served as."""

    deployment_id: int
    filename: str
    media_type: str
    size_bytes: int
    content_b64: str


@handler("report_pdf")
def report_pdf_job(factory: Factory, params: dict[str, Any], progress: Progress) -> ReportFile:
    """The PDF audit report of a large deployment, generated and signed exactly as the inline
    download is (``reports_api.export``), as the user who asked. The route that queued it checked
    report:export (app/auth/guards.py); the job trusts that and does not check the role again, but
    refuses a user since deactivated or moved out of the organisation. The file is kept in the
    result (base64) for ``GET /api/v1/jobs/{id}/download``."""
    from app.auth.context import Caller
    from app.auth.permissions import Role
    from app.auth.repository import AuthRepository
    from app.governance.reports_api import export

    progress(
        5,
        f"building and rendering the PDF ({params['results']} evaluation results, "
        f"about {params['estimated_cpu_s']:.0f} CPU seconds)",
    )
    with session_scope(factory) as session:
        users = AuthRepository(session)
        user = users.user(params["user_id"])
        if user is None or not user.is_active or user.org_id != params["org_id"]:
            raise ValueError("the user who asked for this report can no longer export it")
        org = users.org(user.org_id)
        assert org is not None  # users.org_id is a foreign key
        caller = Caller(
            user_id=user.id,
            email=user.email,
            org_id=user.org_id,
            org_name=org.name,
            role=Role(user.role),
            token_id=0,
        )
        resp = export(session, caller, run_settings(), params["deployment_id"], "pdf")
    body = bytes(resp.body)
    disposition = resp.headers.get("content-disposition", "")
    filename = disposition.partition('filename="')[2].rstrip('"') or "axisboard-report.pdf"
    return ReportFile(
        deployment_id=params["deployment_id"],
        filename=filename,
        media_type="application/pdf",
        size_bytes=len(body),
        content_b64=base64.b64encode(body).decode(),
    )
