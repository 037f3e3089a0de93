"""Speculative decoding (Leviathan, Kalman, Matias, ICML 2023, arXiv 2211.17192)."""

from __future__ import annotations

from dataclasses import dataclass


def _check(alpha: float, gamma: int, c: float) -> None:
    if not 0.0 <= alpha < 1.0:
        raise ValueError("alpha must be in [0, 1)")
    if gamma < 1:
        raise ValueError("gamma must be a positive integer")
    if c < 0:
        raise ValueError("c must be non-negative")


def expected_tokens(alpha: float, gamma: int) -> float:
    """E[tokens per target-model iteration] = (1 - alpha^(gamma+1)) / (1 - alpha)  (Eq. 1)."""
    _check(alpha, gamma, 0.0)
    return (1 - alpha ** (gamma + 1)) / (1 - alpha)


def speedup(alpha: float, gamma: int, c: float) -> float:
    """Wall-time improvement (1 - alpha^(gamma+1)) / ((1 - alpha)(gamma c + 1))  (Theorem 3.8)."""
    _check(alpha, gamma, c)
    return expected_tokens(alpha, gamma) / (gamma * c + 1)


def ops_factor(alpha: float, gamma: int, c_hat: float) -> float:
    """Arithmetic-operations factor (1 - alpha)(gamma c_hat + gamma + 1)/(1 - alpha^(gamma+1))."""
    _check(alpha, gamma, c_hat)
    return (1 - alpha) * (gamma * c_hat + gamma + 1) / (1 - alpha ** (gamma + 1))


@dataclass(frozen=True, slots=True)
class BestGamma:
    gamma: int
    speedup: float


def best_gamma(alpha: float, c: float, *, max_gamma: int = 32) -> BestGamma:
    """Integer search for the draft length with the largest speed-up (no closed form)."""
    best = max(range(1, max_gamma + 1), key=lambda g: speedup(alpha, g, c))
    return BestGamma(best, speedup(alpha, best, c))
