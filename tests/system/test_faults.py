"""Faults under load: PostgreSQL restarts mid-traffic; Celery workers killed mid-job.

The database test runs its own PostgreSQL cluster (``initdb`` + ``pg_ctl`` from the server's
binaries, on a free port) so that restarting it cannot disturb anything else on the machine. The
worker test SIGKILLs real ``celery worker`` processes (solo pool: the job dies with the process)
while submissions keep arriving.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import psycopg
import pytest

from app.auth.permissions import Role
from app.demo import DEMO_USERS
from tests.system.conftest import (
    app_process,
    celery_worker,
    free_port,
    prepare_database,
    sibling_url,
    system_env,
    token,
    wait_until,
)


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        pytest.fail(f"PostgreSQL server binaries not found ({name}); apt-get install postgresql")
    return found[-1]


class Cluster:
    """A throwaway PostgreSQL cluster owned by the ``postgres`` user when run as root."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="axisboard-pg-"))
        self.port = free_port()
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_user:
            shutil.chown(self.dir, "postgres")
        self.data = self.dir / "data"
        self._run(_pg_bin("initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres")

    def _run(self, *args: str) -> None:
        subprocess.run([*self.as_user, *args], check=True, capture_output=True)

    def _ctl(self, *args: str) -> None:
        self._run(
            _pg_bin("pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.dir / "log"),
            "-o",
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1",
            "-w",
            *args,
        )

    def start(self) -> None:
        self._ctl("start")

    def stop(self) -> None:
        self._ctl("stop", "-m", "fast")

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/axisboard"

    def destroy(self) -> None:
        try:
            self.stop()
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    c = Cluster()
    c.start()
    yield c
    c.destroy()


@dataclass
class Load:
    """Submissions with unique Idempotency-Keys, in a loop, until stopped."""

    base: str
    headers: dict[str, str]
    deployment: int
    acknowledged: dict[str, int] = field(default_factory=dict)  # key -> assessment id (201)
    refused: dict[str, int] = field(default_factory=dict)  # key -> status (no 201)
    problems: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self, worker: int) -> None:
        n = 0
        with httpx2.Client(base_url=self.base, timeout=30) as c:
            while not self.stop.is_set():
                n += 1
                key = f"fault-{worker}-{n}"
                body = {"answers": [{"failure_mode": "serving_cost", "severity": 1 + n % 4}]}
                try:
                    r = c.post(
                        f"/api/v1/deployments/{self.deployment}/assessments",
                        json=body,
                        headers={**self.headers, "Idempotency-Key": key},
                    )
                except httpx2.HTTPError as exc:
                    self.problems.append(f"{key}: no response ({exc!r})")
                    continue
                if r.status_code == 201:
                    self.acknowledged[key] = r.json()["id"]
                    continue
                self.refused[key] = r.status_code
                if r.status_code != 503 or "Retry-After" not in r.headers:
                    self.problems.append(f"{key}: {r.status_code} {r.text[:200]}")
                elif "Traceback" in r.text or r.json().get("detail") is None:
                    self.problems.append(f"{key}: 503 without a clean JSON error: {r.text[:200]}")
                time.sleep(0.05)


def test_postgres_restart_under_load(cluster: Cluster, tmp_path: Path) -> None:
    env = system_env(cluster.url, tmp_path)
    prepare_database(env)
    with app_process(env, tmp_path / "app.log") as base:
        lead = token(base, DEMO_USERS[Role.product_lead])
        dep = httpx2.get(f"{base}/api/v1/deployments", headers=lead).json()["items"][0]["id"]
        load = Load(base, lead, dep)
        threads = [threading.Thread(target=load.run, args=(i,)) for i in range(3)]
        for t in threads:
            t.start()
        wait_until(lambda: len(load.acknowledged) >= 10, 30, "no submissions before the fault")
        before = len(load.acknowledged)
        cluster.stop()
        time.sleep(2)  # the outage
        outage = httpx2.get(f"{base}/api/v1/health")
        assert outage.status_code == 503
        cluster.start()
        restarted = time.monotonic()
        wait_until(
            lambda: len(load.acknowledged) >= before + 10,
            30,
            "the app did not recover after the restart",
        )
        recovery_s = time.monotonic() - restarted
        load.stop.set()
        for t in threads:
            t.join(timeout=30)
        assert load.problems == [], load.problems[:5]
        assert any(s == 503 for s in load.refused.values()), "no request saw the outage"
        assert recovery_s < 10, f"recovered only after {recovery_s:.1f} s"

        # A client retries what was refused with the same key: each lands exactly once.
        for key in load.refused:
            r = httpx2.post(
                f"{base}/api/v1/deployments/{dep}/assessments",
                json={
                    "answers": [
                        {
                            "failure_mode": "serving_cost",
                            "severity": 1 + int(key.rsplit("-", 1)[1]) % 4,
                        }
                    ]
                },
                headers={**lead, "Idempotency-Key": key},
            )
            assert r.status_code == 201, (key, r.status_code, r.text)
        admin = token(base, DEMO_USERS[Role.admin])
        verify = httpx2.get(f"{base}/api/v1/audit/verify", headers=admin).json()
        assert verify["ok"], verify

    dsn = cluster.url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn:
        rows = dict(
            conn.execute(
                "SELECT idempotency_key, count(*) FROM assessments "
                "WHERE idempotency_key LIKE 'fault-%' GROUP BY 1"
            ).fetchall()
        )
        stored_ids = dict(
            conn.execute(
                "SELECT idempotency_key, id FROM assessments WHERE idempotency_key LIKE 'fault-%'"
            ).fetchall()
        )
        submits = conn.execute(
            "SELECT count(*) FROM audit_events WHERE action = 'assessment.submit' "
            "AND after->>'deployment_id' = %s",
            (str(dep),),
        ).fetchone()[0]
    assert all(n == 1 for n in rows.values()), "a submission was stored twice"
    for key, aid in load.acknowledged.items():  # nothing acknowledged is lost
        assert stored_ids.get(key) == aid, key
    assert set(rows) == set(load.acknowledged) | set(load.refused)
    # One audit event per stored assessment (plus the demo seed's own submission).
    assert submits == len(rows) + 1


# About 15 s of CPU work in steps of 1-2 s, so a worker can be killed between two progress reports.
SLOW_CALIBRATION = {
    "model": "llama_3_2_1b",
    "gpu": "h100_sxm_80gb",
    "prefill_points": [[1, 32]] * 3,
    "decode_points": [[1, 32]] * 3,
    "max_layers": 1,
    "matmul_n": 256,
    "copy_gib": 0.01,
    "warmup": 1,
    "iters": 10,
}


def test_a_worker_killed_mid_job_is_retried_then_failed_never_stuck_running(
    tmp_path: Path, clean_broker: str
) -> None:
    env = system_env(
        sibling_url("faults_jobs"),
        tmp_path,
        AXISBOARD_BROKER_URL=clean_broker,
        AXISBOARD_JOB_HEARTBEAT_S="0.5",
        AXISBOARD_JOB_STALE_AFTER_S="3",
    )
    prepare_database(env)
    logs = [tmp_path / f"worker{i}.log" for i in range(3)]
    with app_process(env, tmp_path / "app.log") as base:
        admin = token(base, DEMO_USERS[Role.admin])
        lead = token(base, DEMO_USERS[Role.product_lead])
        dep = httpx2.get(f"{base}/api/v1/deployments", headers=lead).json()["items"][0]["id"]
        load = Load(base, lead, dep)  # submissions keep coming while workers die
        threads = [threading.Thread(target=load.run, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()

        def job(job_id: int) -> dict[str, Any]:
            r = httpx2.get(f"{base}/api/v1/jobs/{job_id}", headers=admin, timeout=30)
            assert r.status_code == 200, r.text
            return dict(r.json())

        def mid_run(job_id: int, attempt: int) -> None:
            wait_until(
                lambda: (
                    (j := job(job_id))["status"] == "running"
                    and j["attempts"] == attempt
                    and j["progress"] >= 10
                ),
                60,
                f"job {job_id} did not get going (attempt {attempt})",
            )

        def start() -> int:
            r = httpx2.post(f"{base}/api/v1/calibrations", headers=admin, json=SLOW_CALIBRATION)
            assert r.status_code == 202, r.text
            return int(r.json()["id"])

        # 1. The worker dies mid-job; the next worker takes it up and finishes it (attempt 2).
        with celery_worker(env, logs[0]) as first:
            retried = start()
            mid_run(retried, attempt=1)
            first.kill()
        with celery_worker(env, logs[1]) as second:
            wait_until(
                lambda: job(retried)["status"] == "succeeded",
                120,
                "the killed worker's job was not run again",
            )
            done = job(retried)
            assert (done["attempts"], done["runner"]) == (2, "celery")

            # 2. Killed again on its second attempt, a job is failed, not left "running".
            doomed = start()
            mid_run(doomed, attempt=1)
            second.kill()
        with celery_worker(env, logs[2]) as third:
            mid_run(doomed, attempt=2)
            third.kill()
        # No worker is left: the API's read reaps it once its heartbeat is stale.
        wait_until(
            lambda: job(doomed)["status"] == "failed", 30, "a job whose runners died stayed running"
        )
        failed = job(doomed)
        assert failed["attempts"] == 2
        assert "not retried again" in str(failed["error"])
        load.stop.set()
        for t in threads:
            t.join(timeout=30)
        assert load.problems == [], load.problems[:5]
        assert load.refused == {}, "killing workers disturbed the app"
        assert len(load.acknowledged) > 0

    dsn = env["AXISBOARD_DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn:
        statuses = dict(conn.execute("SELECT id, status FROM jobs").fetchall())
        (stored,) = conn.execute("SELECT count(*) FROM calibrations").fetchone() or (0,)
    assert statuses == {retried: "succeeded", doomed: "failed"}
    assert stored == 1  # the killed attempts stored nothing; the retry stored its result once
