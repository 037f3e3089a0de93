"""Fitting recovers known factors; the torch calibration path runs end to end on the CPU."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from app.estimators.architecture import Architecture
from app.estimators.calibration import (
    fit_efficiency,
    main,
    refit_report,
    run_calibration,
)
from app.estimators.fitting import Observation, fit_roofline, leave_one_group_out
from app.estimators.reference_data import catalog_architecture, catalog_gpu

RESULTS = Path(__file__).resolve().parents[2] / "bench" / "results"


def test_fit_recovers_known_efficiency_and_overhead() -> None:
    rng = np.random.default_rng(7)
    obs = []
    for group, layers in (("a", 16), ("b", 32), ("c", 80)):
        for bound in rng.uniform(1e-3, 0.5, size=8):
            measured = bound / 0.62 + layers * 50e-6
            obs.append(
                Observation(group, layers, float(bound), float(measured * rng.normal(1, 0.01)))
            )
    fit = fit_roofline(obs)
    assert fit.efficiency == pytest.approx(0.62, rel=0.03)
    assert fit.overhead_per_layer_s == pytest.approx(50e-6, rel=0.15)
    assert all(err < 5 for err in leave_one_group_out(obs).values())


def test_fit_needs_two_points() -> None:
    with pytest.raises(ValueError, match="two"):
        fit_roofline([Observation("a", 1, 1.0, 2.0)])


def test_saved_h100_results_refit() -> None:
    """The H100 measurements committed in bench/results stay explainable by the model."""
    paths = sorted(str(p) for p in RESULTS.glob("h100_cal_*.json"))
    assert len(paths) >= 5  # session 1 (3 files) and session 2 (2 files)
    report = refit_report(paths)
    assert "NVIDIA H100" in report
    for r in (json.loads(Path(p).read_text()) for p in paths):
        assert r["bound_violations"] == 0
        assert all(p["measured_ms"] >= p["bound_ms"] for p in r["points"])


@pytest.mark.slow
def test_cpu_calibration_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tiny = Architecture(2, 128, 256, 4, 2, 32, 500, name="tiny")
    res = run_calibration(
        tiny,
        catalog_gpu("h100_sxm_80gb"),
        prefill_points=[(1, 32), (2, 32)],
        decode_points=[(1, 32), (2, 64)],
        matmul_n=128,
        copy_gib=0.005,
        warmup=1,
        iters=2,
        max_layers=1,
    )
    assert res.device == "cpu"
    assert res.layers_measured == 1
    assert res.notes
    assert len(res.points) == 4
    assert all(p.measured_ms > 0 for p in res.points)
    assert res.matmul_tflops > 0
    assert res.bandwidth_tbps > 0
    eff, _ = fit_efficiency(res.points[:2])
    assert eff > 0
    out = tmp_path / "r.json"
    assert (
        main(
            [
                "--model",
                "llama_3_2_1b",
                "--max-layers",
                "1",
                "--prefill",
                "1x16",
                "--decode",
                "1x16,2x16",
                "--matmul-n",
                "64",
                "--json",
                str(out),
            ]
        )
        == 0
    )
    assert json.loads(out.read_text())["layers_measured"] == 1
    assert "fitted efficiency" in capsys.readouterr().out


def test_catalog_lookups() -> None:
    assert catalog_architecture("llama_3_1_8b").total_params == 8_030_261_248
    assert catalog_gpu("a100_sxm_80gb").fp8_tflops_dense is None
    with pytest.raises(KeyError):
        catalog_gpu("nope")
