from __future__ import annotations

import base64
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict

from app.audit import service
from app.auth.context import Caller
from app.auth.guards import api_requires
from app.auth.permissions import Permission
from app.db import SessionDep
from app.web.deps import PageDep, SettingsDep

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
    caller: Annotated[Caller, Depends(api_requires(Permission.audit_read))],
    page: PageDep,
    action: str | None = Query(None, max_length=64),
    entity_type: str | None = Query(None, max_length=64),
    entity_id: str | None = Query(None, max_length=64),
) -> AuditPage:
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
def verify(
    session: SessionDep,
    caller: Annotated[Caller, Depends(api_requires(Permission.audit_read))],
    settings: SettingsDep,
) -> VerifyOut:
    """Recompute the whole shared chain and check its head against the checkpoint outside the
    database. The verdict covers the whole chain; the figures are the caller's organisation's
    (``events_checked`` counts its events, ``first_bad_event_id`` is one of its events or null)."""
    r = service.verify_with_checkpoint(session, settings, caller.org_id)
    return VerifyOut(
        ok=r.ok,
        events_checked=r.events_checked,
        first_bad_event_id=r.first_bad_event_id,
        reason=r.reason,
    )


class PublicKeyOut(BaseModel):
    algorithm: str
    public_key: str
    key_id: str


@router.get("/public-key", response_model=PublicKeyOut)
def public_key(settings: SettingsDep) -> PublicKeyOut:
    """The Ed25519 key that signs report manifests and audit checkpoints (base64, raw 32 bytes);
    `axisboard verify-report FILE --public-key KEY` checks a downloaded report offline."""
    from app.audit import signing

    pub = signing.public_bytes(signing.report_signing_key(settings))
    return PublicKeyOut(
        algorithm=signing.ALGORITHM,
        public_key=base64.b64encode(pub).decode(),
        key_id=signing.key_id(pub),
    )
