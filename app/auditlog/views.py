from __future__ import annotations

import base64
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from app.audit import checkpoints, service, signing
from app.auth.context import Caller
from app.auth.guards import page_requires
from app.auth.permissions import Permission
from app.db import SessionDep
from app.web.deps import SettingsDep
from app.web.templates import render

router = APIRouter(prefix="/audit", include_in_schema=False)


def _signing(settings: SettingsDep) -> dict[str, object]:
    pub = signing.public_bytes(signing.report_signing_key(settings))
    return {
        "public_key": base64.b64encode(pub).decode(),
        "key_id": signing.key_id(pub),
        "checkpoint_store": checkpoints.store_for(settings).name,
    }


@router.get("")
def audit_page(
    request: Request,
    session: SessionDep,
    caller: Annotated[Caller, Depends(page_requires(Permission.audit_read))],
    settings: SettingsDep,
    page: int = Query(1, ge=1, le=100000),
    action: str | None = Query(None, max_length=64),
) -> Response:
    per_page = 50
    rows, total = service.list_events(
        session,
        org_id=caller.org_id,
        limit=per_page,
        offset=(page - 1) * per_page,
        action=action or None,
    )
    return render(
        request,
        "audit/list.html",
        {
            "caller": caller,
            "events": rows,
            "total": total,
            "page": page,
            "per_page": per_page,
            "action": action or "",
            "verify": None,
            "signing": _signing(settings),
        },
        block="events",
    )


@router.post("/verify")
def verify(
    request: Request,
    session: SessionDep,
    caller: Annotated[Caller, Depends(page_requires(Permission.audit_read))],
    settings: SettingsDep,
) -> Response:
    result = service.verify_with_checkpoint(session, settings, caller.org_id)
    return render(request, "audit/_verify.html", {"verify": result})
