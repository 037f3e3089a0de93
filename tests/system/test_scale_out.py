"""Scale-out: two app processes and a Celery worker on one Postgres and Redis.

Concurrent submissions through both processes, each Idempotency-Key repeated several times, store
exactly one assessment per key; the audit chain stays one unbroken chain (no two events share a
predecessor); a job submitted through one process runs on the worker and is read through the other.
"""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx2
import psycopg

from app.auth.permissions import Role
from app.demo import DEMO_USERS
from tests.system.conftest import (
    app_process,
    celery_worker,
    prepare_database,
    sibling_url,
    system_env,
    token,
    wait_until,
)

KEYS = 8
REPEATS = 4  # each key sent this many times, spread over both processes


def _body(i: int) -> dict[str, object]:
    return {
        "answers": [
            {
                "failure_mode": "factual_staleness",
                "severity": 2 + i % 3,
                "traffic_share": round(0.1 + i / 100, 2),
            },
            {"failure_mode": "serving_cost", "severity": 1},
        ]
    }


def test_two_processes_one_database_no_duplicates_one_chain(
    tmp_path: Path, clean_broker: str
) -> None:
    url = sibling_url("scaleout")
    env = system_env(url, tmp_path, AXISBOARD_BROKER_URL=clean_broker)
    prepare_database(env)
    with (
        app_process(env, tmp_path / "app-a.log") as a,
        app_process(env, tmp_path / "app-b.log") as b,
        celery_worker(env, tmp_path / "worker.log"),
    ):
        lead = token(a, DEMO_USERS[Role.product_lead])
        dep = httpx2.get(f"{b}/api/v1/deployments", headers=lead).json()["items"][0]["id"]
        calls = [(i, (a, b)[n % 2]) for i in range(KEYS) for n in range(REPEATS)]
        random.Random(7).shuffle(calls)

        def submit(call: tuple[int, str]) -> tuple[int, int, bool]:
            i, base = call
            headers = {**lead, "Idempotency-Key": f"scale-{i}"}
            r = httpx2.post(
                f"{base}/api/v1/deployments/{dep}/assessments",
                json=_body(i),
                headers=headers,
                timeout=60,
            )
            assert r.status_code == 201, (r.status_code, r.text)
            return i, r.json()["id"], r.headers.get("Idempotent-Replayed") == "true"

        with ThreadPoolExecutor(max_workers=16) as pool:
            results = list(pool.map(submit, calls))
        ids_by_key: dict[int, set[int]] = {}
        for i, aid, _ in results:
            ids_by_key.setdefault(i, set()).add(aid)
        assert all(len(ids) == 1 for ids in ids_by_key.values()), ids_by_key
        assert sum(1 for *_, replayed in results if not replayed) == KEYS

        # A job submitted through A runs on the worker; B reads its result.
        admin_a = token(a, DEMO_USERS[Role.admin])
        job = httpx2.post(
            f"{a}/api/v1/calibrations",
            headers=admin_a,
            timeout=30,
            json={
                "model": "llama_3_2_1b",
                "gpu": "h100_sxm_80gb",
                "prefill_points": [[1, 8], [1, 16]],
                "decode_points": [[1, 8], [2, 8]],
                "max_layers": 1,
                "matmul_n": 64,
                "copy_gib": 0.005,
                "warmup": 1,
                "iters": 1,
            },
        )
        assert job.status_code == 202, job.text
        admin_b = token(b, DEMO_USERS[Role.admin])

        def done() -> bool:
            j = httpx2.get(f"{b}/api/v1/jobs/{job.json()['id']}", headers=admin_b).json()
            return j["status"] in {"succeeded", "failed"}

        wait_until(done, 120, "the calibration job did not finish on the worker")
        j = httpx2.get(f"{b}/api/v1/jobs/{job.json()['id']}", headers=admin_b).json()
        assert j["status"] == "succeeded", j
        job_id = j["id"]

        verify = httpx2.get(f"{b}/api/v1/audit/verify", headers=admin_b).json()
        assert verify["ok"], verify

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn:
        stored = conn.execute(
            "SELECT idempotency_key, count(*) FROM assessments "
            "WHERE idempotency_key LIKE 'scale-%' GROUP BY 1"
        ).fetchall()
        assert len(stored) == KEYS, stored
        assert all(n == 1 for _, n in stored), stored
        events, predecessors, submits = conn.execute(
            "SELECT count(*), count(DISTINCT prev_hash), "
            "count(*) FILTER (WHERE action = 'assessment.submit') FROM audit_events"
        ).fetchone()
        assert events == predecessors, "two audit events share a predecessor: the chain forked"
        assert submits >= KEYS
        assert conn.execute("SELECT runner FROM jobs WHERE id = %s", (job_id,)).fetchone() == (
            "celery",
        )
