"""The server stays responsive under the heaviest work it accepts (issue 17, item 3).

A real ``axisboard serve`` process (no broker: jobs run in its bounded process pool) receives,
one kind after another, the heaviest request of each kind that it runs inline (a Chinchilla fit
and a conditional-law fit at their inline limits, a PDF report at its inline limit) and the
heaviest jobs it accepts (a fit of 100 runs × 1,000 resamples, the conditional law over 5,000
runs in 4,999 scales, a large PDF, and a torch measurement at the memory cap). The jobs keep
running while the later phases are measured, so the last phases see all of them at once. Through
it all ``GET /api/v1/health`` is timed every 50 ms. The test fails on a stall (any probe over
``HEALTH_STALL_MS``: before the fix a fit stalled health for 27 s); the issue's 200 ms target is
a timing target, so it is printed here (``-s``) and judged on the figures in the README, not
asserted on a shared machine.
"""

from __future__ import annotations

import math
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx2

from app.auth.permissions import Role
from app.demo import DEMO_USERS
from app.estimators.architecture import Architecture
from app.estimators.calibration import decode_memory_bytes
from app.estimators.chinchilla import FITS
from app.jobs import limits
from app.scaling import conditional
from tests.system.conftest import (
    app_process,
    prepare_database,
    sibling_url,
    system_env,
    token,
    wait_until,
)

HEALTH_TARGET_MS = 200.0  # issue 17's target, reported
HEALTH_STALL_MS = 1500.0  # asserted: the event loop never stalls behind heavy work
JOB_WINDOW_S = 4.0  # health is watched this long while each job runs
TORCH_GIB = 1.5  # the torch memory limit the server is given (a test must not take 6 GiB)
DESIGN = {
    "n_layers": 16,
    "d_model": 2048,
    "d_ff": 8192,
    "n_heads": 32,
    "n_kv_heads": 8,
    "d_head": 64,
    "vocab": 32000,
    "tied_embeddings": True,
}


@contextmanager
def health_watch(base: str, figures: dict[str, list[float]], phase: str) -> Iterator[None]:
    """Time /api/v1/health every 50 ms from a thread while the block runs."""
    stop = threading.Event()
    latencies: list[float] = []
    errors: list[str] = []

    def probe() -> None:
        with httpx2.Client(base_url=base, timeout=5) as c:
            while not stop.is_set():
                t = time.perf_counter()
                try:
                    r = c.get("/api/v1/health")
                    if r.status_code != 200:
                        errors.append(f"{r.status_code}")
                except httpx2.HTTPError as exc:
                    errors.append(repr(exc))
                latencies.append((time.perf_counter() - t) * 1e3)
                stop.wait(0.05)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    try:
        yield
    finally:
        # work that ends sooner than five probes (a quiet machine) is still measured five times:
        # the last probes land just after it, which can only lower the maximum, never hide a stall
        # during the work (a stall would have delayed the probes in flight)
        deadline = time.perf_counter() + 2.0
        while len(latencies) < 5 and time.perf_counter() < deadline and thread.is_alive():
            time.sleep(0.01)
        stop.set()
        thread.join(timeout=10)
    assert not errors, (phase, errors[:5])
    assert len(latencies) >= 5, (phase, "too few probes", latencies)
    figures[phase] = latencies


def _chinchilla_runs(n: int) -> list[dict[str, float]]:
    f = FITS["epoch_2024"]
    out = []
    for i in range(n):
        p = 10 ** (7 + 3 * (i % 97) / 97)
        d = p * 10 ** (0.5 + 2 * (i % 89) / 89)
        loss = (f.E + f.A / p**f.alpha + f.B / d**f.beta) * (1 + 0.003 * math.sin(i))
        out.append({"params": p, "tokens": d, "loss": loss})
    return out


def _conditional_runs(n: int, scales: int) -> list[dict[str, Any]]:
    ref = FITS["epoch_2024"]
    sizes = [8e7 * (1e9 / 8e7) ** (k / max(1, scales - 1)) for k in range(scales)]
    per = math.ceil(n / scales)
    runs = conditional.synthetic_runs(
        conditional.PUBLISHED["bian_task3"],
        [(s, ref.loss(s, 100 * s)) for s in sizes],
        per_scale=per,
    )
    out = []
    for i, (nn, x, r, loss, lref) in enumerate(
        zip(runs.n_non_embed, runs.x, runs.r, runs.loss, runs.reference_loss, strict=True)
    ):
        if i == n:
            break
        out.append(
            {
                "n_non_embed": float(nn),
                "d_model": round(float(x) * float(nn) ** 0.5),
                "r": float(r),
                "loss": float(loss),
                "reference_loss": float(lref),
                "scale": f"s{i * scales // n}",
            }
        )
    return out


def _evaluation(n_results: int, offset: int = 0) -> dict[str, Any]:
    results = [
        {
            "segment": f"seg{offset + i // 2}",
            "metric": "accuracy",
            "phase": ("before", "after")[i % 2],
            "value": 0.8 + 0.1 * ((i // 2) % 3 == 0),
        }
        for i in range(n_results)
    ]
    return {"label": f"eval {offset}", "results": results}


def _follow(api: str, h: dict[str, str], job_id: int, window_s: float) -> list[dict[str, Any]]:
    """The job as its poller sees it, every half second for ``window_s``."""
    seen = []
    end = time.monotonic() + window_s
    while time.monotonic() < end:
        seen.append(httpx2.get(f"{api}/jobs/{job_id}", headers=h).json())
        time.sleep(0.5)
    return seen


def _running(base: str, h: dict[str, str], job_id: int) -> bool:
    return httpx2.get(f"{base}/api/v1/jobs/{job_id}", headers=h).json()["status"] == "running"


def test_health_never_stalls_under_the_heaviest_allowed_work(tmp_path: Path) -> None:
    env = system_env(
        sibling_url("heavy"),
        tmp_path,
        AXISBOARD_JOB_WORKERS="4",
        AXISBOARD_TORCH_MEMORY_GIB=str(TORCH_GIB),
    )
    prepare_database(env)
    figures: dict[str, list[float]] = {}
    # a shared 2-vCPU machine under load can take ~30 s to start the app: allow for it
    with app_process(env, tmp_path / "app.log", start_timeout_s=120) as base:
        h = {role: token(base, DEMO_USERS[role]) for role in Role}
        api = f"{base}/api/v1"
        dep = httpx2.get(f"{api}/deployments", headers=h[Role.admin]).json()["items"][0]["id"]
        t = 600.0  # a generous client timeout: the phases assert, not the transport

        # ---- inline, at the inline limits ----
        with health_watch(base, figures, "inline Chinchilla fit (5,000 runs x 5 resamples)"):
            r = httpx2.post(
                f"{api}/scaling/chinchilla/fit",
                headers=h[Role.viewer],
                timeout=t,
                json={"runs": _chinchilla_runs(5000), "bootstrap": limits.INLINE_MAX_BOOTSTRAP},
            )
        assert r.status_code == 200, r.text[:300]

        scales = limits.INLINE_MAX_CONDITIONAL_WORK // 5000 - 1  # 5,000 x 400 = the limit
        with health_watch(base, figures, f"inline conditional fit (5,000 runs, {scales} scales)"):
            r = httpx2.post(
                f"{api}/scaling/conditional-law/fit",
                headers=h[Role.viewer],
                timeout=t,
                json={"runs": _conditional_runs(5000, scales)},
            )
        assert r.status_code == 200, r.text[:300]

        gov = h[Role.governance]
        r = httpx2.post(
            f"{api}/deployments/{dep}/evaluations",
            headers=gov,
            json=_evaluation(limits.INLINE_MAX_REPORT_RESULTS),
        )
        assert r.status_code == 201, r.text[:300]
        with health_watch(base, figures, "inline PDF report (300 evaluation results)"):
            r = httpx2.get(
                f"{api}/deployments/{dep}/report?format=pdf", headers=h[Role.admin], timeout=t
            )
        assert r.status_code == 200, r.text[:300]
        assert r.content.startswith(b"%PDF")

        # ---- jobs, at the caps (each keeps running through the later phases) ----
        def job_phase(
            name: str, path: str, headers: dict[str, str], while_running: Any = None, **kw: Any
        ) -> int:
            with health_watch(base, figures, name):
                started = httpx2.post(f"{api}{path}", headers=headers, timeout=t, **kw)
                assert started.status_code == 202, (name, started.text[:300])
                job_id = int(started.json()["id"])
                wait_until(lambda: _running(base, headers, job_id), 60, f"{name} did not start")
                if while_running is not None:
                    while_running(job_id)
                seen = _follow(api, headers, job_id, JOB_WINDOW_S)  # health watched meanwhile
            assert seen[-1]["status"] in ("running", "succeeded"), seen[-1]
            assert seen[-1]["runner"] == "process"
            assert [s["progress"] for s in seen] == sorted(s["progress"] for s in seen)
            return job_id

        fit_body = {"runs": _chinchilla_runs(100), "bootstrap": 1000}

        def second_is_refused(job_id: int) -> None:
            # one heavy job per user: a second one from the same user while the first runs is
            # refused, naming it (asked as soon as the first runs, whatever the machine's speed)
            again = httpx2.post(
                f"{api}/scaling/chinchilla/fit", headers=h[Role.architect], json=fit_body, timeout=t
            )
            assert again.status_code == 409, again.text[:300]
            assert f"job {job_id}" in again.json()["detail"]

        fit_job = job_phase(
            "job: Chinchilla fit (100 runs x 1,000 resamples)",
            "/scaling/chinchilla/fit",
            h[Role.architect],
            while_running=second_is_refused,
            json=fit_body,
        )
        progress = httpx2.get(f"{api}/jobs/{fit_job}", headers=h[Role.architect]).json()
        assert progress["message"].startswith(("bootstrap resample", "fitting", "done")), progress

        job_phase(
            "job: conditional fit (5,000 runs, 4,999 scales)",
            "/scaling/conditional-law/fit",
            h[Role.viewer],
            json={"runs": _conditional_runs(5000, 4999)},
        )

        r = httpx2.post(
            f"{api}/deployments/{dep}/evaluations", headers=gov, json=_evaluation(4000, offset=1000)
        )
        assert r.status_code == 201, r.text[:300]
        assert (
            httpx2.get(
                f"{api}/deployments/{dep}/report?format=pdf", headers=h[Role.product_lead]
            ).status_code
            == 409
        )
        job_phase(
            "job: PDF report (4,300 evaluation results)",
            f"/deployments/{dep}/report/jobs",
            h[Role.product_lead],
        )

        # torch at the memory cap: five designs, batch 16 at 4,096 tokens (1.45 of 1.5 GiB)
        measure = {
            "designs": [{"label": f"d{i}", "architecture": DESIGN} for i in range(5)],
            "gpu": "a100_sxm_80gb",
            "batch": 16,
            "context": 4096,
        }
        need = decode_memory_bytes(
            [Architecture(**DESIGN, name="d")], batch=16, context=4096, max_layers=2
        )
        assert 0.9 * TORCH_GIB * 2**30 < need <= TORCH_GIB * 2**30
        over = httpx2.post(
            f"{api}/scaling/architecture-search/measure",
            headers=h[Role.admin],
            json={**measure, "batch": 32},
        )
        assert over.status_code == 422
        assert over.json()["field"] == "max_layers"  # one layer of each would fit
        job_phase(
            "job: torch measurement at the memory cap (all jobs running)",
            "/scaling/architecture-search/measure",
            h[Role.admin],
            json=measure,
        )

    report = {p: (len(v), sorted(v)[len(v) // 2], max(v)) for p, v in figures.items()}
    lines = [
        f"  {phase}: {n} probes, median {median:.1f} ms, max {worst:.1f} ms"
        for phase, (n, median, worst) in report.items()
    ]
    over = sum(1 for v in figures.values() for ms in v if ms > HEALTH_TARGET_MS)
    total = sum(len(v) for v in figures.values())
    sys.stdout.write(
        f"\nGET /api/v1/health under load ({over} of {total} probes over "
        f"{HEALTH_TARGET_MS:g} ms):\n" + "\n".join(lines) + "\n"
    )
    stalled = {p: worst for p, (_, _, worst) in report.items() if worst > HEALTH_STALL_MS}
    assert not stalled, f"health stalled beyond {HEALTH_STALL_MS:g} ms: {stalled}"
