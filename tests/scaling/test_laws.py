"""Chinchilla fit on your own runs, Bian et al.'s conditional law and Algorithm 1."""

from __future__ import annotations

import numpy as np
import pytest

from app.estimators.chinchilla import FITS
from app.estimators.engines import engine
from app.estimators.inference import ServingConfig, Workload, estimate_inference
from app.estimators.reference_data import catalog_architecture, catalog_gpu
from app.estimators.sweep import Serving
from app.scaling.conditional import (
    PUBLISHED,
    Coefficients,
    fit_conditional,
    inference_flops_per_token,
    progressive,
    r_of,
    scale_labels,
    synthetic_runs,
    x_of,
)
from app.scaling.errors import ScalingError
from app.scaling.fitting import fit_chinchilla
from app.scaling.fitting import synthetic_runs as chinchilla_runs
from app.scaling.search import (
    SearchSpace,
    SearchWorkload,
    enumerate_designs,
    pareto_front,
    search,
)


# ---- Chinchilla fit ------------------------------------------------------------------------
@pytest.mark.slow
def test_fit_recovers_known_constants_from_noisy_runs() -> None:
    f = FITS["epoch_2024"]
    n, d, loss = chinchilla_runs(f.E, f.A, f.B, f.alpha, f.beta, n_runs=150, noise=0.003)
    res = fit_chinchilla(n, d, loss, bootstrap=30)
    assert res.converged
    assert res.params["alpha"] == pytest.approx(f.alpha, abs=0.02)
    assert res.params["beta"] == pytest.approx(f.beta, abs=0.02)
    assert res.params["E"] == pytest.approx(f.E, abs=0.03)
    assert res.a == pytest.approx(f.beta / (f.alpha + f.beta), abs=0.02)
    assert res.rmse_log < 0.005
    lo, hi = res.intervals["alpha"]
    assert lo < res.params["alpha"] < hi
    assert res.bootstrap_samples == 30


def test_fit_refuses_too_few_or_degenerate_runs() -> None:
    with pytest.raises(ScalingError, match="too few"):
        fit_chinchilla([1e8] * 3, [1e9, 2e9, 3e9], [3.0, 2.9, 2.8])
    with pytest.raises(ScalingError, match="singular"):
        fit_chinchilla([1e8] * 8, np.geomspace(1e9, 1e11, 8), np.linspace(3, 2.5, 8))
    with pytest.raises(ScalingError, match="positive"):
        fit_chinchilla([1e8, -1, 1e9, 2e9, 3e9, 4e9], [1e9] * 6, [3.0] * 6)


# ---- the conditional law -------------------------------------------------------------------
def test_published_coefficients_give_the_papers_optima() -> None:
    task3, one_b = PUBLISHED["bian_task3"], PUBLISHED["bian_1b"]
    assert task3.x_opt == pytest.approx(0.0801, abs=5e-5)  # paper: d/√N = 0.08
    assert task3.r_opt == pytest.approx(1.0317, abs=5e-5)  # paper: r = 1.032
    assert one_b.x_opt == pytest.approx(0.0739, abs=5e-5)  # paper: 0.074
    assert one_b.r_opt == pytest.approx(1.2157, abs=5e-5)  # paper 1.229 (rounded coefficients)
    # the multiplier at the optimum is about 1 (reference §2.6)
    assert float(task3.multiplier(task3.x_opt, task3.r_opt, 1.0)) == pytest.approx(1.0028, abs=1e-4)
    assert float(one_b.multiplier(one_b.x_opt, one_b.r_opt, 1.0)) == pytest.approx(1.0005, abs=1e-4)


@pytest.mark.parametrize(
    ("key", "x", "r", "kv_kib", "gflop"),
    [
        ("llama_3_2_1b", 0.066, 4.80, 32, 2.28),
        ("bian_panda_1b", 0.082, 1.07, 72, 2.71),
        ("bian_surefire_1b", 0.082, 3.60, 16, 2.31),
        ("llama_3_2_3b", 0.058, 3.00, 112, 6.52),
        ("bian_panda_3b", 0.077, 1.00, 168, 6.96),
        ("bian_panda_3b_o", 0.076, 1.23, 154, 6.97),
        ("bian_surefire_3b", 0.077, 1.00, 84, 7.18),
    ],
)
def test_derived_head_counts_give_the_papers_x_and_r(
    key: str, x: float, r: float, kv_kib: int, gflop: float
) -> None:
    arch = catalog_architecture(key)
    assert x_of(arch) == pytest.approx(x, abs=5e-4)
    assert r_of(arch) == pytest.approx(r, abs=5e-3)
    assert arch.kv_bytes_per_token(2) / 1024 == kv_kib
    assert inference_flops_per_token(arch, 5120) / 1e9 == pytest.approx(gflop, abs=5e-3)


def test_panda_and_surefire_beat_llama_under_the_published_law() -> None:
    c = PUBLISHED["bian_task3"]

    def mult(key: str) -> float:
        a = catalog_architecture(key)
        return float(c.multiplier(x_of(a), r_of(a), 2.8))

    assert mult("bian_panda_1b") < mult("bian_surefire_1b") < mult("llama_3_2_1b")
    assert mult("bian_panda_1b") == pytest.approx(1.0028, abs=2e-4)  # at the optimum


@pytest.mark.parametrize("form", ["multiplicative", "additive"])
def test_fit_recovers_the_optimum_from_synthetic_runs(form: str) -> None:
    truth = PUBLISHED["bian_task3"]
    if form == "additive":
        truth = Coefficients(0.12, 0.25, 0.02, 0.0, 0.02, 0.02, "additive")
    runs = synthetic_runs(truth, [(8e7, 3.6), (1.45e8, 3.4), (2.97e8, 3.2)], per_scale=40)
    fit = fit_conditional(runs.x, runs.r, runs.loss, runs.reference_loss, form=form)  # type: ignore[arg-type]
    assert fit.converged
    assert fit.coefficients.x_opt == pytest.approx(truth.x_opt, rel=0.05)
    assert fit.coefficients.r_opt == pytest.approx(truth.r_opt, rel=0.15)
    assert fit.mse < 1e-4
    assert fit.spearman is not None
    assert fit.spearman > 0.9
    if form == "multiplicative":
        assert fit.coefficients.b0 == truth.b0  # the held normalisation


def test_progressive_check_fits_smaller_scales_and_tests_the_next() -> None:
    truth = PUBLISHED["bian_task3"]
    runs = synthetic_runs(
        truth, [(8e7, 3.6), (1.45e8, 3.4), (2.97e8, 3.2), (0.97e9, 2.9)], per_scale=15
    )
    stages = progressive(runs)
    assert [(s.train_scales, s.test_scale) for s in stages] == [
        (["80M"], "145M"),
        (["80M", "145M"], "297M"),
        (["80M", "145M", "297M"], "970M"),
    ]
    for s in stages:
        assert s.skipped is None
        assert s.mse is not None
        assert s.mse < 1e-4
        assert s.spearman is not None
        assert s.spearman > 0.7


def test_conditional_fit_refuses_singular_or_tiny_inputs() -> None:
    with pytest.raises(ScalingError, match="too few"):
        fit_conditional([0.05, 0.08, 0.1], [1, 2, 3], [3.0, 2.9, 3.1], [2.8] * 3)
    with pytest.raises(ScalingError, match="singular"):  # r never varies
        fit_conditional(np.linspace(0.04, 0.12, 8), [2.0] * 8, np.linspace(3, 3.1, 8), [2.9] * 8)
    with pytest.raises(ScalingError, match="form"):
        fit_conditional([0.1] * 8, [1] * 8, [3] * 8, [3] * 8, form="cubic")  # type: ignore[arg-type]


def test_scale_labels_group_near_equal_sizes() -> None:
    assert scale_labels([0.965e9, 0.975e9, 8e7, 1.45e8, 2.82e9, 2.88e9]) == [
        "965M",
        "965M",
        "80M",
        "145M",
        "2.8B",
        "2.8B",
    ]


# ---- Algorithm 1 ---------------------------------------------------------------------------
def _llama_1b_search(**kw: object) -> tuple[object, object]:
    base = catalog_architecture("llama_3_2_1b")
    n = base.non_embedding_params
    space = SearchSpace(n, 16, 64)
    serving = Serving(catalog_gpu("a100_sxm_80gb"), engine("vllm"))
    ref = FITS["epoch_2024"].loss(n, 100 * n)
    res = search(
        space, PUBLISHED["bian_task3"], ref, serving, SearchWorkload(), baseline=base, **kw
    )  # type: ignore[arg-type]
    return res, serving


def test_search_finds_panda_and_surefire_like_designs() -> None:
    res, _ = _llama_1b_search()
    assert res.candidates_evaluated > 50_000
    base, panda, surefire = res.baseline, res.loss_optimal, res.throughput_optimal
    assert base is not None
    assert panda is not None
    assert surefire is not None
    # loss-optimal: at the law's optimum, the baseline's GQA
    assert panda["x"] == pytest.approx(0.080, abs=0.004)
    assert panda["r"] == pytest.approx(1.03, abs=0.1)
    assert panda["gqa"] == 4
    # throughput-optimal: no worse than the baseline's loss, faster, with a smaller KV cache
    assert surefire["predicted_loss"] <= base["predicted_loss"]
    assert surefire["predicted_throughput"] > 1.3 * base["predicted_throughput"]
    assert surefire["kv_bytes_per_token"] < base["kv_bytes_per_token"]
    # every Pareto design is under the target; the front trades loss for speed monotonically
    losses = [p["predicted_loss"] for p in res.pareto]
    tputs = [p["predicted_throughput"] for p in res.pareto]
    assert all(v <= res.loss_target for v in losses)
    assert losses == sorted(losses)
    assert tputs == sorted(tputs)
    assert res.pareto[-1] == surefire


def test_search_throughput_equals_the_scalar_estimator() -> None:
    res, serving = _llama_1b_search()
    design = res.throughput_optimal
    arch = catalog_architecture("llama_3_2_1b")
    from dataclasses import replace

    cand = replace(
        arch,
        d_model=design["d_model"],
        d_ff=design["d_ff"],
        n_heads=design["n_heads"],
        n_kv_heads=design["n_kv_heads"],
    )
    est = estimate_inference(
        cand,
        serving.gpu,
        serving.engine,
        ServingConfig(),
        Workload(4096, 1024, design["batch_size"]),
    )
    assert est.memory.fits
    assert design["predicted_throughput"] == pytest.approx(est.timing.output_tokens_per_s, rel=1e-9)
    assert design["n_non_embed"] == cand.non_embedding_params


def test_every_enumerated_design_is_within_the_budget() -> None:
    space = SearchSpace(1e9, 16, 64, tolerance=0.01)
    d = enumerate_designs(space)
    attn = 2 * d.d_model * d.n_heads * 64 + 2 * d.d_model * d.n_kv_heads * 64
    n = 16 * (attn + 3 * d.d_model * d.d_ff + 2 * d.d_model) + d.d_model
    assert np.all(np.abs(n / 1e9 - 1) <= 0.01 + 1e-12)
    assert np.all(d.n_heads % d.n_kv_heads == 0)
    assert np.all(d.n_heads / d.n_kv_heads <= 16)
    r = 3 * d.d_model * d.d_ff / attn
    assert np.all((r >= 0.5 - 1e-12) & (r <= 5 + 1e-12))


def test_pareto_front_is_the_non_dominated_set() -> None:
    loss = np.array([1.0, 1.1, 1.2, 1.05, 1.3])
    tput = np.array([10.0, 30.0, 20.0, 5.0, 40.0])
    assert pareto_front(loss, tput).tolist() == [0, 1, 4]


def test_search_refuses_impossible_targets() -> None:
    with pytest.raises(ScalingError) as e:
        _llama_1b_search(loss_target=1.0)
    assert e.value.field == "loss_target"
    with pytest.raises(ScalingError):
        SearchSpace(1e9, 16, 64, tolerance=0.0)
