"""The training estimate's parallelism inputs: the MFU range, the interleaved schedule, the notes
saying which terms were applied, and the layouts a model cannot have."""

from __future__ import annotations

import math
from typing import Any

import pytest

from app.estimators import training
from app.estimators.bands import band
from app.estimators.precision import Precision
from app.estimators.reference_data import catalog_architecture, catalog_gpu
from app.estimators.training import TrainingError, estimate_training
from app.estimators.training_mfu import (
    FITTED_TERMS,
    MfuTerms,
    Parallelism,
    estimate_mfu,
    pipeline_bubble,
)

H100 = catalog_gpu("h100_sxm_80gb")
LLAMA_70B = catalog_architecture("llama_3_1_70b")  # 80 layers, 64 heads
LLAMA_405B = catalog_architecture("llama_3_1_405b")  # 126 layers, 128 heads


def _run(**kw: Any) -> training.TrainingEstimate:
    base: dict[str, Any] = {
        "params": None,
        "arch": LLAMA_70B,
        "tokens": 1e12,
        "gpu": H100,
        "n_gpus": 1024,
    }
    return estimate_training(**{**base, **kw})


def test_mfu_range_is_the_training_band_of_this_estimate() -> None:
    """Not a fixed 0.30-0.50: the modelled MFU times the training family's held-out factors."""
    b = band("training", "h100_sxm_80gb")
    assert b is not None
    for kw in (
        {"tensor_parallel": 8, "pipeline_parallel": 4, "micro_batches": 16},
        {"tensor_parallel": 8, "pipeline_parallel": 64, "micro_batches": 1},
    ):
        est = _run(**kw)
        assert est.mfu_range is not None
        lo, hi = est.mfu_range
        assert lo == pytest.approx(est.mfu * math.exp(b.p10))
        assert hi == pytest.approx(est.mfu * math.exp(b.p90))
        assert lo < hi  # the band need not hold the point: H100 runs sit above the model
        assert "held-out" in est.assumptions["mfu_range_source"]
    given = _run(mfu=0.4, pipeline_parallel=4)
    assert given.mfu_range is None
    assert "given by the request" in given.assumptions["mfu_range_source"]
    assert given.notes == ["pipeline_parallel not applied: the MFU was given by the request"]


def test_interleaved_schedule_cuts_the_bubble_v_fold() -> None:
    """Narayanan et al. 2021 §2.2.2: (p − 1)/(v·m + p − 1); Llama 3 405B's p 16, m 16."""
    assert pipeline_bubble(16, 16) == pytest.approx(15 / 31)
    assert pipeline_bubble(16, 16, 4) == pytest.approx(15 / 79)
    kw: dict[str, Any] = {
        "arch": LLAMA_405B,
        "n_gpus": 16384,
        "tensor_parallel": 8,
        "pipeline_parallel": 16,
        "micro_batches": 16,
    }
    plain = _run(**kw)
    interleaved = _run(**kw, virtual_stages=4)
    assert interleaved.mfu == pytest.approx(plain.mfu * (1 - 15 / 79) / (1 - 15 / 31))
    assert interleaved.assumptions["virtual_stages"] == 4
    warning = "the pipeline bubble costs 48%: more micro-batches or an interleaved schedule"
    assert any(n.startswith(warning) for n in plain.notes)
    assert any("(16 − 1)/(4·16 + 16 − 1) = 0.190" in n for n in interleaved.notes)
    assert not any("bubble costs" in n for n in interleaved.notes)  # 19% is under 20%
    two = _run(**kw, virtual_stages=2)  # 15/47 = 32%: still said, with the next step
    assert any("costs 32%: more micro-batches or more virtual stages" in n for n in two.notes)
    assert _run(**kw, virtual_stages=1).mfu == plain.mfu


def test_pipeline_without_micro_batches_is_said_to_be_left_out() -> None:
    est = _run(pipeline_parallel=4)
    assert est.mfu == _run().mfu
    assert est.notes[0].startswith(
        "pipeline bubble left out: pipeline_parallel 4 was given without micro_batches"
    )
    assert "tensor-parallel communication left out: tensor_parallel not given" in est.notes
    alone = _run(micro_batches=8)
    assert alone.notes[0].startswith("micro_batches left out")
    applied = _run(tensor_parallel=8, pipeline_parallel=4, micro_batches=16)
    assert applied.notes[0].endswith("= (4 − 1)/(1·16 + 4 − 1) = 0.158")
    assert applied.notes[1].startswith("tensor-parallel communication applied: 0.")


def test_zero_stage_says_what_it_does_with_the_current_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    z1 = _run(zero_stage=1)
    z3 = _run(zero_stage=3)
    if FITTED_TERMS.cluster == 0:
        assert z1.mfu == z3.mfu
        assert any("the ZeRO stage does not change the estimate" in n for n in z3.notes)
        assert "fitted to 0 on the published runs" in training.zero_stage_effect()
    else:
        assert z3.mfu < z1.mfu
    # With a cluster term the sentence states the factor instead.
    monkeypatch.setattr(training, "FITTED_TERMS", MfuTerms(0.44, 0.01, 0.42, 1.5))
    effect = training.zero_stage_effect()
    assert "does not change" not in effect
    assert "0.0100 × log2(nodes), by 1.50" in effect


def test_cluster_formula_reads_as_a_product() -> None:
    gpu, peak = H100, H100.peak_flops(Precision.bf16)
    steep = MfuTerms(0.45, 0.01, 0.42, 1.5)
    note = estimate_mfu(
        70e9, None, gpu, peak, parallelism=Parallelism(16384, zero_stage=3), terms=steep
    ).note
    assert "cluster term 0.0100 × log2(2,048 nodes) × ZeRO-3 1.50" in note
    assert "per doubling" not in note


@pytest.mark.parametrize(
    ("kw", "field", "words"),
    [
        ({"pipeline_parallel": 1024, "micro_batches": 1}, "pipeline_parallel", "80 layers"),
        ({"tensor_parallel": 1024}, "tensor_parallel", "64 attention heads"),
        ({"tensor_parallel": 128}, "tensor_parallel", "64 attention heads"),
        ({"tensor_parallel": 3, "n_gpus": 96}, "tensor_parallel", "must divide"),
        ({"virtual_stages": 2}, "virtual_stages", "needs pipeline_parallel > 1"),
        ({"pipeline_parallel": 4, "virtual_stages": 2}, "micro_batches", "needs micro_batches"),
        (
            {"pipeline_parallel": 4, "micro_batches": 6, "virtual_stages": 2},
            "micro_batches",
            "multiple of pipeline_parallel (4)",
        ),
        (
            {"pipeline_parallel": 8, "micro_batches": 16, "virtual_stages": 20},
            "virtual_stages",
            "(160) exceeds the model's 80 layers",
        ),
        ({"virtual_stages": 0}, "virtual_stages", "positive integer"),
        ({"activation_recomputation": "partial"}, "activation_recomputation", "full, selective"),
    ],
)
def test_impossible_layouts_name_the_field(kw: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(TrainingError) as exc:
        _run(**kw)
    assert exc.value.field == field
    assert words in str(exc.value)


def test_layouts_a_model_allows_are_accepted() -> None:
    est = _run(tensor_parallel=64, pipeline_parallel=16, micro_batches=32, virtual_stages=5)
    assert est.mfu > 0
    # Without an architecture the heads and layers are unknown: only n_gpus bounds the layout.
    assert _run(arch=None, params=70e9, tensor_parallel=128).mfu > 0


def test_full_recomputation_costs_a_quarter_of_the_mfu() -> None:
    """Full recomputation repeats every layer's forward: 4 weight passes where the model's FLOPs
    count 3, so the MFU is 3/4 of the same run without it; selective and none leave it as is."""
    kw: dict[str, Any] = {"tensor_parallel": 8, "pipeline_parallel": 4, "micro_batches": 32}
    unstated = _run(**kw)
    full = _run(**kw, activation_recomputation="full")
    assert full.mfu == pytest.approx(0.75 * unstated.mfu)
    assert full.gpu_hours == pytest.approx(unstated.gpu_hours / 0.75)
    for choice, words in (
        ("selective", "selective activation recomputation: modelled as none"),
        ("none", "no activation recomputation: no forward pass is repeated"),
    ):
        est = _run(**kw, activation_recomputation=choice)
        assert est.mfu == unstated.mfu
        assert any(n.startswith(words) for n in est.notes)
    assert any(n.startswith("full activation recomputation: MFU × 0.75") for n in full.notes)
    assert any("activation recomputation not given" in n for n in unstated.notes)
    assert full.assumptions["activation_recomputation"] == "full"
    assert "× 0.75 (full activation recomputation)" in full.assumptions["mfu_source"]
    given = _run(mfu=0.4, activation_recomputation="full")
    assert given.mfu == 0.4
    assert given.notes == ["activation_recomputation not applied: the MFU was given by the request"]


def test_rows_that_count_the_recomputed_forward_ran_with_full_recomputation() -> None:
    """A published row recomputes when it says so, or when its TFLOP/s count the recomputed
    forward (Megatron's Eq. 3); a row that says neither is modelled without."""
    from app.cli import DEFAULT_MEASUREMENTS
    from app.estimators.validation import read_measurements, row_parallelism

    rows = {
        int(r.id): r for r in read_measurements(DEFAULT_MEASUREMENTS.read_text(encoding="utf-8"))
    }
    assert "activation recomputation" in rows[184].model  # Megatron-LM 1T: says so
    assert "recomputation counted" in rows[268].metric  # MT-NLG: Eq. 3 counts it
    for rid in (184, 185, 266, 268, 269, 270):
        assert row_parallelism(rows[rid]).full_recompute is True, rid
    for rid in (67, 69, 264, 265, 267):  # Llama 3, LLaMA-65B, OPT: not stated
        assert row_parallelism(rows[rid]).full_recompute is None, rid
    gpu = catalog_gpu("a100_sxm_80gb")
    peak = gpu.peak_flops(Precision.bf16)
    par = row_parallelism(rows[268])
    with_rc = estimate_mfu(530e9, None, gpu, peak, parallelism=par)
    without = estimate_mfu(
        530e9, None, gpu, peak, parallelism=Parallelism(par.n_gpus, tp=par.tp, pp=par.pp)
    )
    assert with_rc.mfu == pytest.approx(0.75 * without.mfu)
    assert with_rc.recompute_factor == 0.75
