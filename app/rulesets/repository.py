"""All queries on an organisation's rule set versions. Bound to one organisation."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from app.rulesets.models import RuleSetVersion


class RuleSetRepository:
    def __init__(self, session: Session, org_id: int) -> None:
        self.session = session
        self.org_id = org_id

    def _scoped(self) -> Select[RuleSetVersion]:
        return select(RuleSetVersion).where(RuleSetVersion.org_id == self.org_id)

    def versions(self) -> Sequence[RuleSetVersion]:
        """Newest first."""
        stmt = self._scoped().order_by(RuleSetVersion.version.desc())
        return self.session.execute(stmt).scalars().all()

    def newest(self) -> RuleSetVersion | None:
        stmt = self._scoped().order_by(RuleSetVersion.version.desc()).limit(1)
        return self.session.execute(stmt).scalar_one_or_none()

    def version(self, version: int) -> RuleSetVersion | None:
        stmt = self._scoped().where(RuleSetVersion.version == version)
        return self.session.execute(stmt).scalar_one_or_none()

    def newest_ref(self) -> tuple[int, int] | None:
        """The newest version's id and number (one small query: what a cache is keyed on)."""
        row = self.session.execute(
            select(RuleSetVersion.id, RuleSetVersion.version)
            .where(RuleSetVersion.org_id == self.org_id)
            .order_by(RuleSetVersion.version.desc())
            .limit(1)
        ).first()
        return None if row is None else (row.id, row.version)

    def exists(self) -> bool:
        found = self.session.execute(
            select(RuleSetVersion.id).where(RuleSetVersion.org_id == self.org_id).limit(1)
        ).first()
        return found is not None

    def add(self, row: RuleSetVersion) -> RuleSetVersion:
        """Insert in a savepoint: a version number taken concurrently raises IntegrityError and
        leaves the transaction usable."""
        row.org_id = self.org_id
        with self.session.begin_nested():
            self.session.add(row)
            self.session.flush()
        return row
