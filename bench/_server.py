"""Start Axisboard for a benchmark: a fresh Postgres database, migrated and seeded with the demo
org, served by ``axisboard serve`` on a free port in a child process."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2
import psycopg

DEFAULT_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/axisboard_bench"
EXE = Path(sys.executable).parent / "axisboard"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def recreate_database(url: str) -> None:
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    base, _, name = dsn.rpartition("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def csrf_token(html: str) -> str:
    m = re.search(r'name="csrftoken" value="([^"]+)"', html)
    if not m:
        raise RuntimeError("no CSRF token on the page")
    return m.group(1)


def wait_healthy(base: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx2.get(f"{base}/api/v1/health", timeout=1).status_code == 200:
                return
        except httpx2.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{base} did not become healthy in {timeout_s:g} s")


@contextmanager
def demo_server(
    database_url: str, workers: int, extra_env: dict[str, str] | None = None
) -> Iterator[str]:
    """Recreate, migrate and seed ``database_url``; serve it; yield the base URL."""
    recreate_database(database_url)
    env = {
        **os.environ,
        "AXISBOARD_DATABASE_URL": database_url,
        "AXISBOARD_LOG_LEVEL": "WARNING",
        **(extra_env or {}),
    }
    subprocess.run([EXE, "migrate"], env=env, check=True, capture_output=True)
    subprocess.run([EXE, "seed", "--demo"], env=env, check=True, capture_output=True)
    port = free_port()
    server = subprocess.Popen(
        [EXE, "serve", "--port", str(port), "--workers", str(workers)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=20)
