"""Inference-aware optimum (Sardana, Portes, Doubov, Frankle 2024, "Beyond Chinchilla-Optimal",
arXiv 2401.00448; reference/formulas.md §3).

Minimise lifetime FLOPs ``6·N·D_tr + 2·N·D_inf`` subject to ``L(N, D_tr) = ℓ``. The first-order
condition of the Lagrangian in D (re-derived; same as the authors' code)::

    (β·B/α + B)·D^(−β) + (β·B·D_inf/(3α))·D^(−β−1) + E − ℓ = 0,
    N = (A / (ℓ − E − B·D^(−β)))^(1/α)

The left side falls strictly from +∞ to E − ℓ < 0 as D grows, so it has exactly one root, found
here by Brent's method on ln D (bracketed; the authors use Newton). The dollar version (§3.2)
replaces D_inf by ``m_i / m_tr`` with ``m_i = c_inf·(D_in/MFU_prefill + D_out/MFU_decode)``,
``m_tr = c_tr/MFU_train`` and ``c = $/GPU-hour / (3600 · peak FLOP/s)``.

The public code's ``chinchilla_compute_from_tokens`` returns ``(6·D·G)^(1/b)``; the correct
inverse of ``D_opt = G⁻¹(C/6)^b`` is ``6·(D·G)^(1/b)`` (reference §3.5). Nothing here uses it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy.optimize import brentq

from app.estimators.chinchilla import ChinchillaFit
from app.scaling.errors import ScalingError
from app.scaling.planner import check_positive

# Sardana et al.'s code defaults (reference §3.3): the LMSys request shape.
DEFAULT_INPUT_TOKENS = 70
DEFAULT_OUTPUT_TOKENS = 215


def _solve_tokens(fit: ChinchillaFit, loss: float, inference_tokens: float) -> float:
    a, b, e = fit.alpha, fit.beta, fit.E
    c1 = b * fit.B / a + fit.B
    c2 = b * fit.B * inference_tokens / (3 * a)

    def foc(log_d: float) -> float:
        d = math.exp(log_d)
        return float(c1 * d**-b + c2 * d ** (-b - 1) + e - loss)

    lo, hi = math.log(1.0), math.log(1e30)
    if foc(hi) > 0:
        raise ScalingError("no training length reaches this loss", field="target_loss")
    return math.exp(brentq(foc, lo, hi, xtol=1e-12, rtol=1e-13, maxiter=500))


def _params_for(fit: ChinchillaFit, loss: float, tokens: float) -> float:
    gap = loss - fit.E - fit.B / tokens**fit.beta
    return float((fit.A / gap) ** (1 / fit.alpha))


@dataclass(frozen=True, slots=True)
class Costs:
    """$ per FLOP for training and inference hardware, and the three MFUs."""

    train_usd_per_flop: float
    inference_usd_per_flop: float
    train_mfu: float = 0.5
    prefill_mfu: float = 0.5
    decode_mfu: float = 0.01  # the code default; its README example uses 0.2

    @classmethod
    def from_gpus(
        cls,
        *,
        train_price_per_hour: float,
        train_peak_flops: float,
        inference_price_per_hour: float,
        inference_peak_flops: float,
        train_mfu: float,
        prefill_mfu: float,
        decode_mfu: float,
    ) -> Costs:
        for name, mfu in (
            ("train_mfu", train_mfu),
            ("prefill_mfu", prefill_mfu),
            ("decode_mfu", decode_mfu),
        ):
            if not 0 < mfu <= 1:
                raise ScalingError(f"{name} must be in (0, 1]", field=name)
        return cls(
            train_price_per_hour / (3600 * train_peak_flops),
            inference_price_per_hour / (3600 * inference_peak_flops),
            train_mfu,
            prefill_mfu,
            decode_mfu,
        )


@dataclass(frozen=True, slots=True)
class Design:
    params: float
    training_tokens: float
    training_flops: float
    inference_flops: float
    cost_usd: float | None

    @property
    def total_flops(self) -> float:
        return self.training_flops + self.inference_flops

    @property
    def tokens_per_param(self) -> float:
        return self.training_tokens / self.params


@dataclass(frozen=True, slots=True)
class InferenceAwareResult:
    fit: str
    target_loss: float
    inference_input_tokens: float
    inference_output_tokens: float
    objective: str  # "flops" or "cost"
    optimal: Design
    chinchilla: Design

    @property
    def params_ratio(self) -> float:
        return self.optimal.params / self.chinchilla.params

    @property
    def tokens_ratio(self) -> float:
        return self.optimal.training_tokens / self.chinchilla.training_tokens

    @property
    def savings_ratio(self) -> float:
        """Lifetime FLOPs (or dollars) of the optimum over those of the Chinchilla model."""
        if self.objective == "cost":
            assert self.optimal.cost_usd is not None
            assert self.chinchilla.cost_usd is not None
            return self.optimal.cost_usd / self.chinchilla.cost_usd
        return self.optimal.total_flops / self.chinchilla.total_flops


def _design(n: float, d: float, d_in: float, d_out: float, costs: Costs | None) -> Design:
    cost = None
    if costs is not None:
        cost = (
            6 * n * d * costs.train_usd_per_flop / costs.train_mfu
            + 2 * n * d_in * costs.inference_usd_per_flop / costs.prefill_mfu
            + 2 * n * d_out * costs.inference_usd_per_flop / costs.decode_mfu
        )
    return Design(n, d, 6 * n * d, 2 * n * (d_in + d_out), cost)


def inference_aware_optimum(
    fit: ChinchillaFit,
    target_loss: float,
    *,
    inference_input_tokens: float,
    inference_output_tokens: float,
    costs: Costs | None = None,
) -> InferenceAwareResult:
    """The (N, D_tr) reaching ``target_loss`` at least lifetime FLOPs, or least dollars when
    ``costs`` are given, beside the equal-loss Chinchilla-optimal model."""
    if not math.isfinite(target_loss) or target_loss <= fit.E:
        raise ScalingError(
            f"target_loss must exceed the irreducible loss E = {fit.E:.4f} of fit '{fit.name}'",
            field="target_loss",
        )
    d_in, d_out = inference_input_tokens, inference_output_tokens
    for name, v in (("inference_input_tokens", d_in), ("inference_output_tokens", d_out)):
        if not math.isfinite(v) or v < 0:
            raise ScalingError(f"{name} must be zero or positive", field=name)
    if costs is None:
        effective = d_in + d_out
    else:
        check_positive(costs.train_usd_per_flop, "train_price_per_hour_usd")
        check_positive(costs.inference_usd_per_flop, "inference_price_per_hour_usd")
        m_i = costs.inference_usd_per_flop * (d_in / costs.prefill_mfu + d_out / costs.decode_mfu)
        effective = m_i / (costs.train_usd_per_flop / costs.train_mfu)
    d = _solve_tokens(fit, target_loss, effective)
    n = _params_for(fit, target_loss, d)
    n_chin, d_chin = fit.optimum_for_loss(target_loss)
    return InferenceAwareResult(
        fit=fit.name,
        target_loss=target_loss,
        inference_input_tokens=d_in,
        inference_output_tokens=d_out,
        objective="flops" if costs is None else "cost",
        optimal=_design(n, d, d_in, d_out, costs),
        chinchilla=_design(n_chin, d_chin, d_in, d_out, costs),
    )


def demand_curve(
    fit: ChinchillaFit, target_loss: float, demands: list[float], costs: Costs | None = None
) -> list[InferenceAwareResult]:
    """The optimum as lifetime demand grows (split input/output in the code's default shape)."""
    share = DEFAULT_INPUT_TOKENS / (DEFAULT_INPUT_TOKENS + DEFAULT_OUTPUT_TOKENS)
    return [
        inference_aware_optimum(
            fit,
            target_loss,
            inference_input_tokens=t * share,
            inference_output_tokens=t * (1 - share),
            costs=costs,
        )
        for t in demands
    ]
