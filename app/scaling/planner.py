"""Compute planner: the Chinchilla-optimal split of a training budget under each published fit,
iso-FLOP and iso-loss curves, and where a trained model sits against the optimum.

Formulas: reference/formulas.md §1 (Hoffmann et al. 2022, arXiv 2203.15556, eq. 4); the fits and
their sources are in :data:`app.estimators.chinchilla.FITS`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from app.estimators.chinchilla import FITS, ChinchillaFit
from app.scaling.errors import ScalingError

SECONDS_PER_DAY = 86_400

# Why the published fits disagree (reference/formulas.md §1.2, Besiroglu et al. 2024).
FIT_NOTES: dict[str, str] = {
    "hoffmann_printed": "Hoffmann et al.'s approach-3 fit with the rounded constants printed in "
    "the paper; Epoch found the rounding biases predictions and the optimiser stopped early "
    "(the Huber loss was averaged, not summed), so it asks for several times more tokens per "
    "parameter than approaches 1 and 2 (about 20 at Chinchilla scale).",
    "hoffmann_tex": "The same fit with the unrounded values from the paper's TeX source; "
    "a = 0.4565 where Table 2 prints 0.46.",
    "epoch_2024": "Besiroglu et al.'s refit of 240 points digitised from Hoffmann's Fig. 4 "
    "(Huber δ = 10⁻³ on log loss, summed); gives D/N ≈ 20 at Chinchilla scale, agreeing with "
    "Hoffmann's approaches 1 and 2. The default.",
    "sardana_code": "The constants in Sardana et al.'s public code (α 0.336, β 0.283 with the "
    "printed A, B, E); kept so their worked examples reproduce.",
}

# Training tokens of catalog models, as their papers and model cards state them.
TRAINED_TOKENS: dict[str, tuple[float, str]] = {
    "llama_65b": (1.4e12, "Touvron et al. 2023, LLaMA (arXiv 2302.13971), Table 2: 1.4T tokens"),
    "llama_2_7b": (2.0e12, "Touvron et al. 2023, Llama 2 (arXiv 2307.09288), Table 1: 2.0T"),
    "llama_2_13b": (2.0e12, "Touvron et al. 2023, Llama 2 (arXiv 2307.09288), Table 1: 2.0T"),
    "llama_2_70b": (2.0e12, "Touvron et al. 2023, Llama 2 (arXiv 2307.09288), Table 1: 2.0T"),
    "llama_3_1_8b": (15e12, "Llama 3 Herd of Models (arXiv 2407.21783): over 15T tokens"),
    "llama_3_1_70b": (15e12, "Llama 3 Herd of Models (arXiv 2407.21783): over 15T tokens"),
    "llama_3_1_405b": (15.6e12, "Llama 3 Herd of Models (arXiv 2407.21783), §3: 15.6T tokens"),
    "llama_3_2_1b": (9e12, "meta-llama/Llama-3.2-1B model card: up to 9T tokens"),
    "llama_3_2_3b": (9e12, "meta-llama/Llama-3.2-3B model card: up to 9T tokens"),
    "qwen3_8b": (36e12, "Qwen3 Technical Report (arXiv 2505.09388): about 36T tokens"),
}


def check_positive(value: float, field: str) -> float:
    if not math.isfinite(value) or value <= 0:
        raise ScalingError(f"{field} must be a positive, finite number", field=field)
    return value


def compute_from_hardware(peak_flops: float, n_gpus: int, days: float, mfu: float) -> float:
    """Training FLOPs a cluster delivers: peak · GPUs · seconds · MFU."""
    check_positive(days, "days")
    if not 0 < mfu <= 1:
        raise ScalingError("mfu must be in (0, 1]", field="mfu")
    if n_gpus < 1:
        raise ScalingError("n_gpus must be at least 1", field="n_gpus")
    return peak_flops * n_gpus * days * SECONDS_PER_DAY * mfu


@dataclass(frozen=True, slots=True)
class Optimum:
    fit: str
    compute_flops: float
    optimal_params: float
    optimal_tokens: float
    tokens_per_param: float
    loss: float
    note: str


def optimum(compute_flops: float, fit: ChinchillaFit) -> Optimum:
    check_positive(compute_flops, "compute_flops")
    n, d = fit.optimum(compute_flops)
    return Optimum(
        fit.name, compute_flops, n, d, d / n, fit.loss(n, d), FIT_NOTES.get(fit.name, "")
    )


def all_fits(compute_flops: float) -> list[Optimum]:
    """The optimum of one budget under every published fit (they differ by large factors)."""
    return [optimum(compute_flops, f) for f in FITS.values()]


@dataclass(frozen=True, slots=True)
class Position:
    """A trained model (N, D) against the compute-optimal model of the same budget 6·N·D."""

    params: float
    tokens: float
    compute_flops: float
    loss: float
    optimal: Optimum
    tokens_ratio: float  # D / D_opt: below 1 the model is undertrained
    verdict: str
    excess_loss: float  # loss − loss of the optimum at the same compute


def position(params: float, tokens: float, fit: ChinchillaFit) -> Position:
    check_positive(params, "params")
    check_positive(tokens, "tokens")
    c = 6 * params * tokens
    opt = optimum(c, fit)
    ratio = tokens / opt.optimal_tokens
    if abs(math.log(ratio)) < math.log(1.1):
        verdict = "compute-optimal (within 10%)"
    elif ratio < 1:
        verdict = f"undertrained by ×{1 / ratio:.1f} (too many parameters for its tokens)"
    else:
        verdict = f"trained ×{ratio:.1f} past the optimum (smaller and longer: cheaper to serve)"
    loss = fit.loss(params, tokens)
    return Position(params, tokens, c, loss, opt, ratio, verdict, loss - opt.loss)


FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class IsoFlop:
    compute_flops: float
    params: FloatArray
    loss: FloatArray
    optimal_params: float
    optimal_loss: float


def iso_flop_curves(
    budgets: list[float], fit: ChinchillaFit, points: int = 80, span: float = 100.0
) -> list[IsoFlop]:
    """For each budget, loss against N with D = C/(6N), N from N_opt/span to N_opt·span."""
    out = []
    for c in budgets:
        check_positive(c, "compute_flops")
        n_opt, _ = fit.optimum(c)
        n = np.geomspace(n_opt / span, n_opt * span, points)
        loss = fit.E + fit.A / n**fit.alpha + fit.B / (c / (6 * n)) ** fit.beta
        out.append(IsoFlop(c, n, loss, n_opt, fit.loss(*fit.optimum(c))))
    return out


@dataclass(frozen=True, slots=True)
class IsoLossGrid:
    params: FloatArray  # axis, log-spaced
    tokens: FloatArray  # axis, log-spaced
    loss: FloatArray  # shape (len(tokens), len(params))
    frontier_params: FloatArray  # the efficient frontier N_opt(C), D_opt(C)
    frontier_tokens: FloatArray


def iso_loss_grid(
    fit: ChinchillaFit,
    params_range: tuple[float, float] = (1e8, 1e12),
    tokens_range: tuple[float, float] = (1e9, 1e14),
    points: int = 60,
) -> IsoLossGrid:
    n = np.geomspace(*params_range, points)
    d = np.geomspace(*tokens_range, points)
    loss = fit.E + fit.A / n[None, :] ** fit.alpha + fit.B / d[:, None] ** fit.beta
    c = np.geomspace(6 * n[0] * d[0], 6 * n[-1] * d[-1], points)
    a = fit.beta / (fit.alpha + fit.beta)
    b = fit.alpha / (fit.alpha + fit.beta)
    fn, fd = fit.G * (c / 6) ** a, (c / 6) ** b / fit.G
    keep = (fn >= n[0]) & (fn <= n[-1]) & (fd >= d[0]) & (fd <= d[-1])
    return IsoLossGrid(n, d, loss, fn[keep], fd[keep])


def custom_fit(E: float, A: float, B: float, alpha: float, beta: float) -> ChinchillaFit:
    """A user's own constants (e.g. from :func:`app.scaling.fitting.fit_chinchilla`)."""
    for name, v in (("E", E), ("A", A), ("B", B), ("alpha", alpha), ("beta", beta)):
        check_positive(v, name)
    return ChinchillaFit("custom", E, A, B, alpha, beta, "your own fit")
