"""A portfolio search job over a broker is split into parts that Celery workers take (issue 20):
with one worker busy running the search itself, the search takes its queued parts, so it still
finishes; the parts' results combine into the same frontier as the in-process search."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import redis
from celery.contrib.testing.worker import start_worker
from sqlalchemy import select
from sqlalchemy.orm import Session

from app import job_kinds
from app.cli import alembic_config
from app.config import get_settings
from app.db import make_engine, make_sessionmaker
from app.jobs import limits
from app.jobs import service as jobs
from app.jobs.models import Job
from app.portfolios import search_service
from app.seed import load_reference_data
from app.worker import celery_app
from tests.factories import create_deployment, create_user

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
REQUEST = {
    "failure_modes": [
        {"failure_mode": "factual_staleness", "severity": 3},
        {"failure_mode": "complex_task_errors", "severity": 2},
    ]
}


@pytest.mark.slow
def test_a_search_job_is_split_into_parts_the_workers_take(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    redis.Redis.from_url(REDIS_URL).ping()  # the broker must be up: fail, never skip
    job_kinds.load()  # the portfolio search's kinds
    url = f"sqlite:///{tmp_path / 'celery.db'}"
    from alembic import command

    command.upgrade(alembic_config(url), "head")
    engine = make_engine(url)
    with Session(engine) as s:
        load_reference_data(s)
        user = create_user(s, role="architect")
        dep = create_deployment(s, user=user, requests_per_day=300_000)
        params = {
            "deployment_id": dep.id,
            "org_id": user.org_id,
            "created_by": user.email,
            "request": REQUEST,
        }
        job = jobs.create(
            s, org_id=user.org_id, kind="portfolio_search", params=params, created_by=user.email
        )
        s.commit()
        job_id = job.id
    monkeypatch.setattr(limits, "MIN_STATES_PER_PART", 10)
    monkeypatch.setenv("AXISBOARD_DATABASE_URL", url)
    monkeypatch.setenv("AXISBOARD_BROKER_URL", REDIS_URL)
    get_settings.cache_clear()
    celery_app.conf.broker_url = REDIS_URL
    try:
        with start_worker(celery_app, pool="solo", perform_ping_check=False, loglevel="WARNING"):
            jobs.submit(job_id, get_settings())
            deadline = time.monotonic() + 240
            while time.monotonic() < deadline:
                with Session(engine) as s:
                    j = s.get(Job, job_id)
                    assert j is not None
                    if j.done:
                        break
                time.sleep(0.3)
            time.sleep(1.0)  # let the worker drain the parts' messages (already done: no-ops)
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    with Session(engine) as s:
        j = s.get(Job, job_id)
        assert j is not None
        assert j.status == "succeeded", j.error
        parts = s.scalars(select(Job).where(Job.kind == "portfolio_search_part")).all()
        assert len(parts) >= 2
        assert all(p.status == "succeeded" for p in parts)
        covered = sorted(tuple(p.params["states"]) for p in parts)
        assert covered[0][0] == 0
        assert all(a[1] == b[0] for a, b in zip(covered, covered[1:], strict=False))
        split = j.result
    # the same search in one process: the same frontier
    factory = make_sessionmaker(engine)
    whole = search_service.run_job(factory, params, lambda *_: None).model_dump(mode="json")
    assert split is not None
    assert covered[-1][1] == whole["states_evaluated"]
    strip = ("elapsed_ms",)
    assert {k: v for k, v in split.items() if k not in strip} == {
        k: v for k, v in whole.items() if k not in strip
    }
    engine.dispose()
