"""Import a ``vllm bench serve`` result (``--save-result`` JSON) as a calibration.

The file gives the request rate, the requests completed, total input and output tokens, and TTFT and
TPOT statistics. The engine's memory efficiency (MBU) is fitted so that the load simulation at the
same rate and mean request shape reproduces the measured median TPOT, then its compute efficiency
(MFU) so that it reproduces the median TTFT.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from scipy.optimize import brentq

from app.estimators.architecture import Architecture
from app.estimators.engines import EngineProfile
from app.estimators.hardware import GpuSpec
from app.estimators.inference import ServingConfig, StepModel, Workload, estimate_inference
from app.estimators.simulation import SATURATING_RATE, running_limits, simulate_load

REQUIRED = (
    "completed",
    "total_input_tokens",
    "total_output_tokens",
    "median_ttft_ms",
    "median_tpot_ms",
)
MAX_SIM_REQUESTS = 1000


class BenchFileError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class BenchSummary:
    request_rate: float
    completed: int
    mean_input: int
    mean_output: int
    median_ttft_ms: float
    median_tpot_ms: float
    output_throughput: float | None
    model_id: str | None


def parse_bench(data: Any) -> BenchSummary:
    if not isinstance(data, dict):
        raise BenchFileError("expected a JSON object (vllm bench serve --save-result)")
    missing = [k for k in REQUIRED if k not in data]
    if missing:
        raise BenchFileError("missing fields: " + ", ".join(missing))
    try:
        completed = int(data["completed"])
        rate_raw = data.get("request_rate", "inf")
        rate = math.inf if str(rate_raw).lower() == "inf" else float(rate_raw)
        values = [float(data[k]) for k in REQUIRED[1:]]
    except (TypeError, ValueError) as exc:
        raise BenchFileError(f"a field is not a number: {exc}") from None
    if completed < 1 or not all(math.isfinite(v) and v > 0 for v in values) or rate <= 0:
        raise BenchFileError("completed, token totals, TTFT and TPOT must be positive numbers")
    tput = data.get("output_throughput")
    return BenchSummary(
        request_rate=rate,
        completed=completed,
        mean_input=max(1, round(values[0] / completed)),
        mean_output=max(2, round(values[1] / completed)),
        median_ttft_ms=values[2],
        median_tpot_ms=values[3],
        output_throughput=float(tput) if isinstance(tput, int | float) else None,
        model_id=str(data.get("model_id")) if data.get("model_id") else None,
    )


@dataclass(frozen=True, slots=True)
class BenchFit:
    prefill_efficiency: float
    decode_efficiency: float
    predicted_ttft_ms: float
    predicted_tpot_ms: float
    summary: BenchSummary


def fit_bench(
    summary: BenchSummary,
    arch: Architecture,
    gpu: GpuSpec,
    eng: EngineProfile,
    cfg: ServingConfig,
) -> BenchFit:
    s_in, s_out = summary.mean_input, summary.mean_output
    est = estimate_inference(arch, gpu, eng, cfg, Workload(s_in, s_out, 1))
    limits = running_limits(eng, StepModel.build(arch, gpu, eng, cfg), est.memory)
    max_seqs = limits.max_seqs
    if max_seqs < 1:
        raise BenchFileError("the model does not fit on this GPU configuration")
    rate = SATURATING_RATE if math.isinf(summary.request_rate) else summary.request_rate
    n = min(summary.completed, MAX_SIM_REQUESTS)

    def run(pre: float, dec: float) -> tuple[float, float]:
        e = eng.with_overrides(prefill_efficiency=pre, decode_efficiency=dec)
        r = simulate_load(
            StepModel.build(arch, gpu, e, cfg),
            request_rate=rate,
            input_tokens=s_in,
            output_tokens=s_out,
            max_seqs=max_seqs,
            max_batched_tokens=limits.max_batched_tokens,
            n_requests=n,
        )
        return r.ttft_ms[50], r.tpot_ms[50]

    def solve(f: Any) -> float:
        lo, hi = 0.02, 1.0
        if f(hi) > 0:
            return 1.0  # faster than the bound allows: cap (the bound check will flag it)
        if f(lo) < 0:
            return lo
        return float(brentq(f, lo, hi, xtol=1e-4))

    # TPOT depends a little on prefill (prefills share iterations) and TTFT on decode (queueing):
    # alternate the two one-dimensional fits until they settle (two rounds suffice).
    pre, dec = eng.prefill_efficiency, eng.decode_efficiency
    for _ in range(2):
        dec = solve(lambda d, p=pre: run(p, d)[1] - summary.median_tpot_ms)
        pre = solve(lambda p, d=dec: run(p, d)[0] - summary.median_ttft_ms)
    ttft, tpot = run(pre, dec)
    return BenchFit(pre, dec, ttft, tpot, summary)
