"""Signed checkpoints of the audit-chain head, kept outside the database (a JSON-lines file), so a
deleted tail of the chain — which the hash links alone cannot reveal — is detected."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.audit import signing
from app.audit.models import AuditEvent
from app.config import Settings


def write(session: Session, settings: Settings) -> dict[str, Any] | None:
    """Append a signed checkpoint of the current head; None when the chain is empty."""
    head = session.execute(
        select(AuditEvent.id, AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)
    ).first()
    if head is None:
        return None
    cp = signing.sign(settings.report_signing_key, {
        "kind": "axisboard-audit-checkpoint", "event_id": head.id, "hash": head.hash,
        "created_at": datetime.now(UTC).isoformat(),
    })  # fmt: skip
    path = Path(settings.audit_checkpoint_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as f:
        f.write(json.dumps(cp, sort_keys=True) + "\n")
    return cp


def latest(settings: Settings) -> dict[str, Any] | None:
    path = Path(settings.audit_checkpoint_path)
    if not path.exists():
        return None
    lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    return json.loads(lines[-1]) if lines else None


def check(session: Session, settings: Settings) -> tuple[bool, str | None, int | None]:
    """(ok, reason, event id) of the database against the latest checkpoint."""
    cp = latest(settings)
    if cp is None:
        return True, None, None
    try:
        signing.verify(signing.public_bytes(settings.report_signing_key), cp)
    except signing.SignatureError as exc:
        return False, f"the latest checkpoint is not authentic: {exc}", None
    row = session.execute(
        select(AuditEvent.hash).where(AuditEvent.id == cp["event_id"])
    ).scalar_one_or_none()
    if row is None:
        return False, (f"event {cp['event_id']}, the checkpointed head of "
                       f"{cp['created_at']}, is missing: the chain's tail was deleted"),\
            int(cp["event_id"])  # fmt: skip
    if row != cp["hash"]:
        return False, f"event {cp['event_id']} differs from its checkpoint", int(cp["event_id"])
    return True, None, None
