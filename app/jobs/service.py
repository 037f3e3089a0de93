"""Jobs: create, run (Celery when a broker is configured, else a bounded pool of worker processes
beside the web process), poll.

Heavy kinds (:data:`HEAVY_KINDS`: fits over the inline limit, large PDF reports, torch
measurements) are limited to one queued or running job per user: a second submission is a 409
naming the job that is still going. Without a broker, jobs run in a process pool of
``AXISBOARD_JOB_WORKERS`` processes (spawned, so they share no locks or connections with the web
process); more jobs wait in its queue, still "queued", so CPU-heavy work never competes with the
event loop or the request threads for the interpreter lock, and at most that many run at once.

A job's handler gets a session factory, its parameters and a ``progress(percent, message)``
callback and returns a JSON-able result, or raises. Status moves queued → running → succeeded |
failed, each step committed on its own session, so pollers see it and a crash mid-job never
leaves it hidden.

A process that dies mid-job (a killed worker, a crashed app) cannot say so, so the runner beats:
``heartbeat_at`` is refreshed every few seconds while the handler works. :func:`reap_stale` finds
running jobs whose heartbeat stopped and puts them back in the queue (attempts left) or marks them
failed; the Celery worker reaps when it starts and periodically, and every read of a job reaps
first, so no job stays "running" after its runner is gone. Taking a job is one conditional
``UPDATE`` (:func:`claim`), so a job re-delivered by the broker and resubmitted by the reaper still
runs once at a time, and a runner that lost its job cannot overwrite the next attempt's outcome.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import nullcontext
from contextvars import ContextVar
from datetime import datetime, timedelta
from typing import Any

import structlog
from pydantic import BaseModel
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.db import make_engine, make_sessionmaker, session_scope, utcnow
from app.errors import Conflict, NotFound
from app.jobs import registry
from app.jobs.models import Job
from app.jobs.registry import HANDLERS
from app.jobs.repository import JobRepository

log = structlog.get_logger(__name__)

# A job whose runner died is run again once; the second loss marks it failed.
MAX_ATTEMPTS = 2
# Kinds that take a CPU (or the accelerator) for seconds to minutes: one at a time per user.
HEAVY_KINDS = frozenset(
    {
        "calibration",
        "design_measure",
        "chinchilla_fit",
        "conditional_fit",
        "report_pdf",
        "portfolio_search",
    }
)
ACTIVE = ("queued", "running")
# A heavy job queued this long without starting lost its queue (see _refuse_second_heavy_job).
ABANDONED_AFTER_S = 3600


def create(
    session: Session, *, org_id: int, kind: str, params: dict[str, Any], created_by: str
) -> Job:
    if kind not in HANDLERS:
        raise ValueError(f"unknown job kind {kind}")
    if kind in HEAVY_KINDS:
        _refuse_second_heavy_job(session, org_id, created_by)
    return JobRepository(session).add(
        Job(org_id=org_id, kind=kind, params=params, created_by=created_by, result=None)
    )


def active_heavy_job(session: Session, org_id: int, email: str) -> Job | None:
    """The user's heavy job still queued or running (the one a second submission waits for)."""
    active = JobRepository(session).active_of(org_id, email, HEAVY_KINDS, ACTIVE)
    return active[0] if active else None


def _refuse_second_heavy_job(session: Session, org_id: int, email: str) -> None:
    """409 while the user has a heavy job queued or running. The user's row is locked first
    (``FOR UPDATE`` on Postgres; SQLite serialises writers), so two submissions at once cannot
    both pass the check: the second waits for the first's transaction and then sees its job.

    A job still queued :data:`ABANDONED_AFTER_S` after it was queued lost its queue (the app
    holding the pool restarted, or no worker listens): it is failed here, saying so, rather than
    blocking its user for ever."""
    repo = JobRepository(session)
    repo.lock_user(email)
    active = repo.active_of(org_id, email, HEAVY_KINDS, ACTIVE)
    now = utcnow()
    for job in active:
        queued_at = job.heartbeat_at or job.created_at
        if job.status == "queued" and queued_at < now - timedelta(seconds=ABANDONED_AFTER_S):
            job.status, job.finished_at = "failed", now
            job.error = (
                f"not started within {ABANDONED_AFTER_S // 60} minutes of being queued: "
                "its queue was lost (an app restart, or no worker); resubmit it"
            )
            log.warning("job_abandoned_in_queue", job_id=job.id)
            continue
        raise Conflict(
            f"your job {job.id} ({job.kind}) is still {job.status}; one heavy job "
            f"per user at a time: wait for it to finish (GET /api/v1/jobs/{job.id})"
        )
    session.flush()


def get(session: Session, job_id: int, org_id: int) -> Job:
    job = JobRepository(session).get(job_id)
    if job is None or job.org_id != org_id:
        raise NotFound("no such job")
    return job


def recent(session: Session, org_id: int, limit: int = 20) -> list[Job]:
    return JobRepository(session).recent(org_id, limit)


def claim(session: Session, job_id: int) -> int | None:
    """Take a queued job (one conditional UPDATE, so two runners never both get it); returns the
    attempt number, or None when the job is not queued (done, or another runner has it)."""
    return JobRepository(session).claim(job_id, utcnow())


def _update_own(session: Session, job_id: int, attempt: int, **values: Any) -> bool:
    """Update the job only while this attempt still owns it (running, same attempt number)."""
    return JobRepository(session).update_own(job_id, attempt, **values)


def reap_stale(session: Session, *, stale_after_s: float, now: datetime | None = None) -> list[int]:
    """Running jobs whose heartbeat is older than ``stale_after_s`` lost their runner: requeue
    those with attempts left (returned, for the caller to resubmit once this session commits) and
    mark the rest failed."""
    cutoff = (now or utcnow()) - timedelta(seconds=stale_after_s)
    repo = JobRepository(session)
    stale = repo.stale_running(cutoff)
    requeued = []
    for job_id, attempts in stale:
        if attempts < MAX_ATTEMPTS:
            values: dict[str, Any] = {
                "status": "queued",
                "message": f"its runner stopped during attempt {attempts}; queued again",
            }
        else:
            values = {
                "status": "failed",
                "finished_at": utcnow(),
                "error": f"its runner stopped during attempt {attempts} of {MAX_ATTEMPTS}; "
                "not retried again",
            }
        if repo.update_if_stale(job_id, attempts, cutoff, values):
            log.warning("job_runner_lost", job_id=job_id, attempt=attempts, now=values["status"])
            if values["status"] == "queued":
                requeued.append(job_id)
    if stale:
        session.expire_all()  # loaded jobs must show the new status
    return requeued


class _Heartbeat:
    """Refresh ``heartbeat_at`` every ``interval_s`` from a daemon thread while a handler runs."""

    def __init__(
        self, factory: sessionmaker[Session], job_id: int, attempt: int, interval_s: float
    ) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._beat,
            name=f"job-{job_id}-heartbeat",
            args=(factory, job_id, attempt, interval_s),
            daemon=True,
        )

    def _beat(
        self, factory: sessionmaker[Session], job_id: int, attempt: int, interval_s: float
    ) -> None:
        while not self._stop.wait(interval_s):
            try:
                with session_scope(factory) as s:
                    if not _update_own(s, job_id, attempt, heartbeat_at=utcnow()):
                        return  # the job was reaped or finished: nothing left to vouch for
            except Exception as exc:  # a database blip: the next beat tries again
                log.warning("job_heartbeat_failed", job_id=job_id, error=str(exc))

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


_run_settings: ContextVar[Settings | None] = ContextVar("job_settings", default=None)


def run_settings() -> Settings:
    """The settings of the job being run (a handler that signs or writes files needs them)."""
    from app.config import get_settings

    return _run_settings.get() or get_settings()


def run(
    job_id: int,
    factory: sessionmaker[Session],
    *,
    heartbeat_s: float | None = None,
    settings: Settings | None = None,
) -> None:
    """Run one job to completion if it is queued; every status change is its own transaction.

    ``heartbeat_s``: beat from a thread at this interval (the worker and pool runners); None
    beats only on progress (tests running a job inline on their own session). ``settings``: the
    app's (tests); None: the environment's, as in a worker process.
    """
    token = _run_settings.set(settings)
    try:
        _run(job_id, factory, heartbeat_s)
    finally:
        _run_settings.reset(token)


def _run(job_id: int, factory: sessionmaker[Session], heartbeat_s: float | None) -> None:
    with session_scope(factory) as s:
        attempt = claim(s, job_id)
        job = JobRepository(s).get(job_id) if attempt is not None else None
        if attempt is None or job is None:
            return
        kind, params = job.kind, dict(job.params)

    def progress(percent: int, message: str) -> None:
        with session_scope(factory) as s2:
            _update_own(
                s2,
                job_id,
                attempt,
                progress=max(0, min(100, percent)),
                message=message[:500],
                heartbeat_at=utcnow(),
            )

    beat = _Heartbeat(factory, job_id, attempt, heartbeat_s) if heartbeat_s else nullcontext()
    with beat:
        try:
            out = HANDLERS[kind](factory, params, progress)
            result = out.model_dump(mode="json") if isinstance(out, BaseModel) else out
        except Exception as exc:  # a failed job records why; it never stays "running"
            log.warning("job_failed", job_id=job_id, kind=kind, error=str(exc))
            final: dict[str, Any] = {"status": "failed", "error": str(exc)[:2000]}
        else:
            final = {"status": "succeeded", "result": result, "progress": 100, "message": "done"}
    with session_scope(factory) as s:
        if not _update_own(s, job_id, attempt, finished_at=utcnow(), **final):
            log.warning(
                "job_outcome_dropped",
                job_id=job_id,
                attempt=attempt,
                reason="the job was reaped while this attempt ran",
            )


_factories: dict[str, sessionmaker[Session]] = {}


def factory_for(url: str) -> sessionmaker[Session]:
    if url not in _factories:
        _factories[url] = make_sessionmaker(make_engine(url))
    return _factories[url]


Runner = Callable[[int], None]


def submit(job_id: int, settings: Settings, runner: Runner | None = None) -> None:
    """Hand a committed job to ``runner`` (tests), Celery (a broker is configured) or a thread."""
    registry.load()  # every kind, in this process too

    if runner is not None:
        runner(job_id)
        return
    if settings.broker_url:
        from app.jobs.celery_app import RUN_JOB, celery_app

        celery_app.send_task(RUN_JOB, args=[job_id, settings.database_url])
        return
    args = (job_id, settings.database_url, settings.job_heartbeat_s, registry.loader())
    try:
        future = _pool(settings.job_workers).submit(_run_in_pool, *args)
    except (BrokenProcessPool, RuntimeError):  # a worker died (killed, out of memory): renew
        shutdown_pool()
        future = _pool(settings.job_workers).submit(_run_in_pool, *args)
    future.add_done_callback(_log_pool_failure(job_id))


# ---- the bounded pool (no broker) ----------------------------------------------------------
_pool_lock = threading.Lock()
_executor: ProcessPoolExecutor | None = None


def _pool(workers: int) -> ProcessPoolExecutor:
    global _executor
    with _pool_lock:
        if _executor is None:
            # spawn: a fork of a threaded web process could inherit a held lock
            _executor = ProcessPoolExecutor(
                max_workers=workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_lower_priority,
            )
        return _executor


# Pool processes run at a lower CPU priority than the web process, so on a machine with fewer
# cores than busy processes the scheduler still serves requests first (Unix nice value), and with
# one BLAS/OpenMP/torch thread each, so AXISBOARD_JOB_WORKERS bounds the cores jobs take.
JOB_NICENESS = 10
ONE_THREAD = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _lower_priority() -> None:
    for var in ONE_THREAD:  # before the job's first numpy or torch import in this process
        os.environ.setdefault(var, "1")
    try:
        os.nice(JOB_NICENESS)
    except (AttributeError, OSError):  # not Unix, or not permitted: run at normal priority
        log.warning("job_pool_priority_unchanged")


def shutdown_pool() -> None:
    """Stop the pool's processes now (app shutdown, or a broken pool). Their jobs stop beating
    and are requeued by the reaper (:func:`reap_stale`)."""
    global _executor
    with _pool_lock:
        executor, _executor = _executor, None
    if executor is None:
        return
    processes = list(getattr(executor, "_processes", {}).values())
    executor.shutdown(wait=False, cancel_futures=True)
    for proc in processes:
        if proc.is_alive():
            proc.terminate()


def _run_in_pool(
    job_id: int, database_url: str, heartbeat_s: float, load: registry.Loader | None
) -> None:
    """Entry point in a pool process: ``load`` (the app's loader, app/job_kinds.py) makes it know
    every mapped table and job kind."""
    if load is not None:
        registry.set_loader(load)
        load()

    factory = factory_for(database_url)
    with session_scope(factory) as s:
        job = JobRepository(s).get(job_id)
        if job is not None and job.status == "queued":
            job.runner = "process"
    run(job_id, factory, heartbeat_s=heartbeat_s)


def _log_pool_failure(job_id: int) -> Callable[[Future[None]], None]:
    def done(future: Future[None]) -> None:
        if future.cancelled():
            return
        exc = future.exception()
        if exc is not None:  # the process died: the heartbeat stops and the reaper takes over
            log.warning("job_pool_worker_lost", job_id=job_id, error=repr(exc))

    return done
