from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict

from app.audit import service
from app.auth.permissions import Permission
from app.db import SessionDep
from app.web.deps import ApiCaller, PageDep, SettingsDep

router = APIRouter(prefix="/audit", tags=["audit"])


class AuditEventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    actor_id: int | None
    actor_email: str | None
    action: str
    entity_type: str
    entity_id: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    created_at: datetime
    prev_hash: str
    hash: str


class AuditPage(BaseModel):
    items: list[AuditEventOut]
    total: int
    limit: int
    offset: int


class VerifyOut(BaseModel):
    ok: bool
    events_checked: int
    first_bad_event_id: int | None
    reason: str | None = None


@router.get("/events", response_model=AuditPage)
def list_events(
    session: SessionDep,
    caller: ApiCaller,
    page: PageDep,
    action: str | None = Query(None, max_length=64),
    entity_type: str | None = Query(None, max_length=64),
    entity_id: str | None = Query(None, max_length=64),
) -> AuditPage:
    caller.require(Permission.audit_read)
    rows, total = service.list_events(
        session,
        org_id=caller.org_id,
        limit=page.limit,
        offset=page.offset,
        action=action,
        entity_type=entity_type,
        entity_id=entity_id,
    )
    return AuditPage(
        items=[AuditEventOut.model_validate(r) for r in rows],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


@router.get("/verify", response_model=VerifyOut)
def verify(session: SessionDep, caller: ApiCaller, settings: SettingsDep) -> VerifyOut:
    """Recompute the whole chain (all organisations share one chain; only the verdict is shown)."""
    caller.require(Permission.audit_read)
    r = service.verify(session, settings.audit_hmac_key)
    return VerifyOut(
        ok=r.ok,
        events_checked=r.events_checked,
        first_bad_event_id=r.first_bad_event_id,
        reason=r.reason,
    )
