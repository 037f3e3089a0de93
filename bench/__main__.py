"""Estimator benchmarks: medians over repeated runs on this machine (``make bench``).

Targets (issue 3): one inference estimate < 1 ms; vectorised sweep >= 100k configurations/s;
load simulation of 10k requests < 1 s.
"""

from __future__ import annotations

import platform
import statistics
import time

import numpy as np

from app.estimators.engines import ENGINES
from app.estimators.inference import ServingConfig, StepModel, Workload, estimate_inference
from app.estimators.reference_data import catalog_architecture, catalog_gpu
from app.estimators.simulation import simulate_load
from app.estimators.sweep import sweep


def median_s(fn, repeats: int = 7, number: int = 2000) -> float:  # type: ignore[no-untyped-def]
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        samples.append((time.perf_counter() - t0) / number)
    return statistics.median(samples)


def main() -> None:
    print(
        f"machine: {platform.processor() or platform.machine()}, Python {platform.python_version()}"
    )
    cases = {
        "llama_3_1_8b on 1x h100, batch 8": ("llama_3_1_8b", "h100_sxm_80gb", 1, 8),
        "llama_3_1_70b on 4x h100, batch 32": ("llama_3_1_70b", "h100_sxm_80gb", 4, 32),
        "mixtral_8x7b on 2x a100, batch 16": ("mixtral_8x7b", "a100_sxm_80gb", 2, 16),
    }
    for label, (model, gpu, n, b) in cases.items():
        arch, spec = catalog_architecture(model), catalog_gpu(gpu)
        t = median_s(
            lambda arch=arch, spec=spec, n=n, b=b: estimate_inference(
                arch, spec, ENGINES["vllm"], ServingConfig(n_gpus=n), Workload(2000, 300, b)
            )
        )
        print(f"inference estimate, {label}: median {t * 1e3:.4f} ms (target < 1 ms)")

    # Vectorised sweep: batch x input x output x GPUs grid in one call.
    arch, spec = catalog_architecture("llama_3_1_70b"), catalog_gpu("h100_sxm_80gb")
    b, i, o, n = np.meshgrid(
        np.arange(1, 513, dtype=float),
        np.geomspace(64, 32768, 25),
        np.geomspace(16, 4096, 10),
        np.array([1.0, 2.0, 4.0, 8.0]),
        indexing="ij",
    )
    size = b.size
    t = median_s(
        lambda: sweep(arch, spec, ENGINES["vllm"], batch=b, input_tokens=i, output_tokens=o,
                      n_gpus=n),
        repeats=5, number=1,
    )  # fmt: skip
    print(
        f"vectorised sweep, {size:,} configurations: median {t * 1e3:.1f} ms = "
        f"{size / t:,.0f} configurations/s (target >= 100,000/s)"
    )

    # Load simulation: 10k Poisson requests through the continuous-batching scheduler.
    arch8 = catalog_architecture("llama_3_1_8b")
    sm = StepModel.build(arch8, spec, ENGINES["vllm"], ServingConfig())
    for rate in (5.0, 20.0, 1e9):
        t = median_s(
            lambda rate=rate: simulate_load(sm, request_rate=rate, input_tokens=1024,
                                            output_tokens=256, max_seqs=256,
                                            max_batched_tokens=8192, n_requests=10_000),
            repeats=5, number=1,
        )  # fmt: skip
        label = "saturated" if rate > 1e6 else f"{rate:g} req/s"
        print(
            f"load simulation, 10,000 requests at {label}: median {t * 1e3:.0f} ms (target < 1 s)"
        )


if __name__ == "__main__":
    main()
