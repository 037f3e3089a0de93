"""Fit engine efficiency factors to measurements (pure: numpy and scipy).

Model per phase, as the estimator uses it (reference/estimator-landscape.md §9.1):

    measured = bound / efficiency + n_layers · overhead_per_layer

fitted by non-negative least squares (``scipy.optimize.nnls``) on relative residuals, so a 2 ms
and a 900 ms point weigh alike. ``leave_one_group_out`` refits without each group (a model) and
predicts it: the honest error of the calibrated estimator on a model it was not fitted to.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import nnls


@dataclass(frozen=True, slots=True)
class Observation:
    group: str  # e.g. the model name
    n_layers: int
    bound_s: float
    measured_s: float


@dataclass(frozen=True, slots=True)
class RooflineFit:
    efficiency: float
    overhead_per_layer_s: float
    n: int
    median_ape: float  # in-sample, percent

    def predict(self, bound_s: float, n_layers: int) -> float:
        return bound_s / self.efficiency + n_layers * self.overhead_per_layer_s


def fit_roofline(obs: Sequence[Observation]) -> RooflineFit:
    if len(obs) < 2:
        raise ValueError("at least two observations are needed")
    m = np.array([o.measured_s for o in obs])
    a = np.column_stack([[o.bound_s for o in obs], [o.n_layers for o in obs]]) / m[:, None]
    coef, _ = nnls(a, np.ones(len(obs)))
    inv_eff, overhead = float(coef[0]), float(coef[1])
    if inv_eff <= 0:
        raise ValueError("degenerate fit: the bound does not explain the measurements")
    fit = RooflineFit(1 / inv_eff, overhead, len(obs), 0.0)
    apes = [abs(fit.predict(o.bound_s, o.n_layers) - o.measured_s) / o.measured_s for o in obs]
    return RooflineFit(fit.efficiency, overhead, len(obs), 100 * statistics.median(apes))


def leave_one_group_out(obs: Sequence[Observation]) -> dict[str, float]:
    """Median absolute percentage error per held-out group."""
    out: dict[str, float] = {}
    for g in sorted({o.group for o in obs}):
        train = [o for o in obs if o.group != g]
        test = [o for o in obs if o.group == g]
        fit = fit_roofline(train)
        out[g] = 100 * statistics.median(
            abs(fit.predict(o.bound_s, o.n_layers) - o.measured_s) / o.measured_s for o in test
        )
    return out
