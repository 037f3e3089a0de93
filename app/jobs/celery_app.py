"""The Celery application of Axisboard's jobs: the web process sends ``RUN_JOB`` by name
(:func:`app.jobs.service.submit`); the worker entry point, app/worker.py, defines the task."""

from __future__ import annotations

from celery import Celery

from app.config import get_settings

RUN_JOB = "axisboard.run_job"

celery_app = Celery("axisboard")
celery_app.conf.update(
    broker_url=get_settings().broker_url or "memory://",
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    broker_connection_retry_on_startup=True,
    task_ignore_result=True,
)
