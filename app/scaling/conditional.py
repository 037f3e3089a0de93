"""Bian, Yu, Venkataraman, Park 2025, "Scaling Laws Meet Model Architecture: Toward
Inference-Efficient LLMs" (arXiv 2510.18245): the loss of an architecture relative to the best one
at the same N_non-embed and D (reference/formulas.md §2).

Definitions (§2.1; this counting reproduces every x and r in the paper's Tables 1 and 2)::

    x = d_model / √N_non-embed
    r = N_mlp / N_attn,   N_attn = 2·d·n_h·d_h + 2·d·n_kv·d_h,   N_mlp = 3·d·f

Calibration forms (§2.3; natural logarithms, §2.4)::

    multiplicative  L = (a0 + a1·ln x + a2/x) · (b0 + b1·ln r + b2/r) · L_opt(N, D)
    additive        L = (a0 + a1·ln x + a2/x) + (b1·ln r + b2/r) + L_opt(N, D)

with optima x* = a2/a1 and r* = b2/b1. The multiplicative form is unchanged when the a's are
scaled by c and the b's by 1/c, so its fit holds b0 fixed (default: the paper's Task 3 value,
keeping fitted coefficients comparable with the published ones); x*, r* and every prediction are
independent of that choice. The additive form has no b0 (it would be absorbed into a0): reported
as 0. Fitting is Levenberg–Marquardt least squares on the loss (§2.5), judged by MSE and Spearman.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Final, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import least_squares
from scipy.stats import spearmanr

from app.estimators.architecture import Architecture
from app.scaling.errors import ScalingError

FloatArray = NDArray[np.float64]
Form = Literal["multiplicative", "additive"]
FORMS: tuple[Form, ...] = ("multiplicative", "additive")
COEFFICIENT_NAMES = ("a0", "a1", "a2", "b0", "b1", "b2")


@dataclass(frozen=True, slots=True)
class Coefficients:
    a0: float
    a1: float
    a2: float
    b0: float
    b1: float
    b2: float
    form: Form = "multiplicative"
    name: str = "custom"
    source: str = "your own fit"

    def as_dict(self) -> dict[str, float]:
        return {k: getattr(self, k) for k in COEFFICIENT_NAMES}

    @property
    def x_opt(self) -> float | None:
        """x* = a2/a1: a minimum only when both are positive (natural log)."""
        return self.a2 / self.a1 if self.a1 > 0 and self.a2 > 0 else None

    @property
    def r_opt(self) -> float | None:
        return self.b2 / self.b1 if self.b1 > 0 and self.b2 > 0 else None

    def x_term(self, x: ArrayLike) -> FloatArray:
        xa = np.asarray(x, float)
        return np.asarray(self.a0 + self.a1 * np.log(xa) + self.a2 / xa, float)

    def r_term(self, r: ArrayLike) -> FloatArray:
        ra = np.asarray(r, float)
        b0 = self.b0 if self.form == "multiplicative" else 0.0
        return np.asarray(b0 + self.b1 * np.log(ra) + self.b2 / ra, float)

    def predict(self, x: ArrayLike, r: ArrayLike, reference_loss: ArrayLike) -> FloatArray:
        ref = np.asarray(reference_loss, float)
        if self.form == "multiplicative":
            return np.asarray(self.x_term(x) * self.r_term(r) * ref, float)
        return np.asarray(self.x_term(x) + self.r_term(r) + ref, float)

    def multiplier(self, x: ArrayLike, r: ArrayLike, reference_loss: ArrayLike) -> FloatArray:
        """Predicted loss over L_opt (the additive form's offset expressed as a ratio)."""
        return np.asarray(self.predict(x, r, reference_loss) / np.asarray(reference_loss, float))


# reference/formulas.md §2.6, multiplicative form, the paper §5.1 [primary].
PUBLISHED: dict[str, Coefficients] = {
    "bian_task3": Coefficients(
        2.697,
        0.0974,
        0.0078,
        0.3870,
        0.0063,
        0.0065,
        "multiplicative",
        "bian_task3",
        "Bian et al. 2025 §5.1, fitted on 80M+145M+297M (Task 3), used for Panda-1B",
    ),
    "bian_1b": Coefficients(
        2.319,
        0.238,
        0.0176,
        0.5104,
        0.0051,
        0.0062,
        "multiplicative",
        "bian_1b",
        "Bian et al. 2025 §5.1, fitted on the 1B variants only, used for Panda-3B°",
    ),
}
DEFAULT_COEFFICIENTS: Final = "bian_task3"
MULTIPLICATIVE_B0 = PUBLISHED["bian_task3"].b0


def published(name: str) -> Coefficients:
    try:
        return PUBLISHED[name]
    except KeyError:
        allowed = ", ".join(PUBLISHED)
        raise ScalingError(
            f"unknown coefficient set '{name}'; allowed: {allowed}", field="coefficients"
        ) from None


def x_of(arch: Architecture) -> float:
    return arch.d_model / math.sqrt(arch.non_embedding_params)


def r_of(arch: Architecture) -> float:
    return arch.mlp_attention_ratio


def inference_flops_per_token(arch: Architecture, context: float) -> float:
    """2·N_non-embed + 2·n_layers·T·d_q (paper App. K; Kaplan et al. 2020 Table 1)."""
    return 2 * arch.non_embedding_params + 2 * arch.n_layers * context * arch.n_heads * arch.d_head


# ---- fitting -------------------------------------------------------------------------------
MIN_DISTINCT = 3


@dataclass(frozen=True, slots=True)
class ConditionalFit:
    coefficients: Coefficients
    mse: float
    spearman: float | None
    converged: bool
    message: str
    n_runs: int
    predicted: FloatArray
    observed: FloatArray


def _spearman(a: FloatArray, b: FloatArray) -> float | None:
    if a.size < 3 or np.unique(a).size < 2 or np.unique(b).size < 2:
        return None
    return float(spearmanr(a, b).statistic)


def _check(x: FloatArray, r: FloatArray, loss: FloatArray, ref: FloatArray, n_free: int) -> None:
    if not (x.shape == r.shape == loss.shape == ref.shape) or x.ndim != 1:
        raise ScalingError("x, r, loss and reference_loss must be equal-length lists", field="runs")
    for name, arr in (("x", x), ("r", r), ("loss", loss), ("reference_loss", ref)):
        if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
            raise ScalingError(f"every run needs a positive, finite {name}", field="runs")
    if x.size <= n_free:
        raise ScalingError(
            f"{x.size} runs are too few: the form has {n_free} free coefficients; "
            f"give at least {n_free + 1}",
            field="runs",
        )
    for name, arr in (("x = d_model/√N", x), ("r", r)):
        if np.unique(np.round(arr, 9)).size < MIN_DISTINCT:
            raise ScalingError(
                f"singular fit: {name} takes fewer than {MIN_DISTINCT} distinct values, so its "
                "coefficients cannot be told apart",
                field="runs",
            )


def fit_conditional(
    x: ArrayLike,
    r: ArrayLike,
    loss: ArrayLike,
    reference_loss: ArrayLike,
    *,
    form: Form = "multiplicative",
    b0: float = MULTIPLICATIVE_B0,
) -> ConditionalFit:
    """Levenberg–Marquardt fit of the conditional law (b0 held, see the module docstring)."""
    if form not in FORMS:
        raise ScalingError(f"form must be one of {', '.join(FORMS)}", field="form")
    xa, ra, obs, ref = (np.asarray(v, float) for v in (x, r, loss, reference_loss))
    _check(xa, ra, obs, ref, 5)
    lx, ix, lr, ir = np.log(xa), 1 / xa, np.log(ra), 1 / ra

    if form == "multiplicative":
        # Start: x and r terms flat, their product equal to the mean ratio.
        p0 = np.array([float(np.mean(obs / ref)) / b0, 0.0, 0.0, 0.0, 0.0])

        def resid(p: FloatArray) -> FloatArray:
            ax = p[0] + p[1] * lx + p[2] * ix
            return np.asarray(ax * (b0 + p[3] * lr + p[4] * ir) * ref - obs, float)

        def jac(p: FloatArray) -> FloatArray:
            ax = p[0] + p[1] * lx + p[2] * ix
            br = b0 + p[3] * lr + p[4] * ir
            return np.column_stack(
                [br * ref, lx * br * ref, ix * br * ref, ax * lr * ref, ax * ir * ref]
            )

    else:
        p0 = np.array([float(np.mean(obs - ref)), 0.0, 0.0, 0.0, 0.0])
        design = np.column_stack([np.ones_like(lx), lx, ix, lr, ir])

        def resid(p: FloatArray) -> FloatArray:
            return np.asarray(design @ p + ref - obs, float)

        def jac(p: FloatArray) -> FloatArray:
            return design

    res = least_squares(resid, p0, jac=jac, method="lm", xtol=1e-14, ftol=1e-14, gtol=1e-14)
    j = jac(res.x)
    sv = np.linalg.svd(j / np.linalg.norm(j, axis=0), compute_uv=False)
    if sv[-1] < 1e-10 * sv[0]:
        raise ScalingError(
            "singular fit: the runs do not separate the x and r terms (the Jacobian is rank "
            "deficient); vary d_model and r independently",
            field="runs",
        )
    p = res.x
    coeffs = Coefficients(
        float(p[0]),
        float(p[1]),
        float(p[2]),
        b0 if form == "multiplicative" else 0.0,
        float(p[3]),
        float(p[4]),
        form,
    )
    pred = coeffs.predict(xa, ra, ref)
    return ConditionalFit(
        coefficients=coeffs,
        mse=float(np.mean((pred - obs) ** 2)),
        spearman=_spearman(pred, obs),
        converged=bool(res.success),
        message=str(res.message),
        n_runs=int(xa.size),
        predicted=pred,
        observed=obs,
    )


def evaluate(
    coeffs: Coefficients, x: ArrayLike, r: ArrayLike, loss: ArrayLike, reference_loss: ArrayLike
) -> tuple[float, float | None]:
    """(MSE, Spearman) of ``coeffs`` on held-out runs."""
    obs = np.asarray(loss, float)
    pred = coeffs.predict(x, r, reference_loss)
    return float(np.mean((pred - obs) ** 2)), _spearman(pred, obs)


# ---- the paper's progressive check ---------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Stage:
    train_scales: list[str]
    test_scale: str
    n_train: int
    n_test: int
    mse: float | None
    spearman: float | None
    coefficients: Coefficients | None
    skipped: str | None = None


@dataclass(frozen=True, slots=True)
class Runs:
    """Runs of the conditional law: each with x, r, loss, reference loss and a scale label."""

    x: FloatArray
    r: FloatArray
    loss: FloatArray
    reference_loss: FloatArray
    scale: list[str] = field(default_factory=list)
    n_non_embed: FloatArray = field(default_factory=lambda: np.zeros(0))


SCALE_GAP = 1.25  # a run more than 25% larger than its group's smallest starts a new scale


def _label(n: float) -> str:
    return f"{n / 1e9:.2g}B" if n >= 1e9 else f"{n / 1e6:.3g}M"


def scale_labels(n_non_embed: ArrayLike) -> list[str]:
    """Group runs into scales (0.965B and 0.975B together, 80M and 145M apart), each labelled
    by its smallest member rounded (``'80M'``, ``'0.97B'``)."""
    n = np.asarray(n_non_embed, float)
    if not np.all(np.isfinite(n)) or np.any(n <= 0):
        raise ScalingError("every run needs a positive n_non_embed", field="runs")
    labels = [""] * n.size
    start = 0.0
    for i in np.argsort(n):
        if not start or n[i] > start * SCALE_GAP:
            start = float(n[i])
        labels[i] = _label(start)
    return labels


def progressive(
    runs: Runs,
    form: Form = "multiplicative",
    progress: Callable[[int, str], None] | None = None,
) -> list[Stage]:
    """Fit on every scale below the k-th, evaluate on the k-th (Tasks 1–3 of the paper);
    ``progress(percent, message)`` hears of every 2% of the stages."""
    order = sorted(
        set(runs.scale),
        key=lambda s: min(
            n for n, lab in zip(runs.n_non_embed, runs.scale, strict=True) if lab == s
        ),
    )
    labels = np.array(runs.scale)
    stages = []
    every = max(1, (len(order) - 1) // 50)
    for k in range(1, len(order)):
        if progress is not None and (k - 1) % every == 0:
            progress(
                10 + 89 * (k - 1) // max(1, len(order) - 1),
                f"progressive check: stage {k} of {len(order) - 1}",
            )
        train = np.isin(labels, order[:k])
        test = labels == order[k]
        base = Stage(order[:k], order[k], int(train.sum()), int(test.sum()), None, None, None)
        try:
            fit = fit_conditional(
                runs.x[train],
                runs.r[train],
                runs.loss[train],
                runs.reference_loss[train],
                form=form,
            )
        except ScalingError as exc:
            stages.append(replace(base, skipped=str(exc)))
            continue
        mse, rho = evaluate(
            fit.coefficients,
            runs.x[test],
            runs.r[test],
            runs.loss[test],
            runs.reference_loss[test],
        )
        stages.append(replace(base, mse=mse, spearman=rho, coefficients=fit.coefficients))
    return stages


def synthetic_runs(
    coeffs: Coefficients,
    reference_loss: Sequence[tuple[float, float]],
    *,
    per_scale: int = 12,
    noise: float = 0.002,
    seed: int = 0,
) -> Runs:
    """Runs drawn from known coefficients: for each (N_non-embed, L_opt), ``per_scale`` designs
    with x in [0.03, 0.15] and r in [0.5, 5] (the paper's sweep range), loss times
    (1 + noise·ε)."""
    rng = np.random.default_rng(seed)
    xs, rs, ls, refs, ns = [], [], [], [], []
    for n, l_opt in reference_loss:
        x = rng.uniform(0.03, 0.15, per_scale)
        r = np.exp(rng.uniform(math.log(0.5), math.log(5), per_scale))
        ref = np.full(per_scale, l_opt)
        loss = coeffs.predict(x, r, ref) * (1 + noise * rng.standard_normal(per_scale))
        xs.append(x)
        rs.append(r)
        ls.append(loss)
        refs.append(ref)
        ns.append(np.full(per_scale, n))
    n_all = np.concatenate(ns)
    return Runs(
        np.concatenate(xs),
        np.concatenate(rs),
        np.concatenate(ls),
        np.concatenate(refs),
        scale_labels(n_all),
        n_all,
    )
