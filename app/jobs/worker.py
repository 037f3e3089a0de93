"""Celery application for Axisboard jobs.

Start a worker with ``celery -A app.jobs.worker worker`` (AXISBOARD_BROKER_URL must point at the
broker, e.g. redis://localhost:6379/0). Tasks are acknowledged late and rejected when the worker
dies, so the broker re-delivers a job whose worker was killed; a job already past its attempt
limit is marked failed instead of being run again.
"""

from __future__ import annotations

from celery import Celery

from app.config import get_settings

MAX_ATTEMPTS = 2

celery_app = Celery("axisboard")
celery_app.conf.update(
    broker_url=get_settings().broker_url or "memory://",
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    broker_connection_retry_on_startup=True,
    task_ignore_result=True,
)


@celery_app.task(name="axisboard.run_job")
def run_job_task(job_id: int, database_url: str) -> None:
    import app.models  # noqa: F401 - a worker process must know every mapped table (foreign keys)
    from app.db import session_scope, utcnow
    from app.jobs import handlers  # noqa: F401 - registers the job kinds
    from app.jobs.models import Job
    from app.jobs.service import factory_for, run

    factory = factory_for(database_url)
    with session_scope(factory) as s:
        job = s.get(Job, job_id)
        if job is not None and job.status == "running" and job.attempts >= MAX_ATTEMPTS:
            job.status, job.error, job.finished_at = (
                "failed",
                "the worker running this job stopped; not retried again",
                utcnow(),
            )
            return
        if job is not None:
            job.runner = "celery"
        if job is not None and job.status == "running":
            job.status = "queued"  # re-delivered after a worker died: run it again
    run(job_id, factory)
