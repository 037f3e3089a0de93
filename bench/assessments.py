"""End-to-end assessment submission under load (issue 5): HTTP → database → rules engine →
rendered recommendation page, on Postgres, at 20 concurrent clients.

    python -m bench.assessments [--clients 20] [--submissions 400] [--workers 2]
                                [--database-url postgresql+psycopg://postgres@127.0.0.1/axisboard_bench]

It creates (drops and recreates) the bench database, migrates and seeds it with the demo org,
starts ``axisboard serve`` on a free port, signs each client in as the demo product lead, and has
every client submit the questionnaire form (POST, 303) and load the recommendation page it lands
on. One submission = POST + the GET of the page. Three runs, compared as ratios in one run:

* 1 client, back to back: the uncontended latency;
* 20 clients, back to back (closed loop, no think time): saturation, i.e. the capacity of this
  machine in submissions/s (the load generator shares its cores with the server);
* 20 clients that each pause between submissions (exponential think time, mean ``--think`` s),
  as people filling in questionnaires do: the latency a user sees at that concurrency.

Prints p50/p95/p99 and submissions/s for each. Target (issue 5): p95 < 150 ms at 20 clients.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import statistics
import time
from pathlib import Path

import httpx2

from app.auth.permissions import Role
from app.demo import DEMO_PASSWORD, DEMO_USERS
from bench._server import DEFAULT_DATABASE_URL, csrf_token, demo_server

ROOT = Path(__file__).resolve().parent.parent
FORM = {
    "fm.factual_staleness.severity": "3",
    "fm.factual_staleness.share": "35",
    "fm.factual_staleness.segments": "English",
    "fm.factual_staleness.corpus_tokens": "4e7",
    "fm.factual_staleness.cross_document": "no",
    "fm.policy_noncompliance.severity": "2",
    "fm.policy_noncompliance.share": "8",
    "fm.complex_task_errors.severity": "2",
    "fm.complex_task_errors.share": "10",
    "fm.serving_cost.severity": "1",
    "governance_capacity": "12",
}


async def _client(base: str, dep_id: int, n: int, out: list[float], think: float) -> None:
    rng = random.Random(len(out) + id(out))
    async with httpx2.AsyncClient(base_url=base, timeout=30) as c:
        page = await c.get("/login")
        r = await c.post(
            "/login",
            data={
                "csrftoken": csrf_token(page.text),
                "next": "/",
                "email": DEMO_USERS[Role.product_lead],
                "password": DEMO_PASSWORD,
            },
        )
        if r.status_code != 303:
            raise RuntimeError(f"login failed: {r.status_code}")
        token = csrf_token((await c.get(f"/deployments/{dep_id}/assessment")).text)
        for _ in range(n):
            if think:
                await asyncio.sleep(rng.expovariate(1 / think))
            t0 = time.perf_counter()
            r = await c.post(f"/deployments/{dep_id}/assessment", data={"csrftoken": token, **FORM})
            if r.status_code != 303:
                raise RuntimeError(f"submission failed: {r.status_code} {r.text[:300]}")
            page = await c.get(r.headers["location"])
            if page.status_code != 200 or "score-chart" not in page.text:
                raise RuntimeError(f"recommendation page failed: {page.status_code}")
            out.append(time.perf_counter() - t0)


async def _run(
    base: str, dep_id: int, clients: int, per_client: int, think: float = 0.0
) -> tuple[list[float], float]:
    times: list[float] = []
    t0 = time.perf_counter()
    await asyncio.gather(*(_client(base, dep_id, per_client, times, think) for _ in range(clients)))
    return times, time.perf_counter() - t0


def _report(label: str, times: list[float], wall: float) -> float:
    q = statistics.quantiles(times, n=100)
    p50, p95, p99 = statistics.median(times), q[94], q[98]
    print(
        f"{label}: {len(times)} submissions, p50 {p50 * 1e3:.1f} ms, p95 {p95 * 1e3:.1f} ms, "
        f"p99 {p99 * 1e3:.1f} ms, {len(times) / wall:.1f} submissions/s"
    )
    return p95


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--submissions", type=int, default=400)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--think", type=float, default=1.0, help="mean think time (s) of run 3")
    ap.add_argument(
        "--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL)
    )
    args = ap.parse_args()
    with demo_server(args.database_url, args.workers) as base:
        dep_id = 1  # the first demo deployment (Support chatbot)
        print(
            f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
            f"Python {platform.python_version()}; server: {args.workers} uvicorn worker(s); "
            f"Postgres at {args.database_url.rsplit('@', 1)[-1]}"
        )
        asyncio.run(_run(base, dep_id, 2, 10))  # warm-up (imports, caches, connections)
        solo, wall = asyncio.run(_run(base, dep_id, 1, 50))
        p95_one = _report("1 client  ", solo, wall)
        per = max(1, args.submissions // args.clients)
        times, wall = asyncio.run(_run(base, dep_id, args.clients, per))
        p95_sat = _report(f"{args.clients} clients, no think time", times, wall)
        times, wall = asyncio.run(_run(base, dep_id, args.clients, per, args.think))
        p95 = _report(f"{args.clients} clients, think {args.think:g} s", times, wall)
        print(
            f"p95 ratios to 1 client: saturated {p95_sat / p95_one:.2f}x, "
            f"with think time {p95 / p95_one:.2f}x"
        )
        for label, value in (("saturated", p95_sat), ("with think time", p95)):
            verdict = "meets" if value < 0.150 else "misses"
            print(f"  {label}: {verdict} the 150 ms p95 target ({value * 1e3:.0f} ms)")


if __name__ == "__main__":
    main()
