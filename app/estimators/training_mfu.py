"""Model FLOPs utilisation (MFU) of a pretraining run from the model's shape and the GPU.

A training step is, per token and layer, the weight GEMMs (6 × the layer's parameters: forward and
the two backward products) plus memory-bound element-wise work (norms, residual adds, rotary,
SwiGLU, their gradients: about 3 × the inference traffic, ``ELEMENTWISE_PASSES``). The GEMMs run at
the cluster's achieved GEMM efficiency ``e`` of peak; the element-wise work at the GPU's bandwidth.
Their time ratio is

    r = ridge · 3 · elementwise_bytes / (6 · layer_params)      (ridge = peak FLOP/s / bandwidth),

so MFU = e / (1 + r): about 1.4 · ridge / d_model for a Llama-shaped layer. Small models lose
most to it (d = 2048 on an H100: r ≈ 0.2), large ones almost nothing (d = 16384: r ≈ 0.03); and a
GPU with a higher ridge point (H100 295 FLOP/byte vs A100 153) loses more at the same width.

Pipeline parallelism adds its bubble: with ``pp`` stages and ``m`` micro-batches per step the GPUs
idle (pp − 1)/(m + pp − 1) of the time (GPipe / 1F1B schedules; Narayanan et al. 2021, §2.2.1).

``e`` (``TRAIN_GEMM_EFFICIENCY``) absorbs what the shape does not explain — communication not
hidden behind compute, recomputation, optimizer steps, data loading — and is fitted on published
pretraining reports (``validation/published_measurements.csv``, family ``training``, pretraining
rows; :func:`fit_train_efficiency`), regularised toward ``PRIOR_TRAIN_GEMM_EFFICIENCY`` = 0.42:
reference/formulas.md §5's 40 % point estimate for large runs times 1 + r of a large model
(r ≈ 0.05 for d = 8192 on an H100). A prior, not a measurement; the ceiling is the
Maximum Achievable Matmul FLOPS, 85.9 % of peak on an A100 SXM and 80.1 % on an H100 SXM:
github.com/stas00/ml-engineering compute/accelerator/README.md, "Maximum Achievable Matmul FLOPS
comparison table").

Pure: no web or database imports.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from app.estimators.architecture import Architecture
from app.estimators.hardware import GpuSpec
from app.estimators.operators import elementwise_bytes_per_token

ELEMENTWISE_PASSES = 3.0  # forward, and the backward's two passes over the same activations
PRIOR_TRAIN_GEMM_EFFICIENCY = 0.42
PRIOR_WEIGHT = 1.0  # the prior weighs as much as one report (ridge on log e)
# Fitted by fit_train_efficiency on the CSV's pretraining rows (a test checks it is a fresh fit).
TRAIN_GEMM_EFFICIENCY = 0.4243
# Without an architecture: a Llama-like width from the parameter count, N ≈ 12·L·d² with
# L ≈ d / 128 (Llama 2 7B: d 4096, 32 layers; 70B: 8192, 80; Llama 3 405B: 16384, 126).
ASPECT_D_PER_LAYER = 128.0
MLP_RATIO = 3.5  # d_ff / d_model of the Llama family (14336/4096, 28672/8192, 53248/16384)


@dataclass(frozen=True, slots=True)
class MfuEstimate:
    mfu: float
    gemm_efficiency: float
    elementwise_ratio: float  # r: element-wise time over GEMM time
    bubble: float  # idle share of the pipeline
    note: str


def _shape(params: float, arch: Architecture | None) -> tuple[float, float, float]:
    """(elementwise bytes per token, weight-GEMM parameters, d_model): all layers."""
    if arch is not None:
        layer_params = arch.active_non_embedding_params
        f_active = arch.d_ff * arch.experts_per_token
        ew = elementwise_bytes_per_token(arch.n_layers, arch.d_model, f_active)
        return float(ew), float(layer_params), float(arch.d_model)
    d = (params * ASPECT_D_PER_LAYER / 12.0) ** (1 / 3)
    layers = max(1.0, d / ASPECT_D_PER_LAYER)
    ew = elementwise_bytes_per_token(layers, d, MLP_RATIO * d)
    return float(ew), float(params), d


def elementwise_ratio(params: float, arch: Architecture | None, gpu: GpuSpec, peak: float) -> float:
    ew, gemm_params, _ = _shape(params, arch)
    ridge = peak / gpu.bandwidth_bytes_per_s
    return ridge * ELEMENTWISE_PASSES * ew / (6.0 * gemm_params)


def pipeline_bubble(pp: int, micro_batches: int | None) -> float:
    """Idle share of a 1F1B pipeline: (pp − 1) / (m + pp − 1); m defaults to 4·pp."""
    if pp <= 1:
        return 0.0
    m = micro_batches if micro_batches and micro_batches > 0 else 4 * pp
    return (pp - 1) / (m + pp - 1)


def estimate_mfu(
    params: float,
    arch: Architecture | None,
    gpu: GpuSpec,
    peak: float,
    *,
    pp: int = 1,
    micro_batches: int | None = None,
    efficiency: float = TRAIN_GEMM_EFFICIENCY,
) -> MfuEstimate:
    r = elementwise_ratio(params, arch, gpu, peak)
    bubble = pipeline_bubble(pp, micro_batches)
    mfu = efficiency / (1.0 + r) * (1.0 - bubble)
    note = (
        f"MFU {mfu:.3f} = GEMM efficiency {efficiency:.3f} (fitted on published pretraining "
        f"reports) / (1 + element-wise share {r:.3f}, from the GPU's ridge point and the model's "
        f"width)" + (f" × (1 − pipeline bubble {bubble:.3f})" if bubble else "")
    )
    return MfuEstimate(mfu, efficiency, r, bubble, note)


def fit_train_efficiency(
    reports: Sequence[tuple[float, float]], prior: float = PRIOR_TRAIN_GEMM_EFFICIENCY
) -> float:
    """The GEMM efficiency e minimising Σ log²(e / (1 + r_i) / mfu_i) + PRIOR_WEIGHT·log²(e/prior)
    over reports (mfu_i measured, r_i the element-wise share of the run): a closed form."""
    logs = [math.log(m * (1.0 + r)) for m, r in reports]
    return math.exp((sum(logs) + PRIOR_WEIGHT * math.log(prior)) / (len(logs) + PRIOR_WEIGHT))
