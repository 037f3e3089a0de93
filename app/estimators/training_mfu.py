"""Model FLOPs utilisation (MFU) of a pretraining run from the model's shape, the GPU and the
run's parallelism.

A training step is, per token and layer, the weight GEMMs (6 × the layer's parameters: forward and
the two backward products) plus memory-bound element-wise work (norms, residual adds, rotary,
SwiGLU, their gradients: about 3 × the inference traffic, ``ELEMENTWISE_PASSES``). The GEMMs run at
the cluster's achieved GEMM efficiency ``e`` of peak; the element-wise work at the GPU's bandwidth.
Their time ratio is

    r = ridge · 3 · elementwise_bytes / (6 · layer_params)      (ridge = peak FLOP/s / bandwidth),

so the compute part of the MFU is e / (1 + r): about 1.4 · ridge / d_model for a Llama-shaped
layer. Small models lose most to it (d = 2048 on an H100: r ≈ 0.2), large ones almost nothing
(d = 16384: r ≈ 0.03); a GPU with a higher ridge point (H100 295 FLOP/byte vs A100 153) loses more.

The parallelism adds (:class:`Parallelism`; every field optional):

* the pipeline bubble: with ``pp`` stages and ``m`` micro-batches per step the GPUs idle
  (pp − 1)/(m + pp − 1) of the time (1F1B; Narayanan et al. 2021, arXiv 2104.04473, §2.2.1);
  with the interleaved schedule of ``v`` model chunks per GPU (§2.2.2) the bubble shrinks v-fold
  relative to the work, (pp − 1)/(v·m + pp − 1). A formula, not fitted; applied only when both
  pp and m are known (a run that does not say absorbs its bubble into ``e``);
* tensor-parallel communication: per layer and micro-batch, 4 all-reduces of the b·s·h bf16
  activations (2 forward, 2 backward; Narayanan et al. §3.3), a ring moving 2(t − 1)/t of each,
  against 72·b·s·h²/t GEMM FLOPs per GPU: a time ratio of
  (2/9)·(t − 1)·peak / (d_model · link bandwidth) at full GEMM speed, scaled by the fitted
  ``tp_comm`` (prior 0.42: not overlapped, the GEMMs at the prior efficiency);
* cluster size: ``cluster`` per doubling of the node count (8 GPUs a node) — the data-parallel
  gradient reduction and the network hierarchy it crosses, not hidden behind compute; prior 0
  (fully overlapped), bounded below by 0 so a bigger cluster never raises the MFU;
* ZeRO-3 (FSDP full shard): the data-parallel traffic is 1.5 × that of ZeRO-1/2 (the weights'
  all-gather in forward and backward besides the gradients' reduce-scatter: 3Ψ against 2Ψ,
  Rajbhandari et al. 2020, arXiv 1910.02054, §7), so the cluster term is multiplied by
  ``zero3_comm`` (prior 1.5);
* full activation recomputation (activation checkpointing of every layer): the backward pass
  first repeats the layer's forward, 4 passes over the weights where the model's FLOPs count 3
  (Narayanan et al. 2021 Eq. 3; Korthikanti et al. 2022, arXiv 2205.05198, §5), so the MFU is
  3/4 of what the GPUs achieve (``RECOMPUTE_MFU_FACTOR``, a formula, not fitted). Selective
  recomputation (only the attention core, a few per cent of the FLOPs: Korthikanti et al. §5)
  and no recomputation keep the factor 1; a run that does not say is modelled without it. ``e``
  is then what the GPUs achieve, whether or not part of it is spent on recomputation.

    MFU = e / (1 + r) × (1 − bubble) / (1 + cluster · log2(nodes) · z + tp_comm · tp_ratio)
          × (3/4 with full recomputation)

Every coefficient is fitted (:func:`fit_mfu_terms`) on the published pretraining reports
(``validation/published_measurements.csv``, family ``training``), minimising the squared log
error plus a ridge toward its prior; a coefficient is fitted only when at least ``MIN_TERM_ROWS``
rows from ``MIN_TERM_SOURCES`` publications inform it (a row informs the cluster term when it runs
on more than one node, the TP term when it states TP > 1, the ZeRO-3 factor when it runs ZeRO-3 on
more than one node); otherwise it keeps its prior. ``e``'s prior 0.42 is reference/formulas.md
§5's 40 % point estimate for large runs times 1 + r of a large model (r ≈ 0.05 for d = 8192 on
an H100); its ceiling is the Maximum Achievable Matmul FLOPS, 85.9 % of peak on an A100 SXM and
80.1 % on an H100 SXM (github.com/stas00/ml-engineering compute/accelerator/README.md).

Pure: no web or database imports.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import minimize

from app.estimators.architecture import Architecture
from app.estimators.hardware import GpuSpec
from app.estimators.operators import elementwise_bytes_per_token

ELEMENTWISE_PASSES = 3.0  # forward, and the backward's two passes over the same activations
GPUS_PER_NODE = 8  # DGX/HGX A100 and H100 servers (and the runs in the CSV)
ZERO3_COMM_RATIO = 1.5  # ZeRO-3's data-parallel volume over ZeRO-1/2's (3Ψ vs 2Ψ; ZeRO §7)
TP_ALLREDUCES_BYTES_OVER_FLOPS = 2.0 / 9.0  # 16·b·s·h·(t−1)/t bytes vs 72·b·s·h²/t FLOPs
RECOMPUTE_MFU_FACTOR = 3.0 / 4.0  # full recomputation: 4 weight passes, the model's FLOPs count 3


@dataclass(frozen=True, slots=True)
class MfuTerms:
    """The fitted coefficients of the MFU model (see the module docstring)."""

    efficiency: float  # e: GEMM efficiency of peak
    cluster: float  # per doubling of the node count
    tp_comm: float  # scale of the tensor-parallel communication ratio
    zero3_comm: float  # ZeRO-3's multiplier of the cluster term


PRIOR_TERMS = MfuTerms(efficiency=0.42, cluster=0.0, tp_comm=0.42, zero3_comm=ZERO3_COMM_RATIO)
# Ridge scales (one prior "row" weighs (x − prior)² / scale²): e on a log scale (as before),
# the others absolute.
PRIOR_SCALES: dict[str, float] = {
    "efficiency": 1.0,
    "cluster": 0.05,
    "tp_comm": 0.42,
    "zero3_comm": 0.5,
}
BOUNDS: dict[str, tuple[float, float]] = {
    "efficiency": (0.05, 0.9),
    "cluster": (0.0, 0.2),
    "tp_comm": (0.0, 3.0),
    "zero3_comm": (1.0, 4.0),
}
MIN_TERM_ROWS = 3
MIN_TERM_SOURCES = 2
# Fitted by fit_mfu_terms on the CSV's pretraining rows (a test checks it is a fresh fit).
FITTED_TERMS = MfuTerms(efficiency=0.4692, cluster=0.0, tp_comm=0.4218, zero3_comm=1.5)
TRAIN_GEMM_EFFICIENCY = FITTED_TERMS.efficiency
PRIOR_TRAIN_GEMM_EFFICIENCY = PRIOR_TERMS.efficiency
# Without an architecture: a Llama-like width from the parameter count, N ≈ 12·L·d² with
# L ≈ d / 128 (Llama 2 7B: d 4096, 32 layers; 70B: 8192, 80; Llama 3 405B: 16384, 126).
ASPECT_D_PER_LAYER = 128.0
MLP_RATIO = 3.5  # d_ff / d_model of the Llama family (14336/4096, 28672/8192, 53248/16384)


@dataclass(frozen=True, slots=True)
class Parallelism:
    """How a run is laid out; None: not stated (the term it feeds is then left out)."""

    n_gpus: int = 1
    tp: int | None = None
    pp: int | None = None
    micro_batches: int | None = None  # per pipeline, per step
    zero_stage: int | None = None
    virtual_stages: int = 1  # model chunks per GPU: > 1 is the interleaved 1F1B schedule
    recomputation: str | None = None  # "full", "selective" or "none" (None: not stated)

    @property
    def full_recompute(self) -> bool | None:
        """Full activation recomputation, the only kind that repeats the forward's GEMMs (None:
        not stated)."""
        return None if self.recomputation is None else self.recomputation == "full"


@dataclass(frozen=True, slots=True)
class MfuEstimate:
    mfu: float
    gemm_efficiency: float
    elementwise_ratio: float  # r: element-wise time over GEMM time
    bubble: float  # idle share of the pipeline
    note: str
    cluster_overhead: float = 0.0  # cluster · log2(nodes) · z
    tp_overhead: float = 0.0  # tp_comm · tp_ratio
    recompute_factor: float = 1.0  # RECOMPUTE_MFU_FACTOR with full recomputation, else 1


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


def pipeline_bubble(pp: int | None, micro_batches: int | None, virtual_stages: int = 1) -> float:
    """Idle share of a 1F1B pipeline, (pp − 1) / (v·m + pp − 1) with ``v`` model chunks per GPU
    (1: plain 1F1B, §2.2.1; > 1: interleaved, §2.2.2); 0 when pp or m is unknown."""
    if pp is None or pp <= 1 or not micro_batches or micro_batches <= 0:
        return 0.0
    v = max(1, virtual_stages)
    return (pp - 1) / (v * micro_batches + pp - 1)


def node_doublings(n_gpus: int) -> float:
    """log2 of the node count (0 within one node)."""
    return math.log2(max(1.0, n_gpus / GPUS_PER_NODE))


def tp_ratio(tp: int | None, d_model: float, gpu: GpuSpec, peak: float) -> float:
    """Tensor-parallel all-reduce time over GEMM time at full speed (0 without TP)."""
    if tp is None or tp <= 1:
        return 0.0
    return (
        TP_ALLREDUCES_BYTES_OVER_FLOPS * (tp - 1) * peak / (d_model * gpu.interconnect_bytes_per_s)
    )


@dataclass(frozen=True, slots=True)
class MfuFeatures:
    """What the model needs of one run, besides the coefficients."""

    r: float
    bubble: float
    doublings: float
    zero3: bool
    tp_ratio: float
    recompute: bool = False  # full activation recomputation

    @property
    def recompute_factor(self) -> float:
        return RECOMPUTE_MFU_FACTOR if self.recompute else 1.0

    def mfu(self, t: MfuTerms) -> float:
        z = t.zero3_comm if self.zero3 else 1.0
        comm = t.cluster * self.doublings * z + t.tp_comm * self.tp_ratio
        achieved = t.efficiency / (1.0 + self.r) * (1.0 - self.bubble) / (1.0 + comm)
        return achieved * self.recompute_factor


def features(
    params: float, arch: Architecture | None, gpu: GpuSpec, peak: float, par: Parallelism
) -> MfuFeatures:
    _, _, d = _shape(params, arch)
    return MfuFeatures(
        r=elementwise_ratio(params, arch, gpu, peak),
        bubble=pipeline_bubble(par.pp, par.micro_batches, par.virtual_stages),
        doublings=node_doublings(par.n_gpus),
        zero3=par.zero_stage == 3,
        tp_ratio=tp_ratio(par.tp, d, gpu, peak),
        recompute=bool(par.full_recompute),
    )


def estimate_mfu(
    params: float,
    arch: Architecture | None,
    gpu: GpuSpec,
    peak: float,
    *,
    parallelism: Parallelism | None = None,
    pp: int = 1,
    micro_batches: int | None = None,
    terms: MfuTerms = FITTED_TERMS,
) -> MfuEstimate:
    par = parallelism or Parallelism(pp=pp, micro_batches=micro_batches)
    f = features(params, arch, gpu, peak, par)
    mfu = f.mfu(terms)
    z = terms.zero3_comm if f.zero3 else 1.0
    cluster = terms.cluster * f.doublings * z
    tp = terms.tp_comm * f.tp_ratio
    parts = [
        f"MFU {mfu:.3f} = GEMM efficiency {terms.efficiency:.3f} (fitted on published pretraining "
        f"reports) / (1 + element-wise share {f.r:.3f}, from the GPU's ridge point and the "
        "model's width)"
    ]
    if f.bubble:
        parts.append(f" × (1 − pipeline bubble {f.bubble:.3f})")
    if f.recompute:
        parts.append(f" × {RECOMPUTE_MFU_FACTOR:g} (full activation recomputation)")
    if cluster or tp:
        parts.append(
            f" / (1 + cluster {cluster:.3f} (cluster term {terms.cluster:.4f} × "
            f"log2({max(1.0, par.n_gpus / GPUS_PER_NODE):,g} nodes)"
            + (" × ZeRO-3 " + f"{z:.2f}" if f.zero3 else "")
            + f") + tensor-parallel communication {tp:.3f})"
        )
    return MfuEstimate(
        mfu, terms.efficiency, f.r, f.bubble, "".join(parts), cluster, tp, f.recompute_factor
    )


# --- fitting ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MfuReport:
    """A published run: the MFU it reports, its features, its publication."""

    mfu: float
    features: MfuFeatures
    source: str


@dataclass(frozen=True, slots=True)
class MfuFit:
    terms: MfuTerms
    fitted: tuple[str, ...]  # coefficients fitted; the others kept their prior
    why_not: dict[str, str] = field(default_factory=dict)  # coefficient -> why it kept its prior


_INFORMS: dict[str, Callable[[MfuFeatures], bool]] = {
    "efficiency": lambda f: True,
    "cluster": lambda f: f.doublings > 0,
    "tp_comm": lambda f: f.tp_ratio > 0,
    "zero3_comm": lambda f: f.zero3 and f.doublings > 0,
}
NAMES = ("efficiency", "cluster", "tp_comm", "zero3_comm")


def _eligible(reports: Sequence[MfuReport]) -> bool:
    return len(reports) >= MIN_TERM_ROWS and len({r.source for r in reports}) >= MIN_TERM_SOURCES


def fit_mfu_terms(reports: Sequence[MfuReport], prior: MfuTerms = PRIOR_TERMS) -> MfuFit:
    """The coefficients minimising Σ log²(modelled / reported MFU) + Σ ridge toward the prior,
    each fitted only when ``MIN_TERM_ROWS`` rows of ``MIN_TERM_SOURCES`` publications inform it."""
    free: list[str] = []
    why: dict[str, str] = {}
    for name in NAMES:
        rows = [r for r in reports if _INFORMS[name](r.features)]
        if _eligible(rows):
            free.append(name)
        else:
            why[name] = (
                f"{len(rows)} rows from {len({r.source for r in rows})} publications inform it "
                f"(needs {MIN_TERM_ROWS} from {MIN_TERM_SOURCES})"
            )
    if "efficiency" not in free:
        return MfuFit(prior, (), {n: why.get(n, why["efficiency"]) for n in NAMES})

    def terms_of(x: np.ndarray) -> MfuTerms:
        values = {n: getattr(prior, n) for n in NAMES}
        for i, n in enumerate(free):
            values[n] = float(math.exp(x[i])) if n == "efficiency" else float(x[i])
        return MfuTerms(**values)

    def loss(x: np.ndarray) -> float:
        t = terms_of(x)
        err = sum(math.log(r.features.mfu(t) / r.mfu) ** 2 for r in reports)
        for n in free:
            scale = PRIOR_SCALES[n]
            if n == "efficiency":
                err += (math.log(t.efficiency / prior.efficiency) / scale) ** 2
            else:
                err += ((getattr(t, n) - getattr(prior, n)) / scale) ** 2
        return err

    x0 = np.array(
        [math.log(prior.efficiency) if n == "efficiency" else getattr(prior, n) for n in free]
    )
    bounds = [
        (math.log(BOUNDS[n][0]), math.log(BOUNDS[n][1])) if n == "efficiency" else BOUNDS[n]
        for n in free
    ]
    res = minimize(loss, x0, method="L-BFGS-B", bounds=bounds)
    return MfuFit(terms_of(res.x), tuple(free), why)
