"""All queries on the audit chain (one chain shared by every organisation, appended in order)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Row, func, select, text
from sqlalchemy.orm import Session

from app.audit.models import AuditEvent


class AuditRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def lock_chain(self, key: int) -> None:
        """Serialise appends on Postgres (a transaction-scoped advisory lock); SQLite's
        single writer needs none."""
        if self.session.get_bind().dialect.name == "postgresql":
            self.session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})

    def head_hash(self) -> str | None:
        return self.session.execute(
            select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)
        ).scalar_one_or_none()

    def head(self) -> Row[int, str, int | None] | None:
        """The newest event's id, hash and organisation."""
        return self.session.execute(
            select(AuditEvent.id, AuditEvent.hash, AuditEvent.org_id)
            .order_by(AuditEvent.id.desc())
            .limit(1)
        ).first()

    def hash_of(self, event_id: int) -> str | None:
        return self.session.execute(
            select(AuditEvent.hash).where(AuditEvent.id == event_id)
        ).scalar_one_or_none()

    def count_for_org(self, org_id: int) -> int:
        return int(
            self.session.execute(
                select(func.count()).select_from(AuditEvent).where(AuditEvent.org_id == org_id)
            ).scalar_one()
        )

    def head_for_org(self, org_id: int) -> Row[int, str] | None:
        """The organisation's newest event in the shared chain: id and hash."""
        return self.session.execute(
            select(AuditEvent.id, AuditEvent.hash)
            .where(AuditEvent.org_id == org_id)
            .order_by(AuditEvent.id.desc())
            .limit(1)
        ).first()

    def add(self, ev: AuditEvent) -> AuditEvent:
        self.session.add(ev)
        self.session.flush()
        return ev

    def batch_after(self, last_id: int, batch: int) -> Sequence[AuditEvent]:
        """The next ``batch`` events after ``last_id``, in chain order."""
        return (
            self.session.execute(
                select(AuditEvent)
                .where(AuditEvent.id > last_id)
                .order_by(AuditEvent.id)
                .limit(batch)
            )
            .scalars()
            .all()
        )

    def list_for_org(
        self,
        org_id: int,
        *,
        limit: int,
        offset: int,
        action: str | None = None,
        entity_type: str | None = None,
        entity_id: str | None = None,
    ) -> tuple[Sequence[AuditEvent], int]:
        stmt = select(AuditEvent).where(AuditEvent.org_id == org_id)
        if action:
            stmt = stmt.where(AuditEvent.action == action)
        if entity_type:
            stmt = stmt.where(AuditEvent.entity_type == entity_type)
        if entity_id:
            stmt = stmt.where(AuditEvent.entity_id == entity_id)
        total = self.session.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
        rows = (
            self.session.execute(stmt.order_by(AuditEvent.id.desc()).limit(limit).offset(offset))
            .scalars()
            .all()
        )
        return rows, total
