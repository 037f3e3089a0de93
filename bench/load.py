"""Load test (issue 8): the personas' mixed requests (``bench/locustfile.py``) at 20 and 50
concurrent users against Axisboard on Postgres, headless.

    python -m bench.load [--users 20,50] [--duration 60] [--repeat 3] [--workers 2]
                         [--out var/load]
                         [--database-url postgresql+psycopg://postgres@127.0.0.1/axisboard_bench]

Each of ``--repeat`` runs recreates the bench database, migrates and seeds it with the demo org,
serves it with ``axisboard serve --workers N`` and runs locust once per user count. The
statistics are reset ``--warmup`` seconds after the last user has logged in, so the figures are
the steady state; what the warm-up hides is measured on its own first: a login, and the first
(uncached) and repeated visit of each estimate page configuration, on the idle server. Each run
prints requests/s, the error count and p50/p95/p99 per request type; then the medians over the
runs (on this 2-core machine one run's p95 moves by tens of ms) are printed and checked against
the targets at 20 users: no errors, p95 < 300 ms for every page, p95 < 150 ms for every estimate.
Locust's CSV files are kept under ``--out``. The load generator shares this machine's cores with
the server, as a separate client machine would not: the figures are a floor, not a ceiling.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx2

from app.auth.permissions import Role
from app.demo import DEMO_PASSWORD, DEMO_USERS
from bench._server import DEFAULT_DATABASE_URL, csrf_token, demo_server
from bench.scenario import ESTIMATE_PAGES

ROOT = Path(__file__).resolve().parent.parent
LOCUST = Path(sys.executable).parent / "locust"
# Time for every user's on_start (page, login, token, two lists) before the warm-up begins.
LOGIN_ALLOWANCE_S = 15
# Issue 8's targets, checked at TARGET_USERS concurrent users.
TARGET_USERS = 20
TARGET_P95_MS = {"page": 300.0, "estimate": 150.0}


@dataclass(frozen=True)
class Row:
    """One request type's line of locust's ``_stats.csv``."""

    name: str
    requests: int
    failures: int
    rps: float
    p50: float
    p95: float
    p99: float

    @property
    def kind(self) -> str:
        return self.name.split(":", 1)[0] if ":" in self.name else self.name


def read_stats(path: Path) -> tuple[list[Row], Row]:
    """Per-type rows and the aggregated row of a locust ``_stats.csv``."""
    rows = []
    with path.open(newline="") as f:
        for rec in csv.DictReader(f):
            if int(rec["Request Count"]) == 0:  # e.g. logins: all of them in the warm-up
                continue
            rows.append(
                Row(
                    name=rec["Name"],
                    requests=int(rec["Request Count"]),
                    failures=int(rec["Failure Count"]),
                    rps=float(rec["Requests/s"]),
                    p50=float(rec["50%"]),
                    p95=float(rec["95%"]),
                    p99=float(rec["99%"]),
                )
            )
    total = next(r for r in rows if r.name == "Aggregated")
    return sorted((r for r in rows if r.name != "Aggregated"), key=lambda r: r.name), total


def idle_costs(base: str) -> None:
    """What the warm-up hides, on the idle server: a login, and each estimate page's first
    (its load simulations run) and second (memoised) visit over one connection (one worker)."""
    with httpx2.Client(base_url=base, timeout=60) as c:
        logins = []
        for _ in range(3):
            page = c.get("/login")
            t0 = time.perf_counter()
            r = c.post(
                "/login",
                data={
                    "csrftoken": csrf_token(page.text),
                    "next": "/",
                    "email": DEMO_USERS[Role.architect],
                    "password": DEMO_PASSWORD,
                },
            )
            logins.append((time.perf_counter() - t0) * 1e3)
            if r.status_code != 303:
                raise RuntimeError(f"login failed: {r.status_code}")
        print(f"idle server: login (Argon2 verify) median {statistics.median(logins):.0f} ms")
        first, again = [], []
        for path in ESTIMATE_PAGES:
            for out in (first, again):
                t0 = time.perf_counter()
                r = c.get(path)
                out.append((time.perf_counter() - t0) * 1e3)
                if r.status_code != 200:
                    raise RuntimeError(f"{path}: {r.status_code}")
        print(
            f"idle server: estimate page, {len(ESTIMATE_PAGES)} configurations: first visit "
            f"median {statistics.median(first):.0f} ms (max {max(first):.0f}), repeated visit "
            f"median {statistics.median(again):.0f} ms (max {max(again):.0f})"
        )


def run_locust(
    base: str, users: int, duration_s: int, spawn_rate: float, warmup_s: int, prefix: Path
) -> None:
    ramp_s = int(users / spawn_rate) + 1
    total_s = ramp_s + LOGIN_ALLOWANCE_S + warmup_s + duration_s
    cmd = [
        str(LOCUST),
        "-f",
        str(ROOT / "bench" / "locustfile.py"),
        "--headless",
        "-u",
        str(users),
        "-r",
        str(spawn_rate),
        "-t",
        f"{total_s}s",
        "--host",
        base,
        "--csv",
        str(prefix),
        "--only-summary",
        "--loglevel",
        "WARNING",
        "--stop-timeout",
        "10",
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LOAD_WARMUP_S": str(warmup_s)}
    # Exit code 1 only says some request failed; the failures are counted in the CSV.
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode not in (0, 1) or not Path(f"{prefix}_stats.csv").exists():
        raise RuntimeError(f"locust failed ({done.returncode}):\n{done.stderr[-3000:]}")


def print_table(title: str, rows: list[Row], total: Row) -> None:
    print(
        f"\n{title}: {total.rps:.1f} requests/s, {total.requests:,} requests, "
        f"{total.failures} errors; all requests p50 {total.p50:.0f} ms, p95 {total.p95:.0f} ms, "
        f"p99 {total.p99:.0f} ms"
    )
    print(
        f"  {'request type':<32} {'count':>7} {'errors':>6} {'req/s':>7} "
        f"{'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7}"
    )
    for r in rows:
        print(
            f"  {r.name:<32} {r.requests:>7} {r.failures:>6} {r.rps:>7.2f} "
            f"{r.p50:>7.0f} {r.p95:>7.0f} {r.p99:>7.0f}"
        )


def median_row(name: str, runs: list[Row]) -> Row:
    """A request type over repeated runs: counts and errors summed, rates and percentiles the
    median of the runs' figures."""
    return Row(
        name=name,
        requests=sum(r.requests for r in runs),
        failures=sum(r.failures for r in runs),
        rps=statistics.median(r.rps for r in runs),
        p50=statistics.median(r.p50 for r in runs),
        p95=statistics.median(r.p95 for r in runs),
        p99=statistics.median(r.p99 for r in runs),
    )


def combine(runs: list[tuple[list[Row], Row]]) -> tuple[list[Row], Row]:
    names = sorted({r.name for rows, _ in runs for r in rows})
    rows = [median_row(n, [r for rs, _ in runs for r in rs if r.name == n]) for n in names]
    return rows, median_row("Aggregated", [total for _, total in runs])


def check_targets(users: int, rows: list[Row], total: Row) -> list[str]:
    """Print the verdicts at TARGET_USERS; return the targets missed."""
    missed = [] if total.failures == 0 else [f"{total.failures} errors (target 0)"]
    for kind, limit in TARGET_P95_MS.items():
        worst = max((r for r in rows if r.kind == kind), key=lambda r: r.p95)
        verdict = "met" if worst.p95 < limit else "MISSED"
        print(
            f"  target at {users} users: every {kind} p95 < {limit:.0f} ms: {verdict} "
            f"(slowest: {worst.name}, p95 {worst.p95:.0f} ms)"
        )
        if worst.p95 >= limit:
            missed.append(f"{worst.name} p95 {worst.p95:.0f} ms (target < {limit:.0f})")
    print(f"  target at {users} users: no errors: {'met' if total.failures == 0 else 'MISSED'}")
    return missed


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--users", default="20,50", help="comma-separated concurrent user counts")
    ap.add_argument("--duration", type=int, default=60, help="measured seconds per run")
    ap.add_argument(
        "--warmup", type=int, default=10, help="seconds after the last login before measuring"
    )
    ap.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="independent runs (fresh database and server each); the figures "
        "checked are the medians over runs",
    )
    ap.add_argument("--spawn-rate", type=float, default=10.0, help="users started per second")
    ap.add_argument("--workers", type=int, default=2, help="axisboard serve --workers")
    ap.add_argument("--out", type=Path, default=ROOT / "var" / "load")
    ap.add_argument(
        "--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL)
    )
    args = ap.parse_args(argv)
    if args.repeat < 1:
        ap.error("--repeat must be at least 1")
    counts = [int(u) for u in args.users.split(",")]
    args.out.mkdir(parents=True, exist_ok=True)
    print(
        f"machine: {os.cpu_count()} cores, Python {platform.python_version()}; server: "
        f"axisboard serve --workers {args.workers} on {args.database_url.rsplit('@', 1)[-1]}; "
        f"locust on the same machine; {args.duration} s measured per run after a "
        f"{args.warmup} s warm-up; {args.repeat} run(s) per user count, each on a fresh "
        f"database and server"
    )
    results: dict[int, list[tuple[list[Row], Row]]] = {u: [] for u in counts}
    for rep in range(1, args.repeat + 1):
        with demo_server(args.database_url, args.workers) as base:
            print(f"\n--- run {rep} of {args.repeat}")
            idle_costs(base)
            for users in counts:
                prefix = args.out / f"locust_{users}u_run{rep}"
                run_locust(base, users, args.duration, args.spawn_rate, args.warmup, prefix)
                stats = read_stats(Path(f"{prefix}_stats.csv"))
                print_table(f"{users} users, run {rep}", *stats)
                results[users].append(stats)
    missed: list[str] = []
    print(f"\n=== medians over {args.repeat} run(s) (counts and errors: totals)")
    for users in counts:
        rows, total = combine(results[users])
        print_table(f"{users} users", rows, total)
        if users == TARGET_USERS:
            missed += check_targets(users, rows, total)
    if missed:
        print("\ntargets missed: " + "; ".join(missed))
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
