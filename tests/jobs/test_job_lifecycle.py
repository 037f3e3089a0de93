"""A job whose runner dies is recovered: heartbeats while it runs, stale jobs requeued (attempts
left) or failed, one runner at a time, and a runner that lost its job cannot overwrite the next
attempt. The whole-system version (a Celery worker SIGKILLed mid-calibration) is in
tests/system/test_faults.py."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from app.cli import alembic_config
from app.config import Environment, Settings
from app.db import make_engine, make_sessionmaker, utcnow
from app.jobs import registry
from app.jobs import service as jobs
from app.jobs.models import Job
from tests.factories import TEST_SECRET, api_headers, create_user

_owners = itertools.count()


def _job(session: Session, org_id: int, kind: str = "calibration", **fields: Any) -> Job:
    # each job its own owner: one heavy job per user would refuse a second active one
    job = jobs.create(
        session, org_id=org_id, kind=kind, params={}, created_by=f"t{next(_owners)}@example.com"
    )
    for name, value in fields.items():
        setattr(job, name, value)
    session.flush()
    return job


def _stale(minutes: float) -> dict[str, Any]:
    then = utcnow() - timedelta(minutes=minutes)
    return {"status": "running", "started_at": then, "heartbeat_at": then}


def test_stale_jobs_are_requeued_once_then_failed_and_live_ones_left_alone(
    session: Session,
) -> None:
    org = create_user(session, role="admin").org_id
    first = _job(session, org, attempts=1, **_stale(5))
    second = _job(session, org, attempts=jobs.MAX_ATTEMPTS, **_stale(5))
    live = _job(session, org, attempts=1, **_stale(0.1))
    legacy = _job(
        session,
        org,
        attempts=1,
        status="running",
        started_at=utcnow() - timedelta(hours=1),
        heartbeat_at=None,
    )
    done = _job(
        session, org, attempts=1, status="succeeded", heartbeat_at=utcnow() - timedelta(hours=1)
    )

    requeued = jobs.reap_stale(session, stale_after_s=60)

    assert sorted(requeued) == sorted([first.id, legacy.id])
    assert first.status == "queued"
    assert "runner stopped during attempt 1" in first.message
    assert second.status == "failed"
    assert second.finished_at is not None
    assert "not retried again" in (second.error or "")
    assert live.status == "running"
    assert done.status == "succeeded"
    assert jobs.reap_stale(session, stale_after_s=60) == []  # nothing left to reap


def test_a_job_is_claimed_by_one_runner_only(session: Session) -> None:
    org = create_user(session, role="admin").org_id
    job = _job(session, org)
    assert jobs.claim(session, job.id) == 1
    assert jobs.claim(session, job.id) is None  # running: a second runner backs off
    session.refresh(job)
    assert (job.status, job.attempts) == ("running", 1)
    assert job.heartbeat_at is not None


@pytest.fixture
def file_db(tmp_path: Path) -> Iterator[tuple[Engine, sessionmaker[Session]]]:
    """A migrated SQLite file: the heartbeat thread needs connections of its own."""
    from alembic import command

    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    command.upgrade(alembic_config(url), "head")
    engine = make_engine(url)
    yield engine, make_sessionmaker(engine)
    engine.dispose()


@pytest.fixture
def slow_kind(monkeypatch: pytest.MonkeyPatch) -> dict[str, threading.Event]:
    """A job kind that works until released, so a test can look at it mid-run."""
    events = {"started": threading.Event(), "release": threading.Event()}

    def slow(factory: Any, params: dict[str, Any], progress: registry.Progress) -> dict[str, Any]:
        events["started"].set()
        assert events["release"].wait(10)
        return {"ok": True}

    monkeypatch.setitem(registry.HANDLERS, "slow", slow)
    return events


def _start_slow_job(
    factory: sessionmaker[Session], started: threading.Event, heartbeat_s: float | None
) -> tuple[int, threading.Thread]:
    """A committed job of the slow kind, running in a thread until released."""
    with factory() as s:
        org_id = create_user(s, role="admin").org_id
        job_id = _job(s, org_id, kind="slow").id
        s.commit()
    runner = threading.Thread(
        target=jobs.run, args=(job_id, factory), kwargs={"heartbeat_s": heartbeat_s}
    )
    runner.start()
    assert started.wait(10)
    return job_id, runner


def test_a_running_job_beats_and_its_outcome_is_recorded(
    file_db: tuple[Engine, sessionmaker[Session]], slow_kind: dict[str, threading.Event]
) -> None:
    _, factory = file_db
    job_id, runner = _start_slow_job(factory, slow_kind["started"], heartbeat_s=0.05)
    with factory() as s:
        first = s.get(Job, job_id)
        assert first is not None
        assert first.status == "running"
        beat0 = first.heartbeat_at
    time.sleep(0.3)
    with factory() as s:
        later = s.get(Job, job_id)
        assert later is not None
        assert beat0 is not None
        assert later.heartbeat_at is not None
        assert later.heartbeat_at > beat0  # the thread keeps it fresh while the handler works
        assert jobs.reap_stale(s, stale_after_s=0.25) == []  # so it is not reaped
    slow_kind["release"].set()
    runner.join(10)
    with factory() as s:
        job = s.get(Job, job_id)
        assert job is not None
        assert (job.status, job.result, job.attempts) == ("succeeded", {"ok": True}, 1)


def test_a_runner_that_lost_its_job_does_not_overwrite_the_next_attempt(
    file_db: tuple[Engine, sessionmaker[Session]], slow_kind: dict[str, threading.Event]
) -> None:
    _, factory = file_db
    job_id, runner = _start_slow_job(factory, slow_kind["started"], heartbeat_s=None)
    with factory() as s:  # its heartbeat looks old: reaped and taken by attempt 2
        assert jobs.reap_stale(s, stale_after_s=0, now=utcnow() + timedelta(seconds=1)) == [job_id]
        assert jobs.claim(s, job_id) == 2
        s.commit()
    slow_kind["release"].set()
    runner.join(10)
    with factory() as s:
        job = s.get(Job, job_id)
        assert job is not None
        assert (job.status, job.attempts, job.result) == ("running", 2, None)


def test_reading_a_job_whose_runner_died_requeues_and_resubmits_it(
    client: TestClient, session: Session, asgi: Any
) -> None:
    started: list[int] = []
    asgi.fastapi_app.state.job_runner = started.append
    user = create_user(session, role="admin")
    orphan = _job(session, user.org_id, attempts=1, **_stale(5))
    hopeless = _job(session, user.org_id, attempts=2, **_stale(5))
    headers = api_headers(client, user.email)

    r = client.get(f"/api/v1/jobs/{orphan.id}", headers=headers)
    assert r.status_code == 200
    assert (r.json()["status"], r.json()["attempts"]) == ("queued", 1)
    assert started == [orphan.id]  # handed to the runner again once the read committed
    failed = client.get(f"/api/v1/jobs/{hopeless.id}", headers=headers).json()
    assert failed["status"] == "failed"
    assert "not retried again" in failed["error"]
    assert started == [orphan.id]
    asgi.fastapi_app.state.job_runner = None


def test_stale_after_must_cover_several_heartbeats() -> None:
    with pytest.raises(ValueError, match="at least 3"):
        Settings(
            environment=Environment.test,
            secret_key=TEST_SECRET,
            job_heartbeat_s=10,
            job_stale_after_s=20,
        )


def test_pool_processes_run_below_the_web_process() -> None:
    """The bounded pool's processes start at a lower CPU priority (nice +10) with one BLAS thread
    each (the README's promise), so jobs never crowd out requests on a small machine."""
    import os

    jobs.shutdown_pool()
    try:
        pool = jobs._pool(1)
        child_nice = pool.submit(os.nice, 0).result(timeout=60)
        child_threads = pool.submit(os.getenv, "OMP_NUM_THREADS").result(timeout=60)
    finally:
        jobs.shutdown_pool()
    assert child_nice == min(os.nice(0) + jobs.JOB_NICENESS, 19)
    assert child_threads == os.environ.get("OMP_NUM_THREADS", "1")
