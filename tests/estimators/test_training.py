from __future__ import annotations

import math
from typing import Any

import pytest

from app.estimators.chinchilla import FITS, fit
from app.estimators.precision import Precision
from app.estimators.reference_data import catalog_architecture, catalog_gpu
from app.estimators.training import (
    TrainingError,
    canonical_targets,
    estimate_finetune,
    estimate_training,
    finetune_run,
    lora_trainable_params,
)

LLAMA_8B = catalog_architecture("llama_3_1_8b")
H100 = catalog_gpu("h100_sxm_80gb")
A100 = catalog_gpu("a100_sxm_80gb")


@pytest.mark.parametrize(
    ("rank", "targets", "expected"),
    [
        (8, ("q", "v"), 3_407_872),
        (8, ("q", "k", "v", "o", "gate", "up", "down"), 20_971_520),
        (16, ("q", "v"), 6_815_744),
        (16, ("q", "k", "v", "o", "gate", "up", "down"), 41_943_040),
        (64, ("q", "v"), 27_262_976),
        (64, ("q", "k", "v", "o", "gate", "up", "down"), 167_772_160),
    ],
)
def test_lora_trainable_params_match_formulas_table(rank, targets, expected) -> None:  # type: ignore[no-untyped-def]
    # reference/formulas.md §6.2, Llama-3.1-8B
    assert lora_trainable_params(LLAMA_8B, rank, targets) == expected


def test_unknown_lora_target_is_rejected() -> None:
    with pytest.raises(TrainingError) as exc:
        lora_trainable_params(LLAMA_8B, 8, ("q", "lm_head"))
    assert exc.value.field == "target_modules"


def test_full_finetune_model_states_are_16_bytes_per_param() -> None:
    est = estimate_finetune(LLAMA_8B, H100, method="full", n_gpus=1)
    states = sum(est.memory[k] for k in ("weights_gb", "gradients_gb", "optimizer_gb"))
    # formulas.md §6.1: 16 · P = 128.5 GB for Llama-3.1-8B
    assert states == pytest.approx(16 * LLAMA_8B.total_params / 1e9)
    assert states == pytest.approx(128.5, abs=0.05)
    assert not est.memory["fits"]
    assert "needs" in est.memory["reason"]


def test_zero3_shards_every_model_state() -> None:
    one = estimate_finetune(LLAMA_8B, H100, method="full", n_gpus=1)
    eight = estimate_finetune(LLAMA_8B, H100, method="full", n_gpus=8, zero_stage=3)
    for k in ("weights_gb", "gradients_gb", "optimizer_gb"):
        assert eight.memory[k] == pytest.approx(one.memory[k] / 8)
    stage1 = estimate_finetune(LLAMA_8B, H100, method="full", n_gpus=8, zero_stage=1)
    assert stage1.memory["weights_gb"] == one.memory["weights_gb"]
    assert stage1.memory["optimizer_gb"] == pytest.approx(one.memory["optimizer_gb"] / 8)


def test_qlora_base_is_0516_bytes_per_param_and_fits_where_lora_does_not() -> None:
    rtx = catalog_gpu("rtx_4090")
    q = estimate_finetune(LLAMA_8B, rtx, method="qlora", lora_rank=8)
    # formulas.md §6.3: Llama-3.1-8B in NF4 with double quantisation ≈ 4.14 GB
    assert q.memory["weights_gb"] == pytest.approx(4.14, abs=0.01)
    lora = estimate_finetune(LLAMA_8B, rtx, method="lora", lora_rank=8)
    assert q.trainable_params == lora.trainable_params
    assert q.tokens_per_s < lora.tokens_per_s  # dequantisation slowdown
    big = catalog_architecture("llama_3_1_70b")
    assert estimate_finetune(big, A100, method="qlora").memory["fits"]
    assert not estimate_finetune(big, A100, method="lora").memory["fits"]


def test_gradient_checkpointing_cuts_activation_memory() -> None:
    on = estimate_finetune(LLAMA_8B, H100, method="lora", gradient_checkpointing=True)
    off = estimate_finetune(LLAMA_8B, H100, method="lora", gradient_checkpointing=False)
    assert on.memory["activations_gb"] < off.memory["activations_gb"] / 5


def test_training_flops_time_and_cost() -> None:
    gpu = catalog_gpu("h100_sxm_80gb")
    priced = type(gpu)(**{**{f: getattr(gpu, f) for f in gpu.__slots__}, "price_per_hour_usd": 2.0})
    est = estimate_training(params=7e9, arch=None, tokens=1e12, gpu=priced, n_gpus=1024, mfu=0.4)
    assert est.flops == pytest.approx(6 * 7e9 * 1e12)
    seconds = est.flops / (1024 * 989.4e12 * 0.4)
    assert est.wall_clock_days == pytest.approx(seconds / 86400)
    assert est.gpu_hours == pytest.approx(seconds * 1024 / 3600)
    assert est.cost_usd == pytest.approx(est.gpu_hours * 2.0)
    co = est.compute_optimal
    assert 6 * co["params"] * co["tokens"] == pytest.approx(6 * 7e9 * 1e12, rel=1e-9)


def test_training_with_architecture_counts_attention() -> None:
    est = estimate_training(
        params=None, arch=LLAMA_8B, tokens=1e9, gpu=H100, n_gpus=8, sequence_length=8192
    )
    attn = 12 * 32 * 32 * 128 * 8192
    assert est.flops_per_token == pytest.approx(6 * LLAMA_8B.active_params + attn)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"tokens": 0}, "tokens"),
        ({"mfu": 1.5}, "mfu"),
        ({"params": -1.0}, "params"),
        ({"n_gpus": 0}, "n_gpus"),
    ],
)
def test_training_rejects_impossible_values(kwargs, field) -> None:  # type: ignore[no-untyped-def]
    base = {"params": 1e9, "arch": None, "tokens": 1e10, "gpu": H100, "n_gpus": 8}
    with pytest.raises(TrainingError) as exc:
        estimate_training(**{**base, **kwargs})
    assert exc.value.field == field


def test_fp8_training_needs_fp8_hardware() -> None:
    with pytest.raises(ValueError, match="FP8"):
        estimate_training(
            params=1e9, arch=None, tokens=1e10, gpu=A100, n_gpus=1, precision=Precision.fp8
        )


@pytest.mark.parametrize("name", list(FITS))
def test_chinchilla_optimum_spends_the_budget_and_minimises_loss(name: str) -> None:
    f = fit(name)
    c = 5.76e23  # Chinchilla's budget
    n, d = f.optimum(c)
    assert 6 * n * d == pytest.approx(c, rel=1e-9)
    best = f.loss(n, d)
    for k in (0.5, 0.8, 1.25, 2.0):
        assert f.loss(n * k, d / k) > best


def test_epoch_fit_gives_about_20_tokens_per_param_at_chinchilla_scale() -> None:
    n, d = fit("epoch_2024").optimum(5.76e23)
    assert 15 < d / n < 30
    assert math.isclose(fit("hoffmann_tex").E, 1.6934, rel_tol=1e-4)


@pytest.mark.parametrize(
    ("peft", "ours"),
    [
        (("q_proj", "v_proj"), ("q", "v")),
        (("q_proj", "k_proj", "v_proj", "o_proj"), ("q", "k", "v", "o")),
        (("gate_proj", "up_proj", "down_proj"), ("gate", "up", "down")),
        (("w1", "w2", "w3"), ("gate", "up", "down")),
        (("all-linear",), ("q", "k", "v", "o", "gate", "up", "down")),
        (("q_proj", "q", "all-linear"), ("q", "k", "v", "o", "gate", "up", "down")),
    ],
)
def test_peft_module_names_count_like_the_short_names(peft, ours) -> None:  # type: ignore[no-untyped-def]
    assert canonical_targets(peft) == ours
    assert lora_trainable_params(LLAMA_8B, 16, peft) == lora_trainable_params(LLAMA_8B, 16, ours)
    a = estimate_finetune(LLAMA_8B, H100, method="lora", target_modules=peft)
    b = estimate_finetune(LLAMA_8B, H100, method="lora", target_modules=ours)
    assert a.trainable_params == b.trainable_params
    assert a.assumptions["target_modules"] == list(ours)


def test_all_linear_adapts_every_matrix_once() -> None:
    # formulas.md §6.2, Llama-3.1-8B, r=64 on all seven matrices
    assert lora_trainable_params(LLAMA_8B, 64, ("all-linear",)) == 167_772_160


def test_finetune_run_hand_computed() -> None:
    # 36M tokens × 3 epochs = 108M tokens at 1,000 tokens/s on 2 GPUs: 108e6 / 1e3 / 3600 = 30 h,
    # 60 GPU-hours, at $2.50 per GPU-hour $150.
    run = finetune_run(
        tokens_per_s=1000.0, n_gpus=2, dataset_tokens=36e6, epochs=3, price_per_gpu_hour_usd=2.5
    )
    assert run.tokens == pytest.approx(108e6)
    assert run.duration_hours == pytest.approx(30.0)
    assert run.gpu_hours == pytest.approx(60.0)
    assert run.cost_usd == pytest.approx(150.0)
    assert run.cost_reason is None


def test_finetune_run_unpriced_gpu_has_no_cost_and_says_why() -> None:
    run = finetune_run(
        tokens_per_s=500.0,
        n_gpus=1,
        dataset_tokens=1.8e6,
        price_per_gpu_hour_usd=None,
        gpu_name="Custom GPU",
    )
    assert run.duration_hours == pytest.approx(1.0)  # one epoch by default
    assert run.cost_usd is None
    assert run.cost_reason is not None
    assert "Custom GPU" in run.cost_reason


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"dataset_tokens": 0}, "dataset_tokens"),
        ({"dataset_tokens": math.inf}, "dataset_tokens"),
        ({"epochs": -1}, "epochs"),
        ({"epochs": math.nan}, "epochs"),
        ({"tokens_per_s": 0.0}, "tokens_per_s"),
        ({"n_gpus": 0}, "n_gpus"),
    ],
)
def test_finetune_run_rejects_bad_input(kwargs, field) -> None:  # type: ignore[no-untyped-def]
    args = {
        "tokens_per_s": 1000.0,
        "n_gpus": 1,
        "dataset_tokens": 1e6,
        "epochs": 1.0,
        "price_per_gpu_hour_usd": 1.0,
        **kwargs,
    }
    with pytest.raises(TrainingError) as exc:
        finetune_run(**args)
    assert exc.value.field == field


def test_finetune_run_on_the_estimated_rate() -> None:
    est = estimate_finetune(LLAMA_8B, A100, method="lora", n_gpus=4, zero_stage=3)
    run = finetune_run(
        tokens_per_s=est.tokens_per_s,
        n_gpus=4,
        dataset_tokens=1e8,
        epochs=2,
        price_per_gpu_hour_usd=1.5,
    )
    assert run.duration_hours == pytest.approx(2e8 / est.tokens_per_s / 3600)
    assert run.cost_usd == pytest.approx(run.duration_hours * 4 * 1.5)


def test_modelled_mfu_grows_with_width_and_falls_with_the_ridge_point() -> None:
    """No MFU given: the model's width against the GPU's ridge point sets it (issue 19 item 3)."""
    from app.estimators.training_mfu import TRAIN_GEMM_EFFICIENCY, estimate_mfu, pipeline_bubble

    h100, a100 = catalog_gpu("h100_sxm_80gb"), catalog_gpu("a100_sxm_80gb")
    small = estimate_training(params=1e9, arch=None, tokens=1e12, gpu=h100, n_gpus=64)
    large = estimate_training(params=400e9, arch=None, tokens=1e12, gpu=h100, n_gpus=8192)
    assert small.mfu < large.mfu < TRAIN_GEMM_EFFICIENCY
    assert "ridge point" in small.assumptions["mfu_source"]
    on_h100 = estimate_mfu(8e9, None, h100, h100.peak_flops(Precision.bf16))
    on_a100 = estimate_mfu(8e9, None, a100, a100.peak_flops(Precision.bf16))
    assert on_h100.elementwise_ratio > on_a100.elementwise_ratio  # 295 vs 153 FLOP/byte
    assert pipeline_bubble(1, None) == 0.0
    assert pipeline_bubble(4, 12) == pytest.approx(3 / 15)
    piped = estimate_mfu(8e9, None, h100, h100.peak_flops(Precision.bf16), pp=4, micro_batches=12)
    assert piped.mfu == pytest.approx(on_h100.mfu * (1 - 3 / 15))


def test_mfu_terms_are_the_fit_on_the_published_reports() -> None:
    """FITTED_TERMS is a fresh fit (4 decimals); the ZeRO-3 factor, informed by one OPT row of one
    publication, is not fitted and keeps its prior (ZeRO's 1.5x data-parallel volume)."""
    from app.cli import DEFAULT_MEASUREMENTS
    from app.estimators.training_mfu import FITTED_TERMS, PRIOR_TERMS
    from app.estimators.validation import fit_training_terms, read_measurements

    rows = read_measurements(DEFAULT_MEASUREMENTS.read_text(encoding="utf-8"))
    fit = fit_training_terms(rows)
    for name in ("efficiency", "cluster", "tp_comm", "zero3_comm"):
        assert round(getattr(fit.terms, name), 4) == getattr(FITTED_TERMS, name), name
    assert fit.fitted == ("efficiency", "cluster", "tp_comm")
    assert fit.terms.zero3_comm == PRIOR_TERMS.zero3_comm
    assert "1 rows from 1 publications" in fit.why_not["zero3_comm"]
    assert FITTED_TERMS.cluster >= 0  # a bigger cluster never raises the MFU


def _h100() -> tuple[Any, float]:
    gpu = catalog_gpu("h100_sxm_80gb")
    return gpu, gpu.peak_flops(Precision.bf16)


def test_bigger_cluster_at_the_same_layout_is_not_faster() -> None:
    from app.estimators.training_mfu import FITTED_TERMS, MfuTerms, Parallelism, estimate_mfu

    gpu, peak = _h100()
    for terms in (FITTED_TERMS, MfuTerms(0.45, 0.01, 0.42, 1.5)):
        mfus = [
            estimate_mfu(70e9, None, gpu, peak, parallelism=Parallelism(n, tp=8), terms=terms).mfu
            for n in (8, 64, 1024, 16384)
        ]
        assert mfus == sorted(mfus, reverse=True)
    steep = MfuTerms(0.45, 0.01, 0.42, 1.5)
    one_node = estimate_mfu(70e9, None, gpu, peak, parallelism=Parallelism(8), terms=steep)
    big = estimate_mfu(70e9, None, gpu, peak, parallelism=Parallelism(8192), terms=steep)
    assert big.mfu == pytest.approx(one_node.mfu / (1 + 0.01 * 10))  # 1024 nodes: 10 doublings
    assert one_node.cluster_overhead == 0.0


def test_pipeline_bubble_lowers_mfu_only_when_the_micro_batches_are_known() -> None:
    from app.estimators.training_mfu import Parallelism, estimate_mfu

    gpu, peak = _h100()
    flat = estimate_mfu(70e9, None, gpu, peak, parallelism=Parallelism(64))
    piped = estimate_mfu(70e9, None, gpu, peak, parallelism=Parallelism(64, pp=8, micro_batches=32))
    deep = estimate_mfu(70e9, None, gpu, peak, parallelism=Parallelism(64, pp=8, micro_batches=8))
    assert piped.bubble == pytest.approx(7 / 39)
    assert deep.mfu < piped.mfu < flat.mfu
    assert "pipeline bubble" in piped.note
    unknown = estimate_mfu(70e9, None, gpu, peak, parallelism=Parallelism(64, pp=8))
    assert unknown.bubble == 0.0
    assert unknown.mfu == flat.mfu


def test_zero3_and_tensor_parallelism_lower_mfu() -> None:
    from app.estimators.training_mfu import (
        FITTED_TERMS,
        MfuTerms,
        Parallelism,
        estimate_mfu,
    )

    gpu, peak = _h100()
    steep = MfuTerms(0.45, 0.01, 0.42, 1.5)
    z1 = estimate_mfu(
        70e9, None, gpu, peak, parallelism=Parallelism(512, zero_stage=1), terms=steep
    )
    z3 = estimate_mfu(
        70e9, None, gpu, peak, parallelism=Parallelism(512, zero_stage=3), terms=steep
    )
    assert z3.mfu < z1.mfu
    assert z3.cluster_overhead == pytest.approx(1.5 * z1.cluster_overhead)
    assert "ZeRO-3" in z3.note
    # With the fitted coefficients ZeRO-3 is never faster than ZeRO-1, and TP 8 costs MFU.
    fz1 = estimate_mfu(70e9, None, gpu, peak, parallelism=Parallelism(512, zero_stage=1))
    fz3 = estimate_mfu(70e9, None, gpu, peak, parallelism=Parallelism(512, zero_stage=3))
    assert fz3.mfu <= fz1.mfu
    assert FITTED_TERMS.tp_comm > 0
    tp1 = estimate_mfu(70e9, None, gpu, peak, parallelism=Parallelism(512, tp=1))
    tp8 = estimate_mfu(70e9, None, gpu, peak, parallelism=Parallelism(512, tp=8))
    assert tp8.mfu < tp1.mfu
    assert tp8.tp_overhead > 0
    assert tp1.tp_overhead == 0


def _report(mfu: float, source: str, doublings: float = 0.0, zero3: bool = False) -> Any:
    from app.estimators.training_mfu import MfuFeatures, MfuReport

    return MfuReport(mfu, MfuFeatures(0.0, 0.0, doublings, zero3, 0.0), source)


def test_a_term_is_fitted_only_on_three_rows_from_two_publications() -> None:
    from app.estimators.training_mfu import PRIOR_TERMS, MfuTerms, fit_mfu_terms

    truth = MfuTerms(0.5, 0.02, 0.42, 1.5)

    def measured(doublings: float, zero3: float = 1.0) -> float:
        return truth.efficiency / (1 + truth.cluster * doublings * zero3)

    multi = [_report(measured(d), s, d) for d, s in ((4, "a"), (8, "a"), (10, "b"), (6, "c"))]
    # Two ZeRO-3 rows of one publication, made with a ZeRO-3 factor of 3: they inform the factor,
    # which is not fitted (it stays at 1.5).
    z3 = [_report(measured(d, 3.0), "d", d, True) for d in (5, 9)]
    fit = fit_mfu_terms([_report(0.5, "a"), *multi, *z3])
    assert fit.fitted == ("efficiency", "cluster")
    assert fit.terms.zero3_comm == PRIOR_TERMS.zero3_comm
    assert fit.terms.tp_comm == PRIOR_TERMS.tp_comm  # no row states TP > 1
    assert "2 rows from 1 publications" in fit.why_not["zero3_comm"]
    assert fit.terms.cluster > 0.005  # the rows pull it off its prior of 0
    # The same rows from one publication: the cluster term keeps its prior.
    one_source = fit_mfu_terms([_report(r.mfu, "a", r.features.doublings) for r in multi])
    assert "cluster" not in one_source.fitted
    assert one_source.terms.cluster == PRIOR_TERMS.cluster
    # Fewer than 3 rows in all: nothing is fitted.
    assert fit_mfu_terms(multi[:2]).terms == PRIOR_TERMS


def test_training_rows_state_their_parallelism() -> None:
    from app.cli import DEFAULT_MEASUREMENTS
    from app.estimators.validation import read_measurements, row_parallelism

    rows = {r.id: r for r in read_measurements(DEFAULT_MEASUREMENTS.read_text(encoding="utf-8"))}
    bloom = row_parallelism(rows["266"])
    assert (bloom.n_gpus, bloom.tp, bloom.pp, bloom.micro_batches, bloom.zero_stage) == (
        384,
        4,
        12,
        128,
        1,
    )
    assert row_parallelism(rows["267"]).zero_stage == 3
    llama = row_parallelism(rows["264"])
    assert (llama.tp, llama.pp, llama.micro_batches, llama.zero_stage) == (8, 16, None, 2)


def test_mt_nlg_rows_parse_with_their_layout() -> None:
    """The MT-NLG 530B rows (arXiv 2201.11990 §2.4): TP8 PP35 with DP = GPUs / 280, no
    micro-batch count or ZeRO stage (not stated), the Eq. 3 TFLOP/s read as model FLOPs × 4/3."""
    from app.cli import DEFAULT_MEASUREMENTS
    from app.estimators.validation import (
        pretraining_reports,
        read_measurements,
        row_architecture,
        row_parallelism,
    )

    rows = read_measurements(DEFAULT_MEASUREMENTS.read_text(encoding="utf-8"))
    mt = [r for r in rows if r.id in ("268", "269", "270")]
    assert len(mt) == 3
    assert len({r.source for r in mt}) == 1
    assert "2201.11990" in mt[0].source
    for row, gpus, dp in zip(mt, (2240, 2800, 3360), (8, 10, 12), strict=True):
        par = row_parallelism(row)
        assert (par.n_gpus, par.tp, par.pp, par.micro_batches, par.zero_stage) == (
            gpus,
            8,
            35,
            None,
            None,
        )
        assert f"DP{dp})" in row.model
        assert gpus == dp * 8 * 35
        assert row_architecture(row).active_params == pytest.approx(529.5e9, rel=1e-3)
    reports = pretraining_reports(mt)
    assert [round(r.mfu, 3) for r in reports] == [0.303, 0.291, 0.272]
    assert all(r.features.bubble == 0.0 and r.features.tp_ratio > 0 for r in reports)


def test_estimate_training_rejects_bad_parallelism() -> None:
    gpu = catalog_gpu("h100_sxm_80gb")
    base: dict[str, Any] = {"params": 8e9, "arch": None, "tokens": 1e12, "gpu": gpu, "n_gpus": 64}
    cases: list[tuple[dict[str, Any], str]] = [
        ({"tensor_parallel": 0}, "tensor_parallel"),
        ({"micro_batches": -1}, "micro_batches"),
        ({"zero_stage": 4}, "zero_stage"),
        ({"tensor_parallel": 8, "pipeline_parallel": 3}, "pipeline_parallel"),
        ({"tensor_parallel": 3}, "tensor_parallel"),
    ]
    for extra, field in cases:
        with pytest.raises(TrainingError) as exc:
            estimate_training(**base, **extra)
        assert exc.value.field == field
    ok = estimate_training(**base, tensor_parallel=8, pipeline_parallel=4, micro_batches=16)
    plain = estimate_training(**base)
    assert ok.mfu < plain.mfu
    assert ok.assumptions["pipeline_parallel"] == 4
