"""Numeric precisions: bytes per element and which tensor-core peak a matmul runs at."""

from __future__ import annotations

from enum import StrEnum


class Precision(StrEnum):
    fp32 = "fp32"
    bf16 = "bf16"
    fp16 = "fp16"
    fp8 = "fp8"
    int8 = "int8"
    int4 = "int4"
    nf4 = "nf4"


# Bytes per stored element. NF4 with double quantisation: 4.127 bits = 0.516 bytes per parameter
# (Dettmers et al. 2023, arXiv 2305.14314; reference/formulas.md §6.3). INT4 counts the 4-bit
# payload only (block scales add a few percent; formulas.md §4.2).
BYTES: dict[Precision, float] = {
    Precision.fp32: 4.0,
    Precision.bf16: 2.0,
    Precision.fp16: 2.0,
    Precision.fp8: 1.0,
    Precision.int8: 1.0,
    Precision.int4: 0.5,
    Precision.nf4: 0.516,
}

WEIGHT_PRECISIONS = (
    Precision.bf16,
    Precision.fp16,
    Precision.fp8,
    Precision.int8,
    Precision.int4,
    Precision.nf4,
)
KV_PRECISIONS = (Precision.bf16, Precision.fp16, Precision.fp8, Precision.int8)


def compute_peak_key(weights: Precision) -> str:
    """Which GPU peak a decoder matmul runs at for these weights.

    fp8 runs on FP8 tensor cores, int8 (W8A8) on INT8; 4-bit formats are weight-only and dequantise
    to 16-bit before the matmul, so they run at the BF16 peak.
    """
    if weights == Precision.fp8:
        return "fp8"
    if weights == Precision.int8:
        return "int8"
    return "bf16"
