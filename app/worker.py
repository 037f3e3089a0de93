"""The Celery worker of Axisboard's jobs (top layer: it loads every feature's job kinds).

Start a worker with ``celery -A app.worker worker`` (AXISBOARD_BROKER_URL must point at the
broker, e.g. redis://localhost:6379/0). Tasks are acknowledged late and rejected when a pool
process dies, so the broker re-delivers them. A worker killed outright leaves its message unacked
until the broker's visibility timeout (an hour on Redis), so the job's heartbeat is what counts:
the worker reaps stale jobs when it starts and every half ``job_stale_after_s`` while it runs
(any replica's reads do too), requeueing a job with attempts left and failing the rest.
"""

from __future__ import annotations

import threading
from typing import Any

import structlog
from celery.signals import worker_ready, worker_shutdown

from app import job_kinds
from app.config import get_settings
from app.jobs.celery_app import RUN_JOB, celery_app

log = structlog.get_logger(__name__)


@celery_app.task(name=RUN_JOB)  # type: ignore[untyped-decorator]  # celery ships no type hints
def run_job_task(job_id: int, database_url: str) -> None:
    from app.audit import checkpoints
    from app.db import session_scope
    from app.jobs.repository import JobRepository
    from app.jobs.service import factory_for, run

    checkpoints.install(get_settings, replace=False)  # events a job appends are checkpointed

    # A re-delivered job still "running" is run again only if its last runner stopped beating.
    reap_and_resubmit(database_url, skip=job_id)
    factory = factory_for(database_url)
    with session_scope(factory) as s:
        job = JobRepository(s).get(job_id)
        if job is not None and job.status == "queued":
            job.runner = "celery"
    run(job_id, factory, heartbeat_s=get_settings().job_heartbeat_s)


def reap_and_resubmit(database_url: str, skip: int | None = None) -> list[int]:
    """One reaper pass: stale jobs requeued (and sent to the broker again, but ``skip``, which the
    caller runs itself) or failed."""
    from app.db import session_scope
    from app.jobs.service import factory_for, reap_stale

    job_kinds.load()  # a worker process must know every mapped table and job kind

    with session_scope(factory_for(database_url)) as s:
        requeued = reap_stale(s, stale_after_s=get_settings().job_stale_after_s)
    for job_id in requeued:
        if job_id != skip:
            run_job_task.apply_async(args=[job_id, database_url])
    return requeued


class _Reaper:
    """Reaps from a daemon thread of the worker's main process while the worker runs."""

    def __init__(self) -> None:
        self.stop = threading.Event()

    def loop(self, database_url: str, interval_s: float) -> None:
        while True:
            try:
                reap_and_resubmit(database_url)
            except Exception as exc:  # the database or broker is down: try again next round
                log.warning("job_reaper_failed", error=str(exc))
            if self.stop.wait(interval_s):
                return


_reaper = _Reaper()


@worker_ready.connect  # type: ignore[untyped-decorator]  # celery ships no type hints
def _start_reaper(**_: Any) -> None:
    settings = get_settings()
    every_s = settings.job_stale_after_s / 2
    threading.Thread(
        target=_reaper.loop, name="job-reaper", daemon=True, args=(settings.database_url, every_s)
    ).start()


@worker_shutdown.connect  # type: ignore[untyped-decorator]  # celery ships no type hints
def _stop_reaper(**_: Any) -> None:
    _reaper.stop.set()
