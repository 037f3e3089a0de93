"""Whole-system fixtures: real ``axisboard serve`` processes and Celery workers on a database of
their own (a sibling of the test database), the way they run in production.

These tests need Postgres (several processes share one database): ``TEST_DATABASE_URL`` as in
CI (``.ci/run``), else the local server at 127.0.0.1:5432; they fail, never skip, without it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2
import pytest
import redis

from app.demo import DEMO_PASSWORD
from bench._server import free_port, recreate_database

BIN = Path(sys.executable).parent
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


# Without TEST_DATABASE_URL (CI sets it), the local server the README's set-up assumes.
LOCAL_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/axisboard_test"


def sibling_url(suffix: str) -> str:
    """A database next to the test one: several processes must share it, so it is Postgres."""
    url = os.environ.get("TEST_DATABASE_URL", LOCAL_POSTGRES)
    if not url.startswith("postgresql"):
        pytest.fail(f"system tests need Postgres (several processes share it), not {url}")
    return f"{url}_{suffix}"


def system_env(database_url: str, tmp: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "AXISBOARD_DATABASE_URL": database_url,
        "AXISBOARD_LOG_LEVEL": "WARNING",
        "AXISBOARD_AUDIT_CHECKPOINT_PATH": str(tmp / "audit-checkpoints.jsonl"),
        **extra,
    }


def prepare_database(env: dict[str, str]) -> None:
    """Fresh database, migrated and seeded with the demo org (``make run`` does the same)."""
    recreate_database(env["AXISBOARD_DATABASE_URL"])
    for args in (["migrate"], ["seed", "--demo"]):
        subprocess.run([BIN / "axisboard", *args], env=env, check=True, capture_output=True)


@contextmanager
def app_process(env: dict[str, str], log: Path, start_timeout_s: float = 30) -> Iterator[str]:
    port = free_port()
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [BIN / "axisboard", "serve", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(
            lambda: _healthy(base), start_timeout_s, f"app on {base} did not start; see {log}"
        )
        yield base
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextmanager
def celery_worker(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [
                BIN / "celery",
                "-A",
                "app.worker",
                "worker",
                "--pool=solo",
                "--loglevel=INFO",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until(lambda: b"ready" in log.read_bytes(), 30, f"worker did not start; see {log}")
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()


def _healthy(base: str) -> bool:
    try:
        return httpx2.get(f"{base}/api/v1/health", timeout=1).status_code == 200
    except httpx2.HTTPError:
        return False


def wait_until(check, timeout_s: float, message: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(message)


def token(base: str, email: str) -> dict[str, str]:
    r = httpx2.post(
        f"{base}/api/v1/auth/token", data={"username": email, "password": DEMO_PASSWORD}
    )
    r.raise_for_status()
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


@pytest.fixture
def clean_broker() -> Iterator[str]:
    r = redis.Redis.from_url(REDIS_URL)
    r.flushdb()
    yield REDIS_URL
    r.flushdb()
