"""All queries on background jobs. Status changes by a runner are conditional UPDATEs (only the
attempt that owns a job may change it), so two runners never both take or finish one job."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.orm import Session

from app.jobs.models import Job


def _last_seen() -> ColumnElement[datetime]:
    return func.coalesce(Job.heartbeat_at, Job.started_at, Job.created_at)


class JobRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, job: Job) -> Job:
        self.session.add(job)
        self.session.flush()
        return job

    def get(self, job_id: int) -> Job | None:
        return self.session.get(Job, job_id)

    def recent(self, org_id: int, limit: int) -> list[Job]:
        stmt = select(Job).where(Job.org_id == org_id).order_by(Job.id.desc()).limit(limit)
        return list(self.session.scalars(stmt))

    def lock_user(self, email: str) -> None:
        """Lock the user's row (``FOR UPDATE`` on Postgres; SQLite serialises writers)."""
        from app.auth.models import User

        self.session.execute(select(User.id).where(User.email == email).with_for_update()).first()

    def active_of(
        self, org_id: int, email: str, kinds: Iterable[str], statuses: Iterable[str]
    ) -> Sequence[Job]:
        return self.session.scalars(
            select(Job)
            .where(
                Job.org_id == org_id,
                Job.created_by == email,
                Job.kind.in_(list(kinds)),
                Job.status.in_(list(statuses)),
            )
            .order_by(Job.id)
        ).all()

    def claim(self, job_id: int, now: datetime) -> int | None:
        """Take a queued job; the attempt number, or None when it is not queued."""
        taken = self.session.execute(
            update(Job)
            .where(Job.id == job_id, Job.status == "queued")
            .values(
                status="running",
                started_at=now,
                heartbeat_at=now,
                progress=0,
                attempts=Job.attempts + 1,
                message="started",
                error=None,
            )
            .execution_options(synchronize_session=False)
        )
        if taken.rowcount != 1:  # type: ignore[attr-defined]
            return None
        return self.session.scalar(select(Job.attempts).where(Job.id == job_id))

    def update_own(self, job_id: int, attempt: int, **values: Any) -> bool:
        """Update the job only while this attempt still owns it (running, same attempt)."""
        done = self.session.execute(
            update(Job)
            .where(Job.id == job_id, Job.status == "running", Job.attempts == attempt)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        return bool(done.rowcount == 1)  # type: ignore[attr-defined]

    def stale_running(self, cutoff: datetime) -> list[tuple[int, int]]:
        """Running jobs last seen before ``cutoff``: (id, attempts)."""
        rows = self.session.execute(
            select(Job.id, Job.attempts).where(Job.status == "running", _last_seen() < cutoff)
        ).all()
        return [(job_id, attempts) for job_id, attempts in rows]

    def update_if_stale(
        self, job_id: int, attempts: int, cutoff: datetime, values: dict[str, Any]
    ) -> bool:
        """Change a job that is still running the same attempt and still unseen since
        ``cutoff``; whether it changed."""
        changed = self.session.execute(
            update(Job)
            .where(
                Job.id == job_id,
                Job.status == "running",
                Job.attempts == attempts,
                _last_seen() < cutoff,
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        return bool(changed.rowcount == 1)  # type: ignore[attr-defined]
