"""How much work a request may do, and where it runs: inline (a threadpool thread of the web
process), as a job (a Celery worker, or the bounded process pool of :mod:`app.jobs.service`),
or not at all (over the cap, refused with a 422 naming the field and the limit before any work).

Every number below was measured the way ``python -m bench.jobs_capacity`` does, on the reference
machine (2 vCPUs shared with other work, 23 GiB RAM, no GPU) at a load average of about 1.6: CPU
seconds of one process. Under heavy contention CPU seconds grow too (a load average of 19 made
the 47-run fit 4.6 s and a resample 0.76 s), so re-measure on the deployment machine.
The README's "Long work runs as jobs" section has
the table. The inline limits keep one request to about three CPU seconds, so a web worker's
threadpool is never tied up for long; the job caps keep one job within about two CPU minutes
(fits, reports) or a fraction of the machine's memory (torch).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

# ---- fits (app/scaling): CPU seconds measured on Sardana et al.'s 47 runs and tiles of them ----
# One fit (grid screen + L-BFGS from the best starts): 1.6-2.6 s whatever the number of runs
# (47-4,700). Each bootstrap resample refits from the optimum: 0.04-0.12 s (0.10 s at 47-470
# runs, 0.04 s at 4,700). The 100 runs × 1,000 resamples: 108 s.
FIT_BASE_CPU_S = 2.6
FIT_RESAMPLE_CPU_S = 0.12
# Up to 5 resamples (≈ 3.2 s) inline; more is a job.
INLINE_MAX_BOOTSTRAP = 5
# Cap of a fit job: 1,000 resamples (≈ 2 min) and resamples × runs at most 100,000.
MAX_BOOTSTRAP = 1000
MAX_BOOTSTRAP_WORK = 100_000

# Conditional law: the Levenberg-Marquardt fit and one refit per scale of the progressive check
# cost 1.4 µs per run per fit (5,000 runs in 4,999 one-run scales: 34 s; 5,000 runs in 12
# scales: 0.05 s). Work = runs × (scales + 1); inline up to 2,000,000 (≈ 3 s); the schema's
# 5,000 runs bound a job to 5,000 × 5,000 = 25,000,000 (≈ 35 s), so no further cap is needed.
CONDITIONAL_CPU_S_PER_UNIT = 1.4e-6
INLINE_MAX_CONDITIONAL_WORK = 2_000_000

# ---- PDF reports (WeasyPrint): CPU seconds of GET .../report?format=pdf by evaluation results
# (one result = one segment × metric × phase; a segment evaluated before and after is two):
# 200 results 2.8 s, 800 results 4.8 s, 2,000 results 10.4 s (≈ 1.8 s + 4.3 ms per result).
# JSON, CSV and HTML stay inline (2,000 results: 0.07 s, 0.44 s HTML).
REPORT_BASE_CPU_S = 1.8
REPORT_CPU_S_PER_RESULT = 0.0043
INLINE_MAX_REPORT_RESULTS = 300  # ≈ 3.1 s
MAX_REPORT_RESULTS = 25_000  # ≈ 110 s in a job; larger: export JSON or CSV (inline, fast)

# ---- torch measurements (design measurement, calibration) ------------------------------------
# Peak memory is estimated from the shapes (app.estimators.calibration.*_memory_bytes: 1.0-1.2×
# the resident-set growth measured on CPU, e.g. llama_3_1_8b, 2 layers, batch 8 at 4,096 tokens:
# 5.6 GiB measured, 6.0 GiB estimated; bench/jobs_capacity.py) and must fit in
# this share of the machine's memory (RAM on CPU; set AXISBOARD_TORCH_MEMORY_GIB to a GPU's
# memory where CUDA runs the job). Two measurements of 6.2 GB held together nearly starved the
# issue's 23 GiB host; one job per user and a bounded pool keep it to one per pool worker.
TORCH_MEMORY_SHARE = 0.25
TORCH_MEMORY_FLOOR_GIB = 1.0


@dataclass(frozen=True, slots=True)
class Estimate:
    """Where a request's work runs and how long it should take (CPU seconds, from the above)."""

    cpu_s: float
    as_job: bool


def chinchilla_fit(runs: int, bootstrap: int) -> Estimate:
    return Estimate(
        FIT_BASE_CPU_S + bootstrap * FIT_RESAMPLE_CPU_S, bootstrap > INLINE_MAX_BOOTSTRAP
    )


def conditional_fit(runs: int, scales: int) -> Estimate:
    work = runs * (scales + 1)
    return Estimate(work * CONDITIONAL_CPU_S_PER_UNIT, work > INLINE_MAX_CONDITIONAL_WORK)


def pdf_report(results: int) -> Estimate:
    return Estimate(
        REPORT_BASE_CPU_S + results * REPORT_CPU_S_PER_RESULT, results > INLINE_MAX_REPORT_RESULTS
    )


def physical_memory_bytes() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not POSIX
        return None


def torch_memory_limit_bytes(configured_gib: float | None) -> int:
    """The most memory one torch job may plan to use: the configured figure, else a quarter of
    this machine's RAM (at least 1 GiB)."""
    if configured_gib is not None:
        return int(configured_gib * 2**30)
    total = physical_memory_bytes()
    share = int(total * TORCH_MEMORY_SHARE) if total else 0
    return max(share, int(TORCH_MEMORY_FLOOR_GIB * 2**30))


def refuse_over_memory(need: int, limit: int, *, field: str, what: str) -> None:
    """422 naming ``field`` when ``need`` bytes exceed this machine's torch ``limit``."""
    from app.errors import InvalidInput

    if need > limit:
        raise InvalidInput(
            f"{what} would need about {need / 2**30:.1f} GiB of memory; the limit for one torch "
            f"job on this machine is {limit / 2**30:.1f} GiB (AXISBOARD_TORCH_MEMORY_GIB): "
            f"lower {field}",
            field=field,
        )


# ---- portfolio search (app/estimators/search.py) ---------------------------------------------
# The cost is the serving states' load simulations (evaluate_portfolio): about 4 ms each on the
# reference machine (python -m bench.search: 360 states, 9,000-12,600 candidates in 1.5-1.9 s);
# the numpy combination of the candidates is small beside it. Up to 600 states (≈ 2.5-3 s) inline;
# more is a job with progress. The space is capped at 2,000,000 candidates (arrays of that size
# take about 100 MB).
INLINE_MAX_SEARCH_STATES = 600
MAX_SEARCH_CANDIDATES = 2_000_000
# With a broker, a search job splits its serving states into up to SEARCH_PARTS parts (jobs of
# their own, at least MIN_STATES_PER_PART states each) that the Celery workers take; the search job
# takes queued parts itself while it waits, polling every SEARCH_POLL_S.
SEARCH_PARTS = 8
MIN_STATES_PER_PART = 100
SEARCH_POLL_S = 0.5
