"""Speculative decoding (Leviathan, Kalman, Matias, ICML 2023, arXiv 2211.17192)."""

from __future__ import annotations


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


def speedup_at_load(alpha: float, gamma: int, c: float, verify_ratio: float) -> float:
    """Wall-time improvement at a batch: E[tokens] / (gamma c + verify_ratio).

    Theorem 3.8 assumes a target pass over gamma + 1 tokens costs what a pass over one costs (a
    memory-bound step). ``verify_ratio`` is the time of the verification step (every sequence of
    the batch carrying gamma + 1 tokens) over the time of a plain decode step of the same batch:
    about 1 at batch 1, rising towards gamma + 1 as the batch makes the step compute-bound, where
    speculation costs more than it saves (economics.md §5: vLLM's 2024 benchmark turns into a
    1.4-1.8x slowdown at high QPS; SpecDecode-Bench: speed-ups shrink as the batch grows). The
    draft's cost ratio c is held at its batch-1 value."""
    _check(alpha, gamma, c)
    if verify_ratio < 1.0:
        raise ValueError("verify_ratio must be at least 1")
    return expected_tokens(alpha, gamma) / (gamma * c + verify_ratio)
