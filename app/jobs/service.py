"""Jobs: create, run (Celery when a broker is configured, else a thread of this process), poll.

A job's handler gets a session factory, its parameters and a ``progress(percent, message)``
callback and returns a JSON-able result, or raises. Status moves queued → running → succeeded |
failed, each step committed on its own session, so pollers see it and a crash mid-job never
leaves it hidden.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.db import make_engine, make_sessionmaker, session_scope, utcnow
from app.errors import NotFound
from app.jobs.models import Job

log = structlog.get_logger(__name__)

Progress = Callable[[int, str], None]
# A handler opens short units of work on the factory itself: a transaction held open across a
# long computation would block (SQLite) or pin (Postgres) other writers, progress included.
Handler = Callable[[sessionmaker[Session], dict[str, Any], Progress], dict[str, Any]]
HANDLERS: dict[str, Handler] = {}


def handler(kind: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        HANDLERS[kind] = fn
        return fn

    return register


def create(
    session: Session, *, org_id: int, kind: str, params: dict[str, Any], created_by: str
) -> Job:
    if kind not in HANDLERS:
        raise ValueError(f"unknown job kind {kind}")
    job = Job(org_id=org_id, kind=kind, params=params, created_by=created_by, result=None)
    session.add(job)
    session.flush()
    return job


def get(session: Session, job_id: int, org_id: int) -> Job:
    job = session.get(Job, job_id)
    if job is None or job.org_id != org_id:
        raise NotFound("no such job")
    return job


def recent(session: Session, org_id: int, limit: int = 20) -> list[Job]:
    stmt = select(Job).where(Job.org_id == org_id).order_by(Job.id.desc()).limit(limit)
    return list(session.scalars(stmt))


def run(job_id: int, factory: sessionmaker[Session]) -> None:
    """Run one job to completion; every status change is its own transaction."""
    with session_scope(factory) as s:
        job = s.get(Job, job_id)
        if job is None or job.done:
            return
        job.status, job.started_at, job.progress = "running", utcnow(), 0
        job.attempts += 1
        kind, params = job.kind, dict(job.params)

    def progress(percent: int, message: str) -> None:
        with session_scope(factory) as s2:
            j = s2.get(Job, job_id)
            if j is not None:
                j.progress, j.message = max(0, min(100, percent)), message[:500]

    try:
        result = HANDLERS[kind](factory, params, progress)
    except Exception as exc:  # a failed job records why; it never stays "running"
        log.warning("job_failed", job_id=job_id, kind=kind, error=str(exc))
        with session_scope(factory) as s:
            j = s.get(Job, job_id)
            if j is not None:
                j.status, j.error, j.finished_at = "failed", str(exc)[:2000], utcnow()
        return
    with session_scope(factory) as s:
        j = s.get(Job, job_id)
        if j is not None:
            j.status, j.result, j.progress = "succeeded", result, 100
            j.finished_at, j.message = utcnow(), "done"


_factories: dict[str, sessionmaker[Session]] = {}


def factory_for(url: str) -> sessionmaker[Session]:
    if url not in _factories:
        _factories[url] = make_sessionmaker(make_engine(url))
    return _factories[url]


Runner = Callable[[int], None]


def submit(job_id: int, settings: Settings, runner: Runner | None = None) -> None:
    """Hand a committed job to ``runner`` (tests), Celery (a broker is configured) or a thread."""
    from app.jobs import handlers  # noqa: F401 - registers the job kinds

    if runner is not None:
        runner(job_id)
        return
    if settings.broker_url:
        from app.jobs.worker import run_job_task

        run_job_task.apply_async(args=[job_id, settings.database_url])
        return
    factory = factory_for(settings.database_url)
    threading.Thread(target=run, args=(job_id, factory), daemon=True, name=f"job-{job_id}").start()
