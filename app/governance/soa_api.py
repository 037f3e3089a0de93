"""API of the ISO/IEC 42001 statement of applicability (issue 21, item 1)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Path, Query, UploadFile
from fastapi.responses import Response

from app.auth.context import Caller
from app.auth.deps import ApiCaller
from app.auth.guards import api_requires
from app.auth.permissions import Permission
from app.db import SessionDep
from app.governance import soa, soa_rules
from app.governance.models import SoaEvidenceFile
from app.governance.schemas import DecisionIn, DecisionOut, SoaControlIn, SoaLinkIn
from app.web.deps import IdPath, SettingsDep

router = APIRouter(tags=["statement of applicability"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    403: {"description": "Needs soa:write (deciding: decision:make, never on one's own version)"},
    404: {"description": "No such deployment, version, control or file in your organisation"},
    409: {
        "description": "A superseded version, an archived deployment, or not in the state "
        "the action needs"
    },
}
CONTROL_PATH = Path(
    pattern=r"^A\.\d{1,2}(\.\d{1,2}){1,2}$",
    max_length=16,
    description="An ISO/IEC 42001 Annex A control id, e.g. A.5.2",
)

ControlPath = Annotated[str, CONTROL_PATH]


@router.get("/deployments/{deployment_id:int}/soa")
def list_versions(deployment_id: IdPath, session: SessionDep, caller: ApiCaller) -> Any:
    """The versions of the deployment's statement of applicability, newest first."""
    return [
        {k: v for k, v in soa.out(session, s).items() if k not in ("controls",)}
        for s in soa.versions(session, caller, deployment_id)
    ]


@router.post("/deployments/{deployment_id:int}/soa", status_code=201, responses=_ERRORS)
def create_version(
    deployment_id: IdPath,
    session: SessionDep,
    caller: Annotated[Caller, Depends(api_requires(Permission.soa_write))],
    settings: SettingsDep,
) -> Any:
    """A new version: a copy of the latest, or (the first) every Annex A control applicable."""
    s = soa.create_version(session, caller, deployment_id, audit_key=settings.audit_hmac_key)
    return soa.out(session, s)


@router.get("/soa/{soa_id:int}", responses=_ERRORS)
def get_version(soa_id: IdPath, session: SessionDep, caller: ApiCaller) -> Any:
    return soa.out(session, soa.get(session, caller, soa_id))


@router.patch("/soa/{soa_id:int}/controls/{control}", responses=_ERRORS)
def edit_control(
    soa_id: IdPath,
    control: ControlPath,
    data: SoaControlIn,
    session: SessionDep,
    caller: Annotated[Caller, Depends(api_requires(Permission.soa_write))],
    settings: SettingsDep,
) -> Any:
    """Change one control: applicability (an exclusion needs basis, reference, justification;
    some controls cannot be excluded), status, owner. Voids an approval in force."""
    s = soa.edit_control(
        session,
        caller,
        soa_id,
        control,
        soa_rules.ControlEdit(**data.model_dump(exclude_none=True)),
        audit_key=settings.audit_hmac_key,
    )
    return soa.out(session, s)


@router.post("/soa/{soa_id:int}/controls/{control}/links", status_code=201, responses=_ERRORS)
def add_link(
    soa_id: IdPath,
    control: ControlPath,
    data: SoaLinkIn,
    session: SessionDep,
    caller: Annotated[Caller, Depends(api_requires(Permission.soa_write))],
    settings: SettingsDep,
) -> Any:
    s = soa.add_link(
        session, caller, soa_id, control, data.url, data.title, audit_key=settings.audit_hmac_key
    )
    return soa.out(session, s)


@router.post("/soa/{soa_id:int}/controls/{control}/files", status_code=201, responses=_ERRORS)
async def add_file(
    soa_id: IdPath,
    control: ControlPath,
    session: SessionDep,
    caller: Annotated[Caller, Depends(api_requires(Permission.soa_write))],
    settings: SettingsDep,
    file: UploadFile = File(...),
) -> Any:
    """Upload an evidence file (PDF, PNG, JPEG, text, CSV, Markdown, JSON; at most 900 KiB);
    stored with its SHA-256."""
    data = await file.read(soa_rules.MAX_FILE_BYTES + 1)
    s = soa.add_file(
        session,
        caller,
        soa_id,
        control,
        file.filename or "evidence",
        file.content_type or "",
        data,
        audit_key=settings.audit_hmac_key,
    )
    return soa.out(session, s)


@router.get("/soa/files/{file_id:int}", responses=_ERRORS)
def download_file(file_id: IdPath, session: SessionDep, caller: ApiCaller) -> Response:
    f = soa.evidence_file(session, caller, file_id)
    return file_response(f)


@router.post("/soa/{soa_id:int}/submit", responses=_ERRORS)
def submit(
    soa_id: IdPath,
    session: SessionDep,
    caller: Annotated[Caller, Depends(api_requires(Permission.soa_write))],
    settings: SettingsDep,
) -> Any:
    return soa.out(session, soa.submit(session, caller, soa_id, audit_key=settings.audit_hmac_key))


@router.post(
    "/soa/{soa_id:int}/decision", response_model=DecisionOut, status_code=201, responses=_ERRORS
)
def decide(
    soa_id: IdPath,
    data: DecisionIn,
    session: SessionDep,
    caller: Annotated[Caller, Depends(api_requires(Permission.decision_make))],
    settings: SettingsDep,
) -> object:
    return soa.decide(session, caller, soa_id, data, audit_key=settings.audit_hmac_key)


@router.get("/soa/{soa_id:int}/history", responses=_ERRORS)
def history(
    soa_id: IdPath,
    session: SessionDep,
    caller: ApiCaller,
    control: str | None = Query(default=None, max_length=16),
) -> Any:
    """Every change of the version's controls, oldest first (who, when, before, after)."""
    return [
        {
            "id": h.id,
            "control": h.control,
            "action": h.action,
            "changed_by": h.changed_by,
            "changed_at": h.changed_at,
            "before": h.before,
            "after": h.after,
        }
        for h in soa.history(session, caller, soa_id, control)
    ]


def file_response(f: SoaEvidenceFile) -> Response:
    """The stored bytes as uploaded, never rendered inline (an attachment, no sniffing)."""
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in f.filename) or "evidence"
    return Response(
        content=f.data,
        media_type=f.content_type,
        headers={
            "Content-Disposition": f'attachment; filename="{safe}"',
            "X-Content-Type-Options": "nosniff",
            "X-Evidence-SHA256": f.sha256,
        },
    )
