"""The Celery path: a real worker consuming from the local Redis runs a job to completion.

The worker runs in a thread of the test process (celery.contrib.testing) with its own database, a
migrated SQLite file, because it must see the committed job from another connection.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import redis
from celery.contrib.testing.worker import start_worker
from sqlalchemy.orm import Session

from app import job_kinds
from app.cli import alembic_config
from app.config import Environment, Settings
from app.db import make_engine
from app.jobs import service as jobs
from app.jobs.models import Job
from app.seed import load_reference_data
from app.worker import celery_app
from tests.factories import TEST_SECRET, create_user

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.mark.slow
def test_celery_worker_runs_a_job_from_redis(tmp_path: Path) -> None:
    redis.Redis.from_url(REDIS_URL).ping()  # the broker must be up: fail, never skip
    job_kinds.load()  # the calibration kind
    url = f"sqlite:///{tmp_path / 'celery.db'}"
    from alembic import command

    command.upgrade(alembic_config(url), "head")
    engine = make_engine(url)
    with Session(engine) as s:
        load_reference_data(s)
        user = create_user(s, role="admin")
        job = jobs.create(
            s,
            org_id=user.org_id,
            kind="calibration",
            params={
                "model": "llama_3_2_1b",
                "gpu": "h100_sxm_80gb",
                "engine": "hf-transformers",
                "prefill_points": [[1, 8], [1, 16]],
                "decode_points": [[1, 8], [2, 8]],
                "max_layers": 1,
                "matmul_n": 64,
                "copy_gib": 0.005,
                "warmup": 1,
                "iters": 1,
                "org_id": user.org_id,
                "created_by": user.email,
            },
            created_by=user.email,
        )
        s.commit()
        job_id = job.id
    settings = Settings(
        environment=Environment.test, secret_key=TEST_SECRET, database_url=url, broker_url=REDIS_URL
    )
    celery_app.conf.broker_url = REDIS_URL
    with start_worker(celery_app, pool="solo", perform_ping_check=False, loglevel="WARNING"):
        jobs.submit(job_id, settings)
        deadline = time.monotonic() + 90
        status = "queued"
        while time.monotonic() < deadline:
            with Session(engine) as s:
                j = s.get(Job, job_id)
                assert j is not None
                status = j.status
                if j.done:
                    break
            time.sleep(0.2)
    with Session(engine) as s:
        j = s.get(Job, job_id)
        assert j is not None
        assert status == "succeeded", j.error
        assert j.runner == "celery"
        assert j.attempts == 1
        assert j.result is not None
        assert j.result["device"] == "cpu"
    engine.dispose()
