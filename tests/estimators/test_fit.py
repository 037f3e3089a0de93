"""What would fit, and the context-length check (issue 22, item 3)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from app.estimators.architecture import Architecture
from app.estimators.engines import ENGINES
from app.estimators.fit import FitOption, check_context, describe_fit, fit_options
from app.estimators.hardware import GpuSpec
from app.estimators.inference import EstimateError, ServingConfig, Workload, estimate_inference
from app.estimators.precision import Precision

LLAMA_70B = Architecture(80, 8192, 28672, 64, 8, 128, 128256, False, name="Llama-3.1-70B")
H100 = GpuSpec("h100_sxm_80gb", "H100 SXM", 80, 3.35, 989.4, 80, 1978.9, 1978.9, 2.0)
A100 = GpuSpec("a100_sxm_80gb", "A100 SXM", 80, 2.039, 312, 80, None, 624, 1.5)
VLLM = ENGINES["vllm"]
WL = Workload(1024, 256, 4)


def test_70b_bf16_needs_two_h100s_and_one_at_8_or_4_bits() -> None:
    cfg = ServingConfig(n_gpus=1, precision=Precision.bf16)
    assert not estimate_inference(LLAMA_70B, H100, VLLM, cfg, WL).memory.fits
    opts = {o.precision: o.n_gpus for o in fit_options(LLAMA_70B, H100, VLLM, cfg, WL)}
    assert opts[Precision.bf16] == 2
    assert opts[Precision.fp8] == 1
    assert opts[Precision.int4] == 1
    # Every option is the fewest GPUs that fit: one fewer does not.
    for prec, n in opts.items():
        fits = estimate_inference(LLAMA_70B, H100, VLLM, replace(cfg, n_gpus=n, precision=prec), WL)
        assert fits.memory.fits
        if n > 1:
            less = replace(cfg, n_gpus=n // 2, precision=prec)
            assert not estimate_inference(LLAMA_70B, H100, VLLM, less, WL).memory.fits


def test_unsupported_precisions_are_not_offered() -> None:
    cfg = ServingConfig(n_gpus=1)
    precs = {o.precision for o in fit_options(LLAMA_70B, A100, VLLM, cfg, WL)}
    assert Precision.fp8 not in precs  # the A100 has no FP8 tensor cores
    assert Precision.int8 in precs


def test_nothing_fits_within_the_counts() -> None:
    huge = Workload(1024, 256, 100_000)
    assert fit_options(LLAMA_70B, H100, VLLM, ServingConfig(), huge, counts=(1, 2)) == []
    assert describe_fit([], "H100", 2) == "nothing up to 2 × H100 at any precision"


def test_description_groups_precisions_fewest_gpus_first() -> None:
    opts = [
        FitOption(Precision.bf16, 2),
        FitOption(Precision.fp8, 1),
        FitOption(Precision.int4, 1),
    ]
    assert describe_fit(opts, "H100", 8) == "1 × H100 at fp8/int4, or 2 × H100 at bf16"


def test_the_usable_capacity_is_the_one_the_reason_names() -> None:
    mem = estimate_inference(LLAMA_70B, H100, VLLM, ServingConfig(), WL).memory
    assert mem.usable_gb == pytest.approx(mem.capacity_gb * VLLM.gpu_memory_utilization)
    assert f"{mem.usable_gb:.1f} GB" in (mem.reason or "")


@pytest.mark.parametrize(
    ("inp", "out", "field"),
    [(131_072, 1, "input_tokens"), (131_000, 100, "output_tokens"), (200_000, 10, "input_tokens")],
)
def test_beyond_the_context_is_refused_naming_the_field(inp: int, out: int, field: str) -> None:
    with pytest.raises(EstimateError) as exc:
        check_context("llama_3_1_8b", inp, out)
    assert exc.value.field == field
    assert "131,072-token context" in str(exc.value)


def test_within_the_context_or_unknown_model_passes() -> None:
    check_context("llama_3_1_8b", 131_000, 72)
    check_context("custom_model_without_known_limit", 10_000_000, 1_000_000)
