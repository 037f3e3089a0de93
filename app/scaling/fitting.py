"""Fit the Chinchilla form ``L = E + A/N^α + B/D^β`` to your own training runs, the robust way.

Procedure (Hoffmann et al. 2022 §3.3 approach 3, as corrected by Besiroglu et al. 2024,
arXiv 2404.10102; reference/formulas.md §1.2):

* parameterise ``A = e^a, B = e^b, E = e^e`` and predict
  ``log L̂ = LSE(a − α·log N, b − β·log D, e)``;
* minimise the **sum** (not the mean: averaging stopped Hoffmann's optimiser early) of the Huber
  loss, δ = 1e-3, of ``log L̂ − log L``;
* start from Hoffmann's grid (α, β ∈ {0, 0.5, …, 2}, e ∈ {−1, −0.5, …, 1.5},
  a, b ∈ {0, 5, …, 25}: 5,400 points), ranked at once on up to 64 of the runs; L-BFGS-B with
  the analytic gradient runs from the ``refine`` best of them and the lowest objective wins;
* intervals: percentile bootstrap over runs (resampled with replacement, each refit warm-started
  from the full-data optimum).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import minimize

from app.scaling.errors import ScalingError

FloatArray = NDArray[np.float64]
HUBER_DELTA = 1e-3
MIN_RUNS = 6
SCREEN_RUNS = 64
PARAM_NAMES = ("E", "A", "B", "alpha", "beta")
# progress(percent, message): called between steps of a long fit (a job's progress bar)
Progress = Callable[[int, str], None]

_GRID = np.array(
    list(
        itertools.product(
            np.arange(0, 30, 5.0),  # a
            np.arange(0, 30, 5.0),  # b
            np.arange(-1, 2, 0.5),  # e
            np.arange(0, 2.5, 0.5),  # alpha
            np.arange(0, 2.5, 0.5),  # beta
        )
    )
)


def _huber(r: FloatArray, delta: float) -> FloatArray:
    a = np.abs(r)
    return np.where(a <= delta, 0.5 * r * r, delta * (a - 0.5 * delta))


def _lse3(t1: FloatArray, t2: FloatArray, t3: FloatArray) -> tuple[FloatArray, FloatArray]:
    """log(e^t1 + e^t2 + e^t3), stably, and the shift it used."""
    m = np.maximum(np.maximum(t1, t2), t3)
    return m + np.log(np.exp(t1 - m) + np.exp(t2 - m) + np.exp(t3 - m)), m


def _objective(
    theta: FloatArray, log_n: FloatArray, log_d: FloatArray, log_l: FloatArray, delta: float
) -> tuple[float, FloatArray]:
    a, b, e, alpha, beta = theta
    t1 = a - alpha * log_n
    t2 = b - beta * log_d
    pred, _ = _lse3(t1, t2, np.full_like(t1, e))
    r = pred - log_l
    psi = np.clip(r, -delta, delta)  # the Huber loss's derivative
    w1 = psi * np.exp(t1 - pred)  # softmax weight of each term, times psi
    w2 = psi * np.exp(t2 - pred)
    w3 = psi * np.exp(e - pred)
    grad = np.array(
        [w1.sum(), w2.sum(), w3.sum(), -np.dot(w1, log_n), -np.dot(w2, log_d)], dtype=float
    )
    return float(np.sum(_huber(r, delta))), grad


def _grid_objective(
    log_n: FloatArray, log_d: FloatArray, log_l: FloatArray, delta: float
) -> FloatArray:
    g = _GRID
    t1 = g[:, 0:1] - g[:, 3:4] * log_n[None, :]
    t2 = g[:, 1:2] - g[:, 4:5] * log_d[None, :]
    pred, _ = _lse3(t1, t2, np.broadcast_to(g[:, 2:3], t1.shape))
    return np.asarray(np.sum(_huber(pred - log_l[None, :], delta), axis=1))


@dataclass(frozen=True, slots=True)
class _Solve:
    theta: FloatArray
    objective: float
    success: bool
    message: str


def _solve(
    starts: FloatArray, log_n: FloatArray, log_d: FloatArray, log_l: FloatArray, delta: float
) -> _Solve:
    best: _Solve | None = None
    for x0 in starts:
        res = minimize(
            _objective,
            x0,
            args=(log_n, log_d, log_l, delta),
            jac=True,
            method="L-BFGS-B",
            bounds=[(None, None)] * 3 + [(0, None)] * 2,  # α, β ≥ 0: loss falls with N and D
            options={"maxiter": 1000, "ftol": 1e-12, "gtol": 1e-9},
        )
        cand = _Solve(np.asarray(res.x, float), float(res.fun), bool(res.success), str(res.message))
        if best is None or cand.objective < best.objective:
            best = cand
    assert best is not None
    return best


def _constants(theta: FloatArray) -> dict[str, float]:
    a, b, e, alpha, beta = (float(v) for v in theta)
    try:
        return {"E": math.exp(e), "A": math.exp(a), "B": math.exp(b), "alpha": alpha, "beta": beta}
    except OverflowError:
        raise ScalingError(
            "the fit diverged (a constant overflows a float): the runs do not follow "
            "L = E + A/N^α + B/D^β; check their units and spread",
            field="runs",
        ) from None


@dataclass(frozen=True, slots=True)
class ChinchillaFitResult:
    params: dict[str, float]  # E, A, B, alpha, beta
    objective: float
    converged: bool
    message: str
    n_runs: int
    n_starts: int
    predicted: FloatArray
    observed: FloatArray
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)
    bootstrap_samples: int = 0

    @property
    def a(self) -> float:
        """β/(α+β): the exponent of C in N_opt ∝ C^a."""
        return self.params["beta"] / (self.params["alpha"] + self.params["beta"])

    @property
    def rmse_log(self) -> float:
        return float(np.sqrt(np.mean((np.log(self.predicted) - np.log(self.observed)) ** 2)))


def _validate(n: FloatArray, d: FloatArray, loss: FloatArray) -> None:
    if not (n.shape == d.shape == loss.shape) or n.ndim != 1:
        raise ScalingError("params, tokens and loss must be equal-length lists", field="runs")
    if n.size < MIN_RUNS:
        raise ScalingError(
            f"{n.size} runs are too few: the fit has 5 constants; give at least {MIN_RUNS}",
            field="runs",
        )
    for name, arr in (("params", n), ("tokens", d), ("loss", loss)):
        if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
            raise ScalingError(f"every run needs a positive, finite {name}", field="runs")
    if np.unique(n).size < 2 or np.unique(d).size < 2:
        raise ScalingError(
            "singular fit: the runs need at least two different model sizes and two different "
            "token counts",
            field="runs",
        )


def check_runs(params: ArrayLike, tokens: ArrayLike, loss: ArrayLike) -> None:
    """The checks :func:`fit_chinchilla` makes before fitting (ScalingError naming the field)."""
    _validate(np.asarray(params, float), np.asarray(tokens, float), np.asarray(loss, float))


def fit_chinchilla(
    params: ArrayLike,
    tokens: ArrayLike,
    loss: ArrayLike,
    *,
    delta: float = HUBER_DELTA,
    refine: int = 6,
    bootstrap: int = 0,
    seed: int = 0,
    progress: Progress | None = None,
) -> ChinchillaFitResult:
    """Fit ``L(N, D)`` by Huber loss on log L; ``bootstrap`` resamples give 95% intervals.
    ``progress`` hears of the main fit and of every 2% of the resamples."""
    report = progress or (lambda _p, _m: None)
    n = np.asarray(params, float)
    d = np.asarray(tokens, float)
    obs = np.asarray(loss, float)
    _validate(n, d, obs)
    log_n, log_d, log_l = np.log(n), np.log(d), np.log(obs)
    # Screen the grid on at most SCREEN_RUNS evenly spaced runs: it only ranks the starts.
    pick = np.linspace(0, n.size - 1, min(n.size, SCREEN_RUNS)).astype(int)
    order = np.argsort(_grid_objective(log_n[pick], log_d[pick], log_l[pick], delta))
    report(1, f"fitting {n.size} runs from the {refine} best grid starts")
    best = _solve(_GRID[order[:refine]], log_n, log_d, log_l, delta)
    consts = _constants(best.theta)
    # In log space (θ = log A, log B, log E, α, β): N^α alone overflows for large N and α.
    a, b, e, alpha, beta = best.theta
    pred = np.exp(e) + np.exp(a - alpha * log_n) + np.exp(b - beta * log_d)
    intervals: dict[str, tuple[float, float]] = {}
    if bootstrap > 0:
        rng = np.random.default_rng(seed)
        samples = []
        every = max(1, bootstrap // 50)
        for i in range(bootstrap):
            if i % every == 0:
                report(5 + 94 * i // bootstrap, f"bootstrap resample {i + 1} of {bootstrap}")
            idx = rng.integers(0, n.size, n.size)
            s = _solve(best.theta[None, :], log_n[idx], log_d[idx], log_l[idx], delta)
            samples.append([_constants(s.theta)[k] for k in PARAM_NAMES])
        arr = np.array(samples)
        for i, k in enumerate(PARAM_NAMES):
            lo, hi = np.percentile(arr[:, i], [2.5, 97.5])
            intervals[k] = (float(lo), float(hi))
    return ChinchillaFitResult(
        params=consts,
        objective=best.objective,
        converged=best.success,
        message=best.message,
        n_runs=int(n.size),
        n_starts=refine,
        predicted=pred,
        observed=obs,
        intervals=intervals,
        bootstrap_samples=bootstrap,
    )


def synthetic_runs(
    E: float,
    A: float,
    B: float,
    alpha: float,
    beta: float,
    *,
    n_runs: int = 60,
    noise: float = 0.005,
    seed: int = 0,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Runs drawn from known constants with multiplicative noise (tests and the page's sample):
    sizes 1e7–1e10 log-uniform, 5–500 tokens per parameter."""
    rng = np.random.default_rng(seed)
    n = np.exp(rng.uniform(math.log(1e7), math.log(1e10), n_runs))
    d = n * np.exp(rng.uniform(math.log(5), math.log(500), n_runs))
    loss = (E + A / n**alpha + B / d**beta) * np.exp(rng.normal(0, noise, n_runs))
    return n, d, loss
