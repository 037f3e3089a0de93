"""Compute planner and inference-aware optimum against the published figures."""

from __future__ import annotations

import math

import pytest

from app.estimators.chinchilla import FITS
from app.scaling.errors import ScalingError
from app.scaling.inference_aware import Costs, demand_curve, inference_aware_optimum
from app.scaling.planner import (
    all_fits,
    compute_from_hardware,
    iso_flop_curves,
    iso_loss_grid,
    optimum,
    position,
)


@pytest.mark.parametrize("fit", list(FITS))
@pytest.mark.parametrize("compute", [1e18, 5.76e23, 1e26])
def test_closed_form_optimum_spends_the_budget_exactly(fit: str, compute: float) -> None:
    opt = optimum(compute, FITS[fit])
    assert 6 * opt.optimal_params * opt.optimal_tokens == pytest.approx(compute, rel=1e-12)


def test_optimum_minimises_loss_along_the_iso_flop_curve() -> None:
    fit = FITS["epoch_2024"]
    (curve,) = iso_flop_curves([5.76e23], fit, points=401)
    i = int(curve.loss.argmin())
    assert curve.params[i] == pytest.approx(curve.optimal_params, rel=0.03)
    assert curve.optimal_loss <= curve.loss.min() + 1e-12


def test_epoch_fit_gives_about_twenty_tokens_per_parameter_at_chinchilla_scale() -> None:
    # Besiroglu et al. 2024: D/N ≈ 20 at Chinchilla's budget (70B × 1.4T).
    rows = {o.fit: o for o in all_fits(6 * 70e9 * 1.4e12)}
    assert 15 < rows["epoch_2024"].tokens_per_param < 30
    # The printed Hoffmann fit wants a much smaller model trained longer (its known misfit).
    assert rows["hoffmann_printed"].optimal_params < 0.6 * rows["epoch_2024"].optimal_params
    assert rows["hoffmann_printed"].tokens_per_param > 3 * rows["epoch_2024"].tokens_per_param
    assert all(o.note for o in rows.values())


def test_position_says_undertrained_for_a_model_short_of_its_tokens() -> None:
    fit = FITS["epoch_2024"]
    n_opt, d_opt = fit.optimum(1e23)
    pos = position(n_opt * 4, d_opt / 4, fit)  # same compute, 4× too many parameters
    assert pos.tokens_ratio == pytest.approx(1 / 4, rel=1e-9)
    assert pos.verdict.startswith("undertrained by ×4.0")
    assert pos.excess_loss > 0
    assert position(n_opt, d_opt, fit).verdict.startswith("compute-optimal")
    # Llama-3.1-8B on 15T tokens is far past the Chinchilla optimum.
    assert position(8.03e9, 15e12, fit).verdict.startswith("trained ×")


def test_hardware_budget_and_bad_inputs() -> None:
    assert compute_from_hardware(989e12, 1024, 30, 0.4) == pytest.approx(
        989e12 * 1024 * 30 * 86400 * 0.4
    )
    with pytest.raises(ScalingError) as e:
        optimum(-1, FITS["epoch_2024"])
    assert e.value.field == "compute_flops"
    with pytest.raises(ScalingError):
        compute_from_hardware(989e12, 8, 10, 1.5)


def test_iso_loss_frontier_lies_on_the_optimum() -> None:
    fit = FITS["hoffmann_tex"]
    grid = iso_loss_grid(fit)
    assert grid.loss.shape == (grid.tokens.size, grid.params.size)
    for n, d in zip(grid.frontier_params, grid.frontier_tokens, strict=True):
        assert fit.optimum(6 * n * d)[0] == pytest.approx(n, rel=1e-9)


# Sardana et al.'s README examples (nikhilsardana/beyond-chinchilla), with the code's constants.
def test_inference_aware_reproduces_the_published_compute_example() -> None:
    res = inference_aware_optimum(
        FITS["sardana_code"], 1.947, inference_input_tokens=2e12, inference_output_tokens=0
    )
    assert res.optimal.params == pytest.approx(2.418e10, rel=1e-3)
    assert res.optimal.training_tokens == pytest.approx(2.657e12, rel=1e-3)
    assert res.params_ratio == pytest.approx(0.7096, abs=1e-4)
    assert res.tokens_ratio == pytest.approx(1.4677, abs=1e-4)
    assert res.savings_ratio == pytest.approx(0.9522, abs=1e-4)
    assert FITS["sardana_code"].loss(res.optimal.params, res.optimal.training_tokens) == (
        pytest.approx(1.947, abs=1e-9)
    )


def test_inference_aware_reproduces_the_published_cost_example() -> None:
    costs = Costs.from_gpus(
        train_price_per_hour=1.40,
        train_peak_flops=312e12,  # A100-80GB bf16
        inference_price_per_hour=0.60,
        inference_peak_flops=624e12,  # A100-40GB int8
        train_mfu=0.5,
        prefill_mfu=0.4,
        decode_mfu=0.2,
    )
    res = inference_aware_optimum(
        FITS["sardana_code"],
        1.947,
        inference_input_tokens=1e10 * 1000,
        inference_output_tokens=1e10 * 250,
        costs=costs,
    )
    assert res.objective == "cost"
    assert res.optimal.params == pytest.approx(2.053e10, rel=1e-3)
    assert res.optimal.training_tokens == pytest.approx(3.302e12, rel=1e-3)
    assert res.params_ratio == pytest.approx(0.6023, abs=1e-4)
    assert res.tokens_ratio == pytest.approx(1.8241, abs=1e-4)
    assert res.savings_ratio == pytest.approx(0.8876, abs=1e-4)


@pytest.mark.parametrize("fit", list(FITS))
def test_zero_demand_reduces_to_chinchilla(fit: str) -> None:
    f = FITS[fit]
    res = inference_aware_optimum(f, 2.2, inference_input_tokens=0, inference_output_tokens=0)
    assert res.optimal.params == pytest.approx(res.chinchilla.params, rel=1e-6)
    assert res.optimal.training_tokens == pytest.approx(res.chinchilla.training_tokens, rel=1e-6)
    # and Chinchilla's model is the training-compute optimum of its own budget
    n, d = f.optimum(6 * res.chinchilla.params * res.chinchilla.training_tokens)
    assert n == pytest.approx(res.chinchilla.params, rel=1e-9)


def test_growing_demand_moves_to_smaller_longer_trained_models() -> None:
    rows = demand_curve(FITS["epoch_2024"], 2.1, [0, 1e11, 1e12, 1e13, 1e14])
    params = [r.optimal.params for r in rows]
    tokens = [r.optimal.training_tokens for r in rows]
    assert params == sorted(params, reverse=True)
    assert tokens == sorted(tokens)
    assert all(r.savings_ratio <= 1 + 1e-12 for r in rows)
    assert rows[-1].savings_ratio < 0.9


def test_target_loss_at_or_below_e_is_refused() -> None:
    fit = FITS["epoch_2024"]
    for bad in (fit.E, fit.E - 0.1, math.nan):
        with pytest.raises(ScalingError) as e:
            inference_aware_optimum(fit, bad, inference_input_tokens=1, inference_output_tokens=1)
        assert e.value.field == "target_loss"
    with pytest.raises(ScalingError) as e:
        inference_aware_optimum(fit, 2.5, inference_input_tokens=-1, inference_output_tokens=0)
    assert e.value.field == "inference_input_tokens"
