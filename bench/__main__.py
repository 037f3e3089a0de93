"""Estimator benchmarks: medians over repeated runs on this machine.

Target (issue 3): one inference estimate in under 1 ms.
"""

from __future__ import annotations

import platform
import statistics
import time

from app.estimators.engines import ENGINES
from app.estimators.inference import ServingConfig, Workload, estimate_inference
from app.estimators.reference_data import catalog_architecture, catalog_gpu


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


if __name__ == "__main__":
    main()
