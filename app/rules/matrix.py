"""Axis matrix arithmetic (pure).

A profile's suitability for an axis is the weighted mean of the axis's matrix levels (1-5, 5 most
favourable) under the profile's dimension weights, so it stays on the seed's 1-5 scale (Fig. 2 of
seed 000: "derived from the operational trade-offs summarized in Table 1").
"""

from __future__ import annotations

from collections.abc import Mapping

DIMENSIONS = ("capability", "cost", "latency", "governance")
LEVEL_MIN, LEVEL_MAX = 1, 5

Matrix = Mapping[str, Mapping[str, int]]  # axis -> dimension -> level


def validate_weights(weights: Mapping[str, float]) -> dict[str, float]:
    missing = [d for d in DIMENSIONS if d not in weights]
    if missing:
        raise ValueError(f"weights missing for {', '.join(missing)}")
    if any(weights[d] < 0 for d in DIMENSIONS):
        raise ValueError("weights must be non-negative")
    total = sum(weights[d] for d in DIMENSIONS)
    if total <= 0:
        raise ValueError("weights must not all be zero")
    return {d: weights[d] / total for d in DIMENSIONS}


def suitability(levels: Mapping[str, int], weights: Mapping[str, float]) -> float:
    """Weighted mean of one axis's levels; 1-5, rounded to 2 decimals."""
    w = validate_weights(weights)
    return round(sum(w[d] * levels[d] for d in DIMENSIONS), 2)


def suitability_table(
    matrix: Matrix, profiles: Mapping[str, Mapping[str, float]]
) -> dict[str, dict[str, float]]:
    """profile -> axis -> suitability."""
    return {p: {a: suitability(matrix[a], w) for a in matrix} for p, w in profiles.items()}


# Which end of each dimension's 1-5 scale is favourable, in words (issue 22, item 13): the levels
# follow app/catalog/data/axes.yaml (5 = most favourable for a deployment on every dimension).
SCALE_ENDS: dict[str, tuple[str, str]] = {
    "capability": ("1 = least capability gain", "5 = highest capability gain"),
    "cost": ("1 = most expensive", "5 = cheapest"),
    "latency": ("1 = adds the most latency", "5 = cuts latency most"),
    "governance": ("1 = heaviest governance burden", "5 = lightest burden"),
}
