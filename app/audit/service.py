"""Writing and verifying audit events. Events are written in the caller's transaction."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from app.audit import checkpoints
from app.audit.chain import (
    GENESIS_HASH,
    ChainedEvent,
    VerifyResult,
    compute_hash,
    mask_secrets,
    verify_chain,
    verify_chain_for,
)
from app.audit.models import AuditEvent
from app.audit.repository import AuditRepository
from app.config import Settings
from app.db import utcnow

# Postgres advisory-lock key that serialises appends, so concurrent writers never fork the chain.
_CHAIN_LOCK_KEY = 0x41584953  # "AXIS"


@dataclass(frozen=True, slots=True)
class Actor:
    id: int | None
    email: str | None
    org_id: int | None


SYSTEM_ACTOR = Actor(id=None, email="system", org_id=None)


def _jsonable(value: Any) -> Any:
    """Round-trip through JSON so the hashed content equals what the database returns."""
    if value is None:
        return None
    return json.loads(json.dumps(mask_secrets(value), default=str))


def event_content(ev: AuditEvent) -> dict[str, Any]:
    return {
        "org_id": ev.org_id,
        "actor_id": ev.actor_id,
        "actor_email": ev.actor_email,
        "action": ev.action,
        "entity_type": ev.entity_type,
        "entity_id": ev.entity_id,
        "before": ev.before,
        "after": ev.after,
        "created_at": _iso(ev.created_at),
    }


def _iso(ts: datetime) -> str:
    return ts.isoformat(timespec="microseconds")


def record(
    session: Session,
    key: bytes,
    *,
    actor: Actor,
    action: str,
    entity_type: str,
    entity_id: str | int | None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    org_id: int | None = None,
) -> AuditEvent:
    """Append an event to the chain inside the current transaction."""
    repo = AuditRepository(session)
    repo.lock_chain(_CHAIN_LOCK_KEY)
    prev_hash = repo.head_hash() or GENESIS_HASH
    ev = AuditEvent(
        org_id=org_id if org_id is not None else actor.org_id,
        actor_id=actor.id,
        actor_email=actor.email,
        action=action,
        entity_type=entity_type,
        entity_id=None if entity_id is None else str(entity_id),
        before=_jsonable(before),
        after=_jsonable(after),
        prev_hash=prev_hash,
        hash="",
    )
    ev.created_at = utcnow()
    ev.hash = compute_hash(key, event_content(ev), prev_hash)
    repo.add(ev)
    checkpoints.appended(session, ev)
    return ev


def _iter_chain(session: Session, batch: int = 1000) -> Iterator[ChainedEvent]:
    repo = AuditRepository(session)
    last_id = 0
    while True:
        rows = repo.batch_after(last_id, batch)
        if not rows:
            return
        for ev in rows:
            yield ChainedEvent(
                id=ev.id, content=event_content(ev), prev_hash=ev.prev_hash, hash=ev.hash
            )
        last_id = rows[-1].id
        session.expunge_all()


def verify(session: Session, key: bytes) -> VerifyResult:
    return verify_chain(key, _iter_chain(session))


def verify_with_checkpoint(
    session: Session, settings: Settings, org_id: int | None = None
) -> VerifyResult:
    """The chain's links and hashes, then the head against the latest signed checkpoint kept
    outside the database (a deleted tail keeps the links intact; only the checkpoint shows it).

    With ``org_id``, the figures are that organisation's alone: ``events_checked`` counts its
    events and ids are its own. The verdict still covers the whole shared chain (a break anywhere
    can hide one of its events), but nothing identifies or counts another organisation's events.
    """
    if org_id is None:
        r = verify(session, settings.audit_hmac_key)
    else:
        r = verify_chain_for(settings.audit_hmac_key, _iter_chain(session), org_id)
    if not r.ok:
        return r
    cp = checkpoints.check(session, settings)
    if cp.ok:
        return r
    if org_id is None or cp.org_id == org_id:
        return VerifyResult(False, r.events_checked, cp.event_id, cp.reason)
    return VerifyResult(False, r.events_checked, None, cp.reason)


def list_events(
    session: Session,
    *,
    org_id: int,
    limit: int,
    offset: int,
    action: str | None = None,
    entity_type: str | None = None,
    entity_id: str | None = None,
) -> tuple[Sequence[AuditEvent], int]:
    """Events of one organisation, newest first, with the total count for pagination."""
    return AuditRepository(session).list_for_org(
        org_id,
        limit=limit,
        offset=offset,
        action=action,
        entity_type=entity_type,
        entity_id=entity_id,
    )
