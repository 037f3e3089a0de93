"""GPU specification and the interconnect terms used for tensor parallelism."""

from __future__ import annotations

import math
from dataclasses import dataclass

from app.estimators.errors import FieldError
from app.estimators.precision import Precision, compute_peak_key

GIB = 2**30

# Tensor-parallel all-reduce: a fixed launch/synchronisation latency per collective plus a
# bandwidth term. ~30 us NCCL base latency at small messages: reference/estimator-landscape.md §5
# (marked unverified there). Link bandwidths per GPU, one direction: NVLink 4 (H100/H200 SXM)
# 450 GB/s, NVLink 3 (A100 SXM) 300 GB/s, NVLink 5 (B200) 900 GB/s (NVIDIA datasheets: 900/600/1800
# GB/s bidirectional); PCIe 4.0 x16 32 GB/s, PCIe 5.0 x16 64 GB/s per direction (PCI-SIG);
# MI300X Infinity Fabric 64 GB/s per peer link (AMD MI300X datasheet: 7 links x 128 GB/s bidir.).
ALLREDUCE_LATENCY_S = 30e-6
LINK_GBPS_BY_KEY: dict[str, float] = {
    "h100_sxm_80gb": 450.0,
    "h200_sxm_141gb": 450.0,
    "a100_sxm_80gb": 300.0,
    "a100_sxm_40gb": 300.0,
    "b200_180gb": 900.0,
    "h100_pcie_80gb": 64.0,
    "a100_pcie_80gb": 32.0,
    "a100_pcie_40gb": 32.0,
    "l40s": 32.0,
    "l4": 32.0,
    "a10": 32.0,
    "rtx_4090": 32.0,
    "mi300x": 64.0,
}
DEFAULT_LINK_GBPS = 32.0  # PCIe 4.0 x16, one direction


class HardwareError(FieldError):
    pass


@dataclass(frozen=True, slots=True)
class GpuSpec:
    """Dense (non-sparse) peaks, as in reference/gpus.csv. ``memory_gb`` is 10^9 bytes."""

    key: str
    name: str
    memory_gb: float
    bandwidth_tbps: float
    bf16_tflops_dense: float
    usable_memory_gib: float | None = None
    fp8_tflops_dense: float | None = None
    int8_tops_dense: float | None = None
    price_per_hour_usd: float | None = None
    link_gbps: float | None = None

    def __post_init__(self) -> None:
        for name in ("memory_gb", "bandwidth_tbps", "bf16_tflops_dense"):
            v = getattr(self, name)
            if not (isinstance(v, int | float) and math.isfinite(v) and v > 0):
                raise HardwareError(f"{name} must be a positive number", field=name)

    @property
    def capacity_bytes(self) -> float:
        """Memory the runtime can address: the usable GiB where known, else ``memory_gb`` read as
        GiB ("NVIDIA '80GB' parts expose about 80 GiB": reference/estimator-landscape.md §7)."""
        return (self.usable_memory_gib or self.memory_gb) * GIB

    @property
    def bandwidth_bytes_per_s(self) -> float:
        return self.bandwidth_tbps * 1e12

    @property
    def interconnect_bytes_per_s(self) -> float:
        gbps = self.link_gbps or LINK_GBPS_BY_KEY.get(self.key, DEFAULT_LINK_GBPS)
        return gbps * 1e9

    def _tensor_core_peak(self, weights: Precision) -> tuple[str, float | None]:
        """The one place that says which tensor cores a precision needs (fp8 the FP8 ones, int8
        the INT8 ones, the rest BF16) and their dense peak (TFLOPS/TOPS; None: the GPU has none)."""
        key = compute_peak_key(weights)
        if key == "fp8":
            return key, self.fp8_tflops_dense
        if key == "int8":
            return key, self.int8_tops_dense
        return key, self.bf16_tflops_dense

    def supports(self, precision: Precision) -> bool:
        key, peak = self._tensor_core_peak(precision)
        return key == "bf16" or bool(peak)

    def peak_flops(self, weights: Precision) -> float:
        key, peak = self._tensor_core_peak(weights)
        if not self.supports(weights) or peak is None:
            raise HardwareError(f"{self.name} has no {key.upper()} tensor cores", field="precision")
        return peak * 1e12
