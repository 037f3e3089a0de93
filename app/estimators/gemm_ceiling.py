"""The measured ceiling of large GEMMs on each GPU: the share of the datasheet peak a perfectly
shaped matmul reaches (Maximum Achievable Matmul FLOPS, MAMF).

An engine's compute efficiency (``EngineProfile.prefill_efficiency``) is then the share of that
ceiling its kernels reach, so one engine parameter serves GPUs whose silicon reaches different
shares of their peaks (an MI300X's BF16 GEMMs reach 60 % of peak, an A100's 86 %), and FP8, whose
GEMMs reach a smaller share of their doubled peak than BF16 on the same chip.

Sources (measured, not datasheet):

* BF16 — github.com/stas00/ml-engineering compute/accelerator/README.md, "Maximum Achievable
  Matmul FLOPS comparison table": A100 SXM 267.9 / 312 = 85.9 %, A100 PCIe 256.4 / 312 = 82.2 %,
  H100 SXM 792.1 / 989 = 80.1 %, GH200 821.0 / 989 = 83.0 %, MI300X 781.9 / 1300 = 60.1 %.
* FP8 and B200 — the same book's H200-to-B200 upgrade guide, "MAMF: the realistic ceiling":
  H100/H200 SXM BF16 794.5 / 989 = 80.3 %, FP8 1453.4 / 1979 = 73.4 %; B200 BF16 1745.0 / 2250
  = 77.6 %, FP8 3432.5 / 4500 = 76.3 %.

GPUs without a measurement take the mean of the measured ones (``UNMEASURED``); FP8 on a GPU without
an FP8 measurement takes its BF16 share times the H200's FP8/BF16 ratio (73.4 / 80.3).
Pure: no web or database imports.
"""

from __future__ import annotations

from app.estimators.hardware import GpuSpec
from app.estimators.precision import Precision, compute_peak_key

BF16_CEILING: dict[str, float] = {
    "a100_sxm_80gb": 0.859,
    "a100_sxm_40gb": 0.859,
    "a100_pcie_80gb": 0.822,
    "a100_pcie_40gb": 0.822,
    "h100_sxm_80gb": 0.801,
    "h200_sxm_141gb": 0.803,
    "mi300x": 0.601,
    "b200_180gb": 0.776,
}
FP8_CEILING: dict[str, float] = {"h200_sxm_141gb": 0.734, "b200_180gb": 0.763}
FP8_OVER_BF16 = 0.734 / 0.803  # H200: the FP8 path reaches a smaller share of its doubled peak
UNMEASURED = sum(BF16_CEILING.values()) / len(BF16_CEILING)
# The ceiling the engine efficiencies are measured against when a GPU's own is not applied: the
# fitted efficiencies were priors on the datasheet peak, so the ratio ceiling / REFERENCE scales
# them (REFERENCE is the mean, so an unmeasured GPU keeps the fitted efficiency unchanged).
REFERENCE = UNMEASURED


def gemm_ceiling(gpu: GpuSpec, precision: Precision) -> float:
    """Share of ``gpu``'s datasheet peak at ``precision`` that large GEMMs reach."""
    bf16 = BF16_CEILING.get(gpu.key, UNMEASURED)
    if compute_peak_key(precision) == "fp8":
        return FP8_CEILING.get(gpu.key, bf16 * FP8_OVER_BF16)
    return bf16


def relative_ceiling(gpu: GpuSpec, precision: Precision) -> float:
    """``gemm_ceiling`` over the reference ceiling: the factor on an engine's compute efficiency."""
    return gemm_ceiling(gpu, precision) / REFERENCE
