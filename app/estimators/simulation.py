"""Serving under load: a continuous-batching simulation and the capacity planner built on it.

The simulated engine works like vLLM/Orca iteration-level scheduling (Yu et al. 2022, "Orca",
OSDI; Kwon et al. 2023, arXiv 2309.06180):

* requests arrive as a Poisson process at ``request_rate`` (exponential gaps, seeded);
* at every iteration the scheduler admits waiting requests first come, first served, while the
  running set stays within the KV capacity (``max_seqs`` sequences of input + output tokens, from
  the memory model) and the iteration's prefill tokens stay within ``max_batched_tokens``;
* an iteration prefills the admitted prompts and decodes one token for every running sequence; its
  duration is the roofline of that mixed step (:class:`~app.estimators.inference.StepModel`);
* a request's first token comes out at the end of the iteration that prefilled it (TTFT includes the
  queueing), later tokens one per iteration (TPOT = (finish − first token) / (output − 1)).

The running set is summarised by two numbers (count and Σ(input − admission iteration)), and
a run of pure decode iterations between events is timed in closed form (each bound of its step
time grows linearly, so the run's duration is a sum of arithmetic series, and the iteration in
which the next request arrives is the root of a quadratic): the work is proportional to the number
of arrivals and completions, not of iterations. All requests have the same lengths, so they are
admitted and finish in arrival order: the waiting queue is an index range and the requests one
iteration admits move as one group (no per-request work but the bookkeeping of their times).
The common run (one decode line bounding the other, as with CUDA graphs) is timed inline, and
the mean batch is n_requests · output / iterations (every request is in ``output`` iterations),
so an event costs a few dozen statements: 10k requests take 4–28 ms of CPU (saturated to 5 req/s,
``python -m bench``; the wall clock on this shared 2-core machine is 3–4× that under load);
an estimate page's twenty simulations about 0.1 s.

The simulation is deterministic for its inputs (the arrivals are seeded), so :func:`simulate_load`
memoises results (least recently used, ``SIMULATION_CACHE_SIZE`` entries per process): an estimate
page runs about twenty simulations (the capacity bisection and the latency-versus-rate chart), and
people open the same configurations again and again. :func:`simulate_load_uncached` always runs.
Runs share two more things that depend on fewer inputs: a step model's iteration tables
(:func:`_step_tables`) and a seed's standard-exponential arrival draws, scaled by each rate
(:func:`_standard_gaps`); :func:`simulation_cache_clear` forgets all three.
"""

from __future__ import annotations

import functools
import math
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from typing import ParamSpec, TypeVar, cast

import numpy as np

from app.estimators.engines import EngineProfile, SchedulerLimits, scheduler_limits
from app.estimators.errors import FieldError
from app.estimators.inference import MemoryBreakdown, StepModel
from app.formatting import number

PERCENTILES = (50, 95, 99)
SATURATING_RATE = 1e9  # requests/s: every request arrives at once
BISECTION_STEPS = 10  # geometric, over a 1000x range: 0.7% resolution
HOURS_PER_MONTH = 730.0  # 8,760 hours a year / 12
SIMULATION_CACHE_SIZE = 2048  # results of about 1 KB each
STEP_TABLE_MODELS = 64  # step models whose iteration tables are kept (_step_tables)
MAX_LOAD_REQUESTS = 1000  # requests queued at once for the saturated (max-load) figure
P = ParamSpec("P")
R = TypeVar("R")


class SimulationError(FieldError):
    pass


@dataclass(frozen=True, slots=True)
class LoadResult:
    request_rate: float
    n_requests: int
    ttft_ms: dict[int, float]  # percentile -> ms
    tpot_ms: dict[int, float]
    e2e_ms: dict[int, float]
    queue_ms_mean: float
    queue_ms_p95: float
    mean_batch: float
    output_tokens_per_s: float
    requests_per_s: float
    duration_s: float
    iterations: int
    saturated: bool

    def as_dict(self) -> dict[str, object]:
        def pct(d: dict[int, float]) -> dict[str, float]:
            return {f"p{k}": v for k, v in d.items()}

        return {
            "request_rate": self.request_rate,
            "n_requests": self.n_requests,
            "ttft_ms": pct(self.ttft_ms),
            "tpot_ms": pct(self.tpot_ms),
            "e2e_ms": pct(self.e2e_ms),
            "queue_ms_mean": self.queue_ms_mean,
            "queue_ms_p95": self.queue_ms_p95,
            "mean_batch": self.mean_batch,
            "output_tokens_per_s": self.output_tokens_per_s,
            "requests_per_s": self.requests_per_s,
            "duration_s": self.duration_s,
            "iterations": self.iterations,
            "saturated": self.saturated,
        }


def simulate_load_uncached(
    sm: StepModel,
    *,
    request_rate: float,
    input_tokens: int,
    output_tokens: int,
    max_seqs: int,
    max_batched_tokens: int,
    n_requests: int = 2000,
    seed: int = 0,
) -> LoadResult:
    """Simulate ``n_requests`` Poisson arrivals at ``request_rate`` requests/s."""
    _check_load(request_rate, max_seqs, n_requests)
    # = np.random.default_rng(seed).exponential(1.0 / request_rate, n_requests): numpy draws
    # scale × a standard exponential, so the seed's standard draws are shared by every rate
    arr = np.cumsum(_standard_gaps(seed, n_requests) * (1.0 / request_rate))
    tl = _iterate(sm, arr.tolist(), input_tokens, output_tokens, max_seqs, max_batched_tokens)
    return _load_result(sm, arr, tl, request_rate, output_tokens)


@functools.lru_cache(maxsize=16)
def _standard_gaps(seed: int, n_requests: int) -> np.ndarray:
    """The seeded standard exponential draws of a run's arrival gaps (read-only, shared)."""
    gaps = np.random.default_rng(seed).standard_exponential(n_requests)
    gaps.flags.writeable = False
    return gaps


def _check_load(request_rate: float, max_seqs: int, n_requests: int) -> None:
    if not (math.isfinite(request_rate) and request_rate > 0):
        raise SimulationError("request_rate must be a positive number", field="request_rate")
    if max_seqs < 1:
        raise SimulationError(
            "the KV cache cannot hold one request of this length", field="input_tokens"
        )
    if n_requests < 1:
        raise SimulationError("n_requests must be positive", field="n_requests")


@dataclass(frozen=True, slots=True)
class _Timeline:
    """What the iterations did: per request its admission, first-token and finish times
    (seconds), and the number of iterations run."""

    start: list[float]
    first: list[float]
    finish: list[float]
    iterations: int


_DecodeLine = tuple[float, float, float, float, bool, float, float, float]
_StepParts = tuple[float, float, float, float]


@functools.lru_cache(maxsize=STEP_TABLE_MODELS)
def _step_tables(
    sm: StepModel,
) -> tuple[list[_DecodeLine | None], dict[tuple[int, int], dict[int, _StepParts]]]:
    """The load simulation's tables of one step model, shared by its simulations and filled as
    they go: a pure decode iteration's lines by running count (:meth:`StepModel.decode_line`),
    and a mixed iteration's parts by (prompt length, stride) then running · stride + admitted
    (:meth:`StepModel.time_parts`). Deterministic in the step model, so sharing them changes no
    result; a portfolio search runs thousands of simulations on a few dozen step models."""
    return [], {}


def _iterate(
    sm: StepModel,
    arrivals: list[float],
    s_in: int,
    s_out: int,
    max_seqs: int,
    max_batched_tokens: int,
) -> _Timeline:
    """Run the scheduler's iterations over the (sorted) arrival times until every request
    finishes."""
    n_requests = len(arrivals)
    arrivals.append(math.inf)  # sentinel: no arrival after the last
    first = [0.0] * n_requests
    finish = [0.0] * n_requests
    start = [0.0] * n_requests  # admission time (end of queueing)
    # Prompts one iteration may prefill: the first always, then while within max_batched_tokens.
    per_iteration = max(1, max_batched_tokens // s_in) if s_in > 0 else n_requests

    step_s = sm.time
    ideal = sm.ideal
    # A mixed iteration's time is max(g0 + att·ctx, floor) + extra, with g0, floor and extra
    # fixed by (running, admitted) for this workload: cached per shape (StepModel.time_parts),
    # keyed by running · (per_iteration + 1) + admitted.
    stride = per_iteration + 1
    # n_run -> (a1, b1, extra, b1·n_run, one_line, a2, b2, b2·n_run) from sm.decode_line(n_run),
    # filled on first use; one_line: line 1 is at least line 2 at every context (a2 <= a1 and
    # b2 <= b1: in floating point too, rounding being monotonic), so a run is timed on line 1.
    # Both tables depend on the step model (and the shapes on the prompt length) only, so the
    # simulations of one model share them (_step_tables).
    decode_lines, shapes = _step_tables(sm)
    if len(decode_lines) <= max_seqs:
        decode_lines.extend([None] * (max_seqs + 1 - len(decode_lines)))
    step_parts = shapes.get((s_in, stride))
    if step_parts is None:
        step_parts = shapes[(s_in, stride)] = {}
    # Requests arrive, are admitted and (all having the same lengths) finish in index order, so
    # the waiting queue is the index range [head, nxt), and the requests admitted by one
    # iteration form one group of the decoding set: group g is the index range
    # [g_end[g − 1], g_end[g]) and its last decode iteration is g_stop[g] − 1; the groups still
    # decoding are g_first … g_next − 1 (a FIFO in two lists; g_stop is −1 past the end).
    g_stop = [-1] * (n_requests + 1)
    g_end = [0] * n_requests
    g_first = g_next = 0
    g_lo = 0  # first index of group g_first
    next_stop = -1  # g_stop of group g_first: it finishes when `it` (iterations run) reaches it
    head = 0  # first waiting request
    n_run = 0
    s_acc = 0  # Σ over decoding requests of (input − admission iteration)
    nxt = 0  # next arrival to enqueue
    t = 0.0
    it = 0  # iterations run
    done = 0
    inf = math.inf
    sqrt = math.sqrt
    ceil = math.ceil
    while done < n_requests:
        a_next = arrivals[nxt]
        if a_next > t and head == nxt and n_run == 0:
            t = a_next  # idle until the next arrival
        if a_next <= t:  # enqueue every request arrived by t (mostly one: no search)
            nxt = nxt + 1 if arrivals[nxt + 1] > t else bisect_right(arrivals, t, nxt + 2)
        if head < nxt and n_run < max_seqs:
            # An iteration that prefills the admitted prompts (first come, first served, within
            # the sequence and token limits) and decodes the running set.
            na = nxt - head
            if na > max_seqs - n_run:
                na = max_seqs - n_run
            if na > per_iteration:
                na = per_iteration
            t_start = t
            if ideal:
                t += step_s(n_run, s_acc + n_run * it, na, na * s_in, na * s_in * s_in)
            else:
                parts = step_parts.get(n_run * stride + na)
                if parts is None:
                    parts = step_parts[n_run * stride + na] = sm.time_parts(
                        n_run, na, na * s_in, na * s_in * s_in
                    )
                g0, att, floor, extra = parts
                g = g0 + att * (s_acc + n_run * it)
                t += (g if g > floor else floor) + extra
            end = head + na
            if na == 1:
                start[head] = t_start
                first[head] = t
            else:
                start[head:end] = [t_start] * na
                first[head:end] = [t] * na
            if s_out == 1:
                finish[head:end] = [t] * na
                done += na
            else:
                # decodes in iterations it+1 … it+s_out−1 at context s_in + (j − it)
                if next_stop < 0:
                    next_stop = it + s_out
                g_stop[g_next] = it + s_out
                g_end[g_next] = end
                g_next += 1
                n_run += na
                s_acc += na * (s_in - it)
            head = end
            it += 1
        else:
            # A run of pure decode iterations with the same running set: until the next request
            # finishes or (when there is room to admit) the next arrival. The GPU time grows
            # linearly with the iteration (one more token of context per sequence: the KV read)
            # and the eager CPU floor is constant, so the run is timed in closed form
            # (_decode_run: the max of two lines; written out here for a run line 1 bounds).
            line = decode_lines[n_run]
            if line is None:
                a1, b1, a2, b2, extra = sm.decode_line(n_run)
                one = a2 <= a1 and b2 <= b1
                line = decode_lines[n_run] = (a1, b1, extra, b1 * n_run, one, a2, b2, b2 * n_run)
            a1, b1, extra, y1, one_line, a2, b2, y2 = line
            ctx0 = s_acc + n_run * it
            x1 = a1 + b1 * ctx0 + extra
            k_max = next_stop - it
            until = arrivals[nxt] - t if head == nxt else inf
            if not one_line:
                j, dt = _decode_run(x1, y1, a2 + b2 * ctx0 + extra, y2, k_max, until)
            else:
                n = k_max - 1
                if n * (x1 + y1 * (n - 1) / 2) < until:
                    j, dt = k_max, k_max * (x1 + y1 * (k_max - 1) / 2)
                else:
                    # the first iteration ending at or after `until`: _decode_run's quadratic
                    h = x1 - y1 / 2
                    n = ceil(2 * until / (h + sqrt(h * h + 2 * y1 * until)))
                    if n < 1:
                        n = 1
                    if n > k_max - 1:
                        n = k_max - 1
                    m = n - 1
                    if n > 1 and m * (x1 + y1 * (m - 1) / 2) >= until:
                        n -= 1
                        while n > 1 and (n - 1) * (x1 + y1 * (n - 2) / 2) >= until:
                            n -= 1
                    dt = n * (x1 + y1 * (n - 1) / 2)
                    while dt < until:
                        n += 1
                        dt = n * (x1 + y1 * (n - 1) / 2)
                    j = n
            t += dt
            it += j
        while next_stop == it:
            hi = g_end[g_first]
            g_first += 1
            next_stop = g_stop[g_first]
            if hi - g_lo == 1:
                finish[g_lo] = t
            else:
                finish[g_lo:hi] = [t] * (hi - g_lo)
            n_run -= hi - g_lo
            # the group was admitted at iteration it − s_out
            s_acc -= (hi - g_lo) * (s_in - (it - s_out))
            done += hi - g_lo
            g_lo = hi
    return _Timeline(start, first, finish, it)


def _load_result(
    sm: StepModel, arr: np.ndarray, tl: _Timeline, request_rate: float, s_out: int
) -> LoadResult:
    """The latency percentiles, throughput and saturation of a finished run."""
    n_requests, it = len(arr), tl.iterations
    first, finish, start = tl.first, tl.finish, tl.start
    # every request also pays the engine's first-token latency (off the GPU: it delays its own
    # tokens, not the others')
    first_a = np.asarray(first)
    finish_a = np.asarray(finish)
    start_a = np.asarray(start)
    lat_ms = sm.first_token_latency_s * 1e3
    ttft = (first_a - arr) * 1e3 + lat_ms
    e2e = (finish_a - arr) * 1e3 + lat_ms
    tpot = (finish_a - first_a) / max(s_out - 1, 1) * 1e3
    queue = (start_a - arr) * 1e3
    span = float(finish_a.max() - arr[0]) if n_requests > 1 else float(finish_a[0] - arr[0])
    span = max(span, 1e-12)
    # Saturation: the arrival rate exceeds what the server drains, so the queue grows for the
    # whole run. Compare the queueing of the last and first tenth of the requests: a stable
    # server keeps them alike; an overloaded one makes the last wait far longer.
    tenth = max(1, n_requests // 10)
    q_head, q_tail = float(queue[:tenth].mean()), float(queue[-tenth:].mean())
    saturated = q_tail > 2 * q_head + float(ttft[:tenth].mean()) + 100.0

    # one np.percentile over the four series (row by row: the same values as four calls, a
    # quarter of the overhead; the load simulation runs thousands of times per portfolio search)
    rows = np.percentile(np.stack((ttft, tpot, e2e, queue)), PERCENTILES, axis=1).T.tolist()

    def pct(row: list[float]) -> dict[int, float]:
        return dict(zip(PERCENTILES, row, strict=True))

    return LoadResult(
        request_rate=request_rate,
        n_requests=n_requests,
        ttft_ms=pct(rows[0]),
        tpot_ms=pct(rows[1]),
        e2e_ms=pct(rows[2]),
        queue_ms_mean=float(queue.mean()),
        queue_ms_p95=rows[3][PERCENTILES.index(95)],
        mean_batch=n_requests * s_out / max(it, 1),
        output_tokens_per_s=n_requests * s_out / span,
        requests_per_s=n_requests / span,
        duration_s=span,
        iterations=it,
        saturated=saturated,
    )


def _decode_run(
    a1: float, b1: float, a2: float, b2: float, k_max: int, until: float | None
) -> tuple[int, float]:
    """Iterations and seconds of a run of pure decode iterations, in closed form.

    Iteration k (from 0) takes ``max(a1 + b1·k, a2 + b2·k)`` seconds: the GPU time of the step's
    operators, linear in k (the context grows one token per sequence per iteration), and the CPU
    launch floor (per-step terms folded into both). The run is ``k_max`` iterations long or, when
    ``until`` is given, ends with the first iteration that finishes at or after ``until`` seconds
    from its start (it is the same as taking the cumulative sum of the step times and a
    ``searchsorted``).
    """
    if a2 > a1:  # line 1 is the higher at k = 0; line 2 takes over from iteration s, if ever
        a1, b1, a2, b2 = a2, b2, a1, b1
    s = k_max
    if b2 > b1:
        cross = (a1 - a2) / (b2 - b1)
        if cross < k_max:
            s = math.floor(cross) + 1
    head = s * (a1 + b1 * (s - 1) / 2)  # seconds of iterations 0 … s−1
    # total(n), the seconds of iterations 0 … n−1, is written out inline on the common paths
    # (this runs once per event of the load simulation); _run_total is the same formula.
    n = k_max - 1
    if until is None or (
        (n * (a1 + b1 * (n - 1) / 2) if n <= s else head + (n - s) * (a2 + b2 * (s + n - 1) / 2))
        < until
    ):
        n = k_max
        if n <= s:
            return n, n * (a1 + b1 * (n - 1) / 2)
        return n, head + (n - s) * (a2 + b2 * (s + n - 1) / 2)
    # The smallest n >= 1 with total(n) >= until: the root of the quadratic total on the segment
    # that holds it, then corrected for rounding against total itself.
    if s < k_max - 1 and head < until:
        p, before, a, b = s, head, a2 + b2 * s, b2
    else:
        p, before, a, b = 0, 0.0, a1, b1
    y, h = until - before, a - b / 2  # total(p + u) − before = (b/2)·u² + h·u
    u = 2 * y / (h + math.sqrt(h * h + 2 * b * y))
    n = p + math.ceil(u)
    if n < 1:
        n = 1
    if n > k_max - 1:
        n = k_max - 1
    # the estimate is exact but for rounding: check it against total(n − 1) < until <= total(n)
    m = n - 1
    if n > 1 and (
        (m * (a1 + b1 * (m - 1) / 2) if m <= s else head + (m - s) * (a2 + b2 * (s + m - 1) / 2))
        >= until
    ):
        n -= 1
        while n > 1 and _run_total(n - 1, s, head, a1, b1, a2, b2) >= until:
            n -= 1
    tn = n * (a1 + b1 * (n - 1) / 2) if n <= s else head + (n - s) * (a2 + b2 * (s + n - 1) / 2)
    while tn < until:
        n += 1
        tn = _run_total(n, s, head, a1, b1, a2, b2)
    return n, tn


def _run_total(n: int, s: int, head: float, a1: float, b1: float, a2: float, b2: float) -> float:
    """Seconds of iterations 0 … n−1 of a decode run (:func:`_decode_run`)."""
    if n <= s:
        return n * (a1 + b1 * (n - 1) / 2)
    return head + (n - s) * (a2 + b2 * (s + n - 1) / 2)


def _memoise(fn: Callable[P, R]) -> Callable[P, R]:
    return cast("Callable[P, R]", functools.lru_cache(maxsize=SIMULATION_CACHE_SIZE)(fn))


# The memoised simulation every caller uses (its result is shared: treat it as read-only).
simulate_load = _memoise(simulate_load_uncached)


def simulation_cache_clear() -> None:
    """Forget the memoised simulations, the step models' iteration tables and the arrival draws
    (benchmarks time cold runs)."""
    simulate_load.cache_clear()  # type: ignore[attr-defined]
    _step_tables.cache_clear()
    _standard_gaps.cache_clear()


@dataclass(frozen=True, slots=True)
class RunningLimits:
    """The running set the load simulation allows: the engine's scheduler limits, capped by the
    sequences of this length the KV cache holds."""

    max_seqs: int  # min(KV capacity in sequences, max_num_seqs); < 1: one request does not fit
    max_batched_tokens: int
    scheduler: SchedulerLimits


def running_limits(
    eng: EngineProfile,
    sm: StepModel,
    memory: MemoryBreakdown,
    *,
    offline: bool = False,
    max_num_seqs: int | None = None,
) -> RunningLimits:
    """The one place the simulation's limits come from (API, pages, capacity plan, validation).
    ``max_num_seqs`` overrides the engine default (a benchmark that states its own)."""
    sched = scheduler_limits(eng, sm.gpu, offline=offline)
    cap = sched.max_num_seqs if max_num_seqs is None else max_num_seqs
    return RunningLimits(min(memory.max_batch_size, cap), sched.max_num_batched_tokens, sched)


def max_load(
    sm: StepModel,
    limits: RunningLimits,
    *,
    input_tokens: int,
    output_tokens: int,
    n_requests: int = MAX_LOAD_REQUESTS,
) -> LoadResult:
    """What the engine sustains for this workload when saturated: ``n_requests`` requests queued
    at once (the "request rate inf" of vLLM's benchmark, MLPerf's Offline scenario), scheduled
    within ``limits``. Its ``requests_per_s`` is the capacity the capacity plan bisects under."""
    if limits.max_seqs < 1:
        raise SimulationError(
            "the KV cache cannot hold one request of this length", field="input_tokens"
        )
    return simulate_load(
        sm,
        request_rate=SATURATING_RATE,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        max_seqs=limits.max_seqs,
        max_batched_tokens=limits.max_batched_tokens,
        n_requests=n_requests,
    )


@dataclass(frozen=True, slots=True)
class CapacityPlan:
    requests_per_day: float
    peak_request_rate: float
    max_rate_per_replica: float  # highest rate one replica sustains within the SLOs
    replicas: int | None  # None: the SLO cannot be met at any rate
    gpus_per_replica: int
    monthly_gpu_hours: float | None
    monthly_cost_usd: float | None
    at_max_rate: LoadResult | None
    at_planned_rate: LoadResult | None
    reason: str | None
    percentile: int

    def as_dict(self) -> dict[str, object]:
        return {
            "requests_per_day": self.requests_per_day,
            "peak_request_rate": self.peak_request_rate,
            "max_rate_per_replica": self.max_rate_per_replica,
            "replicas": self.replicas,
            "gpus_per_replica": self.gpus_per_replica,
            "monthly_gpu_hours": self.monthly_gpu_hours,
            "monthly_cost_usd": self.monthly_cost_usd,
            "slo_percentile": self.percentile,
            "reason": self.reason,
            "at_max_rate": self.at_max_rate.as_dict() if self.at_max_rate else None,
            "at_planned_rate": self.at_planned_rate.as_dict() if self.at_planned_rate else None,
        }


def _meets(
    r: LoadResult,
    ttft_slo_ms: float,
    tpot_slo_ms: float,
    p: int,
    adjust: Callable[[LoadResult], tuple[float, float]] | None = None,
) -> bool:
    ttft, tpot = (r.ttft_ms[p], r.tpot_ms[p]) if adjust is None else adjust(r)
    return not r.saturated and ttft <= ttft_slo_ms and tpot <= tpot_slo_ms


def plan_capacity(
    sm: StepModel,
    *,
    requests_per_day: float,
    input_tokens: int,
    output_tokens: int,
    ttft_slo_ms: float,
    tpot_slo_ms: float,
    max_seqs: int,
    max_batched_tokens: int,
    price_per_gpu_hour: float | None,
    peak_to_mean: float = 1.0,
    percentile: int = 95,
    n_requests: int = MAX_LOAD_REQUESTS,
    seed: int = 0,
    adjust: Callable[[LoadResult], tuple[float, float]] | None = None,
) -> CapacityPlan:
    """Replicas needed so every replica stays within the TTFT and TPOT SLOs at ``percentile``.

    ``adjust`` maps a load result to the p``percentile`` TTFT and TPOT a change really gives
    (a recommendation card's retrieval latency, speculative-decoding factor, ...; see
    :func:`app.estimators.card_economics.serve`); None: the simulated figures as they are.

    The per-replica limit is found by bisection on the request rate between the server's
    saturated capacity and a thousandth of it (12 simulations); traffic is
    spread evenly over replicas. Monthly GPU-hours assume replicas run all month (730 h).
    """
    if percentile not in PERCENTILES:
        raise SimulationError(
            f"percentile must be one of {', '.join(map(str, PERCENTILES))}", field="percentile"
        )
    for name, v in (("ttft_slo_ms", ttft_slo_ms), ("tpot_slo_ms", tpot_slo_ms)):
        if not (math.isfinite(v) and v > 0):
            raise SimulationError(f"{name} must be a positive number", field=name)
    if not (math.isfinite(requests_per_day) and requests_per_day >= 0):
        raise SimulationError("requests_per_day must be zero or more", field="requests_per_day")
    peak = requests_per_day / 86400.0 * peak_to_mean
    tp = sm.tp

    def sim(rate: float) -> LoadResult:
        return simulate_load(
            sm,
            request_rate=rate,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            max_seqs=max_seqs,
            max_batched_tokens=max_batched_tokens,
            n_requests=n_requests,
            seed=seed,
        )

    # The server's capacity: the completion rate when every request is queued at once (the
    # "request rate inf" of vLLM's benchmark). No rate above it is sustainable.
    capacity = sim(SATURATING_RATE).requests_per_s  # = max_load(...) with these limits
    hi, lo = capacity, capacity / 1e3
    r_lo = sim(lo)
    if not _meets(r_lo, ttft_slo_ms, tpot_slo_ms, percentile, adjust):
        reason = (
            f"even at {number(lo)} requests/s one replica gives p{percentile} TTFT "
            f"{r_lo.ttft_ms[percentile]:.0f} ms and TPOT {r_lo.tpot_ms[percentile]:.1f} ms "
            f"against SLOs of {ttft_slo_ms:g} ms and {tpot_slo_ms:g} ms"
        )
        return CapacityPlan(
            requests_per_day, peak, 0.0, None, tp, None, None, r_lo, None, reason, percentile
        )
    best = r_lo
    for _ in range(BISECTION_STEPS):
        mid = math.sqrt(lo * hi)
        r = sim(mid)
        if _meets(r, ttft_slo_ms, tpot_slo_ms, percentile, adjust):
            lo, best = mid, r
        else:
            hi = mid
    replicas = max(1, math.ceil(peak / lo)) if peak > 0 else 1
    hours = replicas * tp * HOURS_PER_MONTH
    cost = None if price_per_gpu_hour is None else hours * price_per_gpu_hour
    planned = sim(peak / replicas) if peak > 0 else None
    return CapacityPlan(
        requests_per_day,
        peak,
        lo,
        replicas,
        tp,
        hours,
        cost,
        best,
        planned,
        None,
        percentile,
    )
