from __future__ import annotations

import itertools

import numpy as np
import pytest

from app.estimators.engines import engine
from app.estimators.inference import ServingConfig, Workload, estimate_inference
from app.estimators.precision import Precision
from app.estimators.reference_data import catalog_architecture, catalog_gpu
from app.estimators.sweep import sweep


@pytest.mark.parametrize(
    ("model", "gpu", "prec"),
    [
        ("llama_3_1_8b", "h100_sxm_80gb", Precision.bf16),
        ("mixtral_8x7b", "a100_sxm_80gb", Precision.bf16),
        ("llama_3_1_70b", "h200_sxm_141gb", Precision.fp8),
    ],
)
def test_vectorised_sweep_equals_the_scalar_estimator(
    model: str, gpu: str, prec: Precision
) -> None:
    arch, spec, eng = catalog_architecture(model), catalog_gpu(gpu), engine("vllm")
    grid = list(itertools.product([1, 7, 64], [128, 3000], [1, 200], [1, 2, 8]))
    b, i, o, n = (np.array(x, float) for x in zip(*grid, strict=True))
    res = sweep(arch, spec, eng, batch=b, input_tokens=i, output_tokens=o, n_gpus=n, precision=prec)
    for k, (bb, ii, oo, nn) in enumerate(grid):
        est = estimate_inference(
            arch, spec, eng, ServingConfig(n_gpus=nn, precision=prec), Workload(ii, oo, bb)
        )
        assert res.ttft_ms[k] == pytest.approx(est.timing.ttft_ms, rel=1e-9)
        assert res.tpot_ms[k] == pytest.approx(est.timing.tpot_ms, rel=1e-9)
        assert res.output_tokens_per_s[k] == pytest.approx(est.timing.output_tokens_per_s, rel=1e-9)
        assert bool(res.fits[k]) == est.memory.fits
