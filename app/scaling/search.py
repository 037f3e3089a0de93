"""Algorithm 1 of Bian et al. 2025 (reference/formulas.md §2.7), vectorised over every design.

At a fixed non-embedding budget N, depth and head size: enumerate d_model (multiples of
``d_model_step`` with x = d/√N in ``x_range``), query heads, KV heads (every divisor of n_heads up
to ``max_gqa`` query heads per group: the paper's "prime factor" read as "divisor", §2.11) and
d_ff (multiples of ``d_ff_step``) whose N_non-embed lies within ``tolerance`` of N and whose r lies
in ``r_range`` (the paper's sweeps used r ∈ [0.5, 5]); predict each design's loss with the
conditional law (the loss-optimal design is taken at the baseline's GQA, default 4, as
Algorithm 1 step 2 fixes it); keep those at or under the loss target (default: the
baseline's predicted loss);
predicted loss);
estimate throughput with the KV-aware step model (weights plus KV traffic per step, batch limited
by the KV cache that fits: FLOPs alone do not explain the paper's speed-ups, §2.8). Returns the
loss-optimal design ("Panda"-like), the fastest design under the target ("Surefire"-like) and the
Pareto frontier of the designs under the target.

The law has no GQA term (its effect on loss is noisy, App. I): GQA changes loss here only through
r, so ``max_gqa`` bounds how far the search may trade KV heads for speed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from app.estimators.architecture import Architecture
from app.estimators.sweep import ArchTerms, Serving, evaluate
from app.scaling.conditional import Coefficients
from app.scaling.errors import ScalingError

FloatArray = NDArray[np.float64]
MAX_CANDIDATES = 5_000_000  # memory guard: about 1 GB of float arrays at this size
CHART_POINTS = 4000
DEFAULT_GQA = 4  # the paper's sweeps and Panda models (reference §2.1)


@dataclass(frozen=True, slots=True)
class SearchSpace:
    n_non_embed: float
    n_layers: int
    d_head: int
    vocab: int = 128_256  # LLaMA-3.2 vocabulary, tied (the paper's setup, reference §2.10)
    tied_embeddings: bool = True
    tolerance: float = 0.02
    d_model_step: int = 64
    d_ff_step: int = 64
    x_range: tuple[float, float] = (0.03, 0.15)
    r_range: tuple[float, float] = (0.5, 5.0)
    max_gqa: int = 16

    def __post_init__(self) -> None:
        if not math.isfinite(self.n_non_embed) or self.n_non_embed < 1e6:
            raise ScalingError("n_non_embed must be at least 1e6", field="n_non_embed")
        for name in ("n_layers", "d_head", "vocab", "d_model_step", "d_ff_step", "max_gqa"):
            if getattr(self, name) < 1:
                raise ScalingError(f"{name} must be a positive integer", field=name)
        if not 0 < self.tolerance <= 0.25:
            raise ScalingError("tolerance must be in (0, 0.25]", field="tolerance")
        for name in ("x_range", "r_range"):
            lo, hi = getattr(self, name)
            if not 0 < lo < hi:
                raise ScalingError(f"{name} must be an increasing pair of positives", field=name)


# Bounds on one search's enumeration (time and memory grow with widths × head pairs × d_ff
# steps). Published dense models stay far inside them: LLaMA-3.1-405B has d_model 16,384 (256
# widths at step 64) and 128 heads.
MAX_WIDTHS = 4096
MAX_HEADS = 1024


@dataclass(frozen=True, slots=True)
class SearchWorkload:
    input_tokens: int = 4096  # the paper's vLLM measurement (reference §2.7)
    output_tokens: int = 1024
    batch_size: int | None = None  # None: as many as the KV cache and the engine allow


@dataclass(frozen=True, slots=True)
class Designs:
    """Candidate designs as parallel arrays."""

    d_model: FloatArray
    d_ff: FloatArray
    n_heads: FloatArray
    n_kv_heads: FloatArray

    @property
    def size(self) -> int:
        return int(self.d_model.size)

    def take(self, idx: NDArray[np.intp]) -> Designs:
        return Designs(self.d_model[idx], self.d_ff[idx], self.n_heads[idx], self.n_kv_heads[idx])


def _head_pairs(max_heads: int, max_gqa: int) -> tuple[FloatArray, FloatArray]:
    heads, kv = [], []
    for h in range(1, max_heads + 1):
        for k in range(1, h + 1):
            if h % k == 0 and h // k <= max_gqa:
                heads.append(h)
                kv.append(k)
    return np.array(heads, float), np.array(kv, float)


def enumerate_designs(space: SearchSpace) -> Designs:
    """Every (d_model, n_heads, n_kv_heads, d_ff) within the budget tolerance and r range."""
    n, L, dh = space.n_non_embed, space.n_layers, space.d_head
    step, fstep = space.d_model_step, space.d_ff_step
    root = math.sqrt(n)
    d_lo = math.ceil(space.x_range[0] * root / step) * step
    d_hi = math.floor(space.x_range[1] * root / step) * step
    if (d_hi - d_lo) / step + 1 > MAX_WIDTHS:
        raise ScalingError(
            f"the search space is too large: x_range gives d_model {d_lo:,.0f} to {d_hi:,.0f} in "
            f"steps of {step} (over {MAX_WIDTHS:,} widths); raise d_model_step or narrow x_range",
            field="n_non_embed",
        )
    d = np.arange(d_lo, d_hi + 1, step, dtype=float)
    if d.size == 0:
        raise ScalingError("no d_model in x_range at this step", field="x_range")
    r_lo, r_hi = space.r_range
    lo_budget = (n * (1 - space.tolerance) - d) / L - 2 * d  # attention + MLP per layer
    hi_budget = (n * (1 + space.tolerance) - d) / L - 2 * d
    # attn·(1 + r_lo) ≤ hi_budget, with attn ≥ 2·d·h·d_h (q and o alone)
    max_heads = int(np.max(np.floor(hi_budget / (1 + r_lo) / (2 * d * dh))))
    if max_heads < 1:
        raise ScalingError(
            "the budget is too small for one attention head at these depths and widths",
            field="n_non_embed",
        )
    if max_heads > MAX_HEADS:
        raise ScalingError(
            f"the search space is too large: the budget allows up to {max_heads:,} attention heads "
            f"per layer (over {MAX_HEADS:,}); use more layers or a larger d_head",
            field="n_non_embed",
        )
    h, kv = _head_pairs(max_heads, space.max_gqa)
    dd = np.repeat(d, h.size)
    hh = np.tile(h, d.size)
    kk = np.tile(kv, d.size)
    lo = np.repeat(lo_budget, h.size)
    hi = np.repeat(hi_budget, h.size)
    attn = 2 * dd * hh * dh + 2 * dd * kk * dh
    # d_ff bounds from the budget and from r = 3·d·f / attn
    f_lo = np.maximum(lo - attn, r_lo * attn) / (3 * dd)
    f_hi = np.minimum(hi - attn, r_hi * attn) / (3 * dd)
    k_lo = np.maximum(np.ceil(f_lo / fstep), 1)
    k_hi = np.floor(f_hi / fstep)
    count = np.maximum(k_hi - k_lo + 1, 0).astype(np.int64)
    total = int(count.sum())
    if total == 0:
        raise ScalingError(
            "no design fits the budget within the tolerance and ranges; widen tolerance, "
            "x_range or r_range",
            field="tolerance",
        )
    if total > MAX_CANDIDATES:
        raise ScalingError(
            f"{total:,} candidate designs exceed the limit of {MAX_CANDIDATES:,}; narrow the "
            "ranges or coarsen the steps",
            field="d_model_step",
        )
    row = np.repeat(np.arange(count.size), count)
    offset = np.arange(total) - np.repeat(np.cumsum(count) - count, count)
    return Designs(dd[row], (k_lo[row] + offset) * fstep, hh[row], kk[row])


@dataclass(frozen=True, slots=True)
class Scored:
    designs: Designs
    n_non_embed: FloatArray
    x: FloatArray
    r: FloatArray
    multiplier: FloatArray
    loss: FloatArray
    throughput: FloatArray  # output tokens/s on the workload; 0 where it does not fit
    batch: FloatArray
    kv_bytes_per_token: FloatArray

    def record(self, i: int) -> dict[str, float | int]:
        d = self.designs
        return {
            "d_model": int(d.d_model[i]),
            "d_ff": int(d.d_ff[i]),
            "n_heads": int(d.n_heads[i]),
            "n_kv_heads": int(d.n_kv_heads[i]),
            "n_non_embed": int(self.n_non_embed[i]),
            "x": float(self.x[i]),
            "r": float(self.r[i]),
            "gqa": int(d.n_heads[i] // d.n_kv_heads[i]),
            "loss_multiplier": float(self.multiplier[i]),
            "predicted_loss": float(self.loss[i]),
            "predicted_throughput": float(self.throughput[i]),
            "batch_size": int(self.batch[i]),
            "kv_bytes_per_token": float(self.kv_bytes_per_token[i]),
        }


def score(
    designs: Designs,
    space: SearchSpace,
    coeffs: Coefficients,
    reference_loss: float,
    serving: Serving,
    workload: SearchWorkload,
) -> Scored:
    """Loss (conditional law) and throughput (step model) of every design at once."""
    L, d = space.n_layers, designs.d_model
    terms = ArchTerms.dense(
        n_layers=L,
        d_model=d,
        d_ff=designs.d_ff,
        n_heads=designs.n_heads,
        n_kv_heads=designs.n_kv_heads,
        d_head=space.d_head,
        vocab=space.vocab,
        tied_embeddings=space.tied_embeddings,
    )
    n_non = np.asarray(terms.body, float)
    mlp = np.asarray(terms.mlp_per_expert, float)
    x = d / np.sqrt(n_non)
    r = mlp / ((n_non - d) / L - mlp - 2 * d)  # N_mlp / N_attn per layer
    mult = coeffs.multiplier(x, r, reference_loss)
    s_in, s_out = workload.input_tokens, workload.output_tokens
    cap = np.floor(serving.kv_capacity_tokens(terms) / (s_in + s_out))
    want = workload.batch_size or serving.engine.max_num_seqs
    batch = np.minimum(cap, want)
    res = evaluate(
        terms, serving, batch=np.maximum(batch, 1), input_tokens=s_in, output_tokens=s_out
    )
    tput = np.where(batch >= 1, res.output_tokens_per_s, 0.0)
    kv_bytes = np.asarray(terms.kv_elems_per_token, float) * 2.0  # bf16, for display
    return Scored(designs, n_non, x, r, mult, mult * reference_loss, tput, batch, kv_bytes)


def pareto_front(loss: FloatArray, throughput: FloatArray) -> NDArray[np.intp]:
    """Indices of designs no other design beats on both lower loss and higher throughput,
    ordered by loss."""
    order = np.lexsort((-throughput, loss))
    best = np.maximum.accumulate(throughput[order])
    prev = np.concatenate([[-np.inf], best[:-1]])
    return np.asarray(order[throughput[order] > prev], np.intp)


@dataclass(frozen=True, slots=True)
class SearchResult:
    candidates_evaluated: int
    under_target: int
    loss_target: float
    reference_loss: float
    baseline: dict[str, float | int] | None
    loss_optimal: dict[str, float | int] | None
    throughput_optimal: dict[str, float | int] | None
    pareto: list[dict[str, float | int]]
    chart: dict[str, list[float]] = field(default_factory=dict)


def baseline_designs(arch: Architecture) -> Designs:
    one = np.ones(1)
    return Designs(one * arch.d_model, one * arch.d_ff, one * arch.n_heads, one * arch.n_kv_heads)


def search(
    space: SearchSpace,
    coeffs: Coefficients,
    reference_loss: float,
    serving: Serving,
    workload: SearchWorkload,
    *,
    loss_target: float | None = None,
    baseline: Architecture | None = None,
    seed: int = 0,
) -> SearchResult:
    if not math.isfinite(reference_loss) or reference_loss <= 0:
        raise ScalingError("reference_loss must be positive", field="reference_loss")
    base_rec = None
    if baseline is not None:
        if baseline.is_moe:
            raise ScalingError("the conditional law covers dense models only", field="baseline")
        bspace = SearchSpace(
            space.n_non_embed,
            baseline.n_layers,
            baseline.d_head,
            baseline.vocab,
            baseline.tied_embeddings,
        )
        base = score(baseline_designs(baseline), bspace, coeffs, reference_loss, serving, workload)
        base_rec = base.record(0)
    if loss_target is None:
        if base_rec is None:
            raise ScalingError("give a loss_target or a baseline architecture", field="loss_target")
        loss_target = float(base_rec["predicted_loss"])
    if not math.isfinite(loss_target) or loss_target < reference_loss:
        raise ScalingError(
            f"loss_target {loss_target:.4f} is below L_opt(N, D) = {reference_loss:.4f}: no "
            "architecture reaches it (eq. 4 needs L_t ≥ L_opt)",
            field="loss_target",
        )
    designs = enumerate_designs(space)
    s = score(designs, space, coeffs, reference_loss, serving, workload)
    ok = (s.loss <= loss_target) & (s.throughput > 0)
    under = np.flatnonzero(ok)
    # "Panda": the loss optimum at the baseline's GQA (Algorithm 1 step 2 fixes GQA; step 3
    # searches it), over every GQA when none is at the baseline's.
    gqa = designs.n_heads / designs.n_kv_heads
    base_gqa = baseline.gqa_group if baseline is not None else DEFAULT_GQA
    fits = s.throughput > 0
    pool = fits & (gqa == base_gqa) if np.any(fits & (gqa == base_gqa)) else fits
    loss_opt_rec = None
    if np.any(pool):
        # lowest loss; exact ties go to the faster design
        loss_opt_rec = s.record(int(np.lexsort((-s.throughput, np.where(pool, s.loss, np.inf)))[0]))
    tput_rec = None
    pareto: list[dict[str, float | int]] = []
    if under.size:
        tput_rec = s.record(int(under[np.argmax(s.throughput[under])]))
        pareto = [s.record(int(under[i])) for i in pareto_front(s.loss[under], s.throughput[under])]
    rng = np.random.default_rng(seed)
    sample = (
        rng.choice(designs.size, CHART_POINTS, replace=False)
        if designs.size > CHART_POINTS
        else np.arange(designs.size)
    )
    chart = {
        "loss": s.loss[sample].tolist(),
        "throughput": s.throughput[sample].tolist(),
        "gqa": (designs.n_heads[sample] / designs.n_kv_heads[sample]).tolist(),
    }
    return SearchResult(
        candidates_evaluated=designs.size,
        under_target=int(under.size),
        loss_target=loss_target,
        reference_loss=reference_loss,
        baseline=base_rec,
        loss_optimal=loss_opt_rec,
        throughput_optimal=tput_rec,
        pareto=pareto,
        chart=chart,
    )
