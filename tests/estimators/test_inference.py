"""The pure serving estimator: published test vectors, invariants and properties."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.estimators.architecture import Architecture
from app.estimators.engines import ENGINES
from app.estimators.hardware import GIB, GpuSpec
from app.estimators.hf_config import HfConfigError, architecture_from_hf_config
from app.estimators.inference import (
    EstimateError,
    ServingConfig,
    Workload,
    estimate_inference,
    experts_touched,
    with_speculative,
)
from app.estimators.precision import Precision
from app.estimators.speculative import expected_tokens, speedup

LLAMA_8B = Architecture(32, 4096, 14336, 32, 8, 128, 128256, False, name="Llama-3.1-8B")
LLAMA_70B = Architecture(80, 8192, 28672, 64, 8, 128, 128256, False, name="Llama-3.1-70B")
MIXTRAL = Architecture(32, 4096, 14336, 32, 8, 128, 32000, False, 8, 2, name="Mixtral")
H100 = GpuSpec("h100_sxm_80gb", "H100 SXM", 80, 3.35, 989.4, 80, 1978.9, 1978.9, 2.0)
A100 = GpuSpec("a100_sxm_80gb", "A100 SXM", 80, 2.039, 312, 80, None, 624, 1.5)
RTX4090 = GpuSpec("rtx_4090", "RTX 4090", 24, 1.008, 165.2, None, 330.3, 660.6)


def est(
    arch=LLAMA_8B,
    gpu=H100,
    engine="vllm",
    n_gpus=1,
    precision=Precision.bf16,  # type: ignore[no-untyped-def]
    kv=Precision.bf16,
    inp=1000,
    out=200,
    batch=1,
    paged=None,
):
    return estimate_inference(
        arch,
        gpu,
        ENGINES[engine],
        ServingConfig(n_gpus, precision, kv, paged),
        Workload(inp, out, batch),
    )


class TestPublishedVectors:
    def test_vllm_paper_opt13b_kv_bytes(self) -> None:
        # "2 (key and value) x 5120 (hidden) x 40 (layers) x 2 (bytes per FP16)" = 800 KB per token
        opt13b = Architecture(40, 5120, 20480, 40, 40, 128, 50272)
        assert opt13b.kv_bytes_per_token(2) == 819_200
        assert opt13b.kv_bytes_per_token(2) * 2048 == pytest.approx(1.68e9, rel=2e-3)

    def test_llama_kv_per_token(self) -> None:
        assert LLAMA_8B.kv_bytes_per_token(2) == 128 * 1024
        assert LLAMA_70B.kv_bytes_per_token(2) == 320 * 1024

    @pytest.mark.parametrize(
        ("alpha", "gamma", "c", "expected"),
        [(0.6, 2, 0.0, 1.96), (0.8, 5, 0.0, 3.69), (0.75, 7, 0.02, 3.157), (0.8, 5, 0.05, 2.951)],
    )
    def test_leviathan_speedups(self, alpha: float, gamma: int, c: float, expected: float) -> None:
        assert speedup(alpha, gamma, c) == pytest.approx(expected, abs=0.006)

    def test_leviathan_expected_tokens(self) -> None:
        assert expected_tokens(0.8, 5) == pytest.approx(3.689, abs=0.001)
        assert expected_tokens(0.6, 2) == pytest.approx(1.96, abs=0.001)

    def test_vllm_rtx4090_kv_capacity(self) -> None:
        """vLLM, Llama-3.1-8B BF16, RTX 4090, utilisation 0.9: 41,408 KV tokens measured
        (validation row 53, casys-kaist/LLMServingSim PR #59)."""
        e = est(gpu=RTX4090, inp=512, out=128)
        assert e.memory.kv_cache_capacity_tokens == pytest.approx(41_408, rel=0.05)

    def test_rtx4090_batch1_decode_against_llama_cpp(self) -> None:
        """llama.cpp FP16 Llama-3-8B on an RTX 4090: 54.84 tok/s measured; bound <= 62.8 tok/s."""
        e = est(gpu=RTX4090, engine="llama.cpp", inp=16, out=512)
        best_tok_s = 1000 / e.best_case.tpot_ms
        assert best_tok_s >= 54.84  # no measurement beats the bound
        assert best_tok_s == pytest.approx(62.8 * 16.06 / 15.0, rel=0.1)


class TestMemory:
    def test_70b_bf16_does_not_fit_one_h100(self) -> None:
        e = est(arch=LLAMA_70B)
        assert not e.memory.fits
        assert "exceed" in (e.memory.reason or "")
        assert e.memory.weights_gb == pytest.approx(141.1, abs=0.1)

    def test_70b_fits_on_two_h100_in_bf16(self) -> None:
        e = est(arch=LLAMA_70B, n_gpus=2)
        assert e.memory.fits
        assert e.memory.weights_gb == pytest.approx(70.55, abs=0.01)

    def test_mixtral_memory_by_total_params(self) -> None:
        e = est(arch=MIXTRAL, n_gpus=2)
        assert e.memory.weights_gb == pytest.approx(46.7, abs=0.01)

    def test_paged_holds_more_sequences_than_contiguous(self) -> None:
        paged = est(paged=True).memory.max_batch_size
        contiguous = est(paged=False).memory.max_batch_size
        assert paged / contiguous == pytest.approx(0.96 / 0.382, rel=0.01)

    def test_batch_beyond_kv_capacity_reported(self) -> None:
        e = est(arch=LLAMA_70B, n_gpus=4, inp=8000, out=2000, batch=64)
        assert not e.memory.fits
        assert "at most" in (e.memory.reason or "")

    def test_capacity_convention(self) -> None:
        assert RTX4090.capacity_bytes == 24 * GIB


class TestTiming:
    def test_decode_memory_bound_prefill_compute_bound(self) -> None:
        e = est(inp=2048, out=128)
        assert e.timing.decode.bound == "memory"
        assert e.timing.prefill.bound == "compute"

    def test_fp8_needs_fp8_gpu(self) -> None:
        with pytest.raises(EstimateError) as err:
            est(gpu=A100, precision=Precision.fp8)
        assert err.value.field == "precision"
        assert "bf16" in str(err.value)

    def test_tensor_parallel_adds_allreduce(self) -> None:
        one = est(arch=LLAMA_70B, n_gpus=2)
        four = est(arch=LLAMA_70B, n_gpus=4)
        assert four.timing.decode.comm_s > one.timing.decode.comm_s > 0
        assert four.timing.tpot_ms < one.timing.tpot_ms

    def test_moe_reads_only_touched_experts(self) -> None:
        assert experts_touched(MIXTRAL, 1) == pytest.approx(2.0)
        assert experts_touched(MIXTRAL, 64) == pytest.approx(8.0, abs=0.01)
        small = est(arch=MIXTRAL, n_gpus=2, batch=1)
        dense_equiv = est(arch=Architecture(32, 4096, 14336 * 8, 32, 8, 128, 32000), n_gpus=2)
        assert small.timing.tpot_ms < 0.5 * dense_equiv.timing.tpot_ms

    def test_speculative_lowers_tpot_by_leviathan_factor(self) -> None:
        base = est(out=256)
        spec = with_speculative(
            base, alpha=0.8, gamma=5, c=0.05, n_gpus=1, price_per_gpu_hour=H100.price_per_hour_usd
        )
        assert base.timing.tpot_ms / spec.timing.tpot_ms == pytest.approx(2.951, abs=0.001)
        assert spec.timing.output_tokens_per_s > base.timing.output_tokens_per_s
        assert spec.assumptions["speculative"]["speedup"] == pytest.approx(2.951, abs=0.001)

    def test_speculative_prices_with_the_given_gpus_not_the_display_assumptions(self) -> None:
        """The GPU count and price come in as arguments (issue 23 item 6): what the assumptions
        dict shows does not change the cost."""
        base = est(out=256, n_gpus=2)
        shown = replace(
            base,
            assumptions={**base.assumptions, "tensor_parallel": 99, "price_per_gpu_hour_usd": 1e6},
        )
        spec = with_speculative(shown, alpha=0.8, gamma=5, c=0.05, n_gpus=2, price_per_gpu_hour=3.0)
        t = spec.timing
        assert t.cost_per_million_output_tokens_usd == pytest.approx(
            3.0 * 2 / 3600 / t.output_tokens_per_s * 1e6
        )
        assert t.output_tokens_per_s_per_gpu == pytest.approx(t.output_tokens_per_s / 2)
        unpriced = with_speculative(
            base, alpha=0.8, gamma=5, c=0.05, n_gpus=2, price_per_gpu_hour=None
        )
        assert unpriced.timing.cost_per_million_output_tokens_usd is None

    def test_cost_per_million_tokens(self) -> None:
        e = est(batch=32)
        expected = 2.0 / 3600 / e.timing.output_tokens_per_s * 1e6
        assert e.timing.cost_per_million_output_tokens_usd == pytest.approx(expected)
        unpriced = GpuSpec("x", "X", 80, 3.35, 989.4)
        assert est(gpu=unpriced).timing.cost_per_million_output_tokens_usd is None


ARCHS = [LLAMA_8B, LLAMA_70B, MIXTRAL]
GPUS = [H100, A100, RTX4090]


@settings(max_examples=150, deadline=None)
@given(
    arch=st.sampled_from(ARCHS),
    gpu=st.sampled_from(GPUS),
    engine=st.sampled_from(list(ENGINES)),
    n=st.sampled_from([1, 2, 4, 8]),
    inp=st.integers(1, 32_000),
    out=st.integers(1, 4_000),
    batch=st.integers(1, 512),
)
def test_never_beats_physical_bound(arch, gpu, engine, n, inp, out, batch) -> None:  # type: ignore[no-untyped-def]
    e = est(arch=arch, gpu=gpu, engine=engine, n_gpus=n, inp=inp, out=out, batch=batch)
    assert e.timing.tpot_ms >= e.best_case.tpot_ms * (1 - 1e-9)
    assert e.timing.ttft_ms >= e.best_case.ttft_ms * (1 - 1e-9)
    assert e.timing.output_tokens_per_s <= e.best_case.output_tokens_per_s * (1 + 1e-9)


@settings(max_examples=100, deadline=None)
@given(
    arch=st.sampled_from(ARCHS),
    gpu=st.sampled_from(GPUS),
    inp=st.integers(1, 8000),
    out=st.integers(2, 2000),
    batch=st.integers(2, 256),
)
def test_more_batch_never_below_batch1_throughput(arch, gpu, inp, out, batch) -> None:  # type: ignore[no-untyped-def]
    one = est(arch=arch, gpu=gpu, n_gpus=8, inp=inp, out=out, batch=1)
    many = est(arch=arch, gpu=gpu, n_gpus=8, inp=inp, out=out, batch=batch)
    assert many.timing.output_tokens_per_s >= one.timing.output_tokens_per_s * (1 - 1e-9)


@settings(max_examples=100, deadline=None)
@given(arch=st.sampled_from(ARCHS), n=st.sampled_from([1, 2, 4]), inp=st.integers(1, 8000))
def test_more_gpus_never_more_memory_per_gpu(arch, n, inp) -> None:  # type: ignore[no-untyped-def]
    a = est(arch=arch, n_gpus=n, inp=inp)
    b = est(arch=arch, n_gpus=2 * n, inp=inp)
    assert (
        b.memory.weights_gb + b.memory.activations_gb
        <= a.memory.weights_gb + a.memory.activations_gb
    )
    assert b.memory.kv_cache_gb <= a.memory.kv_cache_gb


@settings(max_examples=60, deadline=None)
@given(arch=st.sampled_from(ARCHS), batch=st.integers(1, 64))
def test_higher_precision_never_shrinks_memory(arch, batch) -> None:  # type: ignore[no-untyped-def]
    order = [Precision.int4, Precision.int8, Precision.bf16]
    mems = [
        est(arch=arch, gpu=H100, n_gpus=8, precision=p, batch=batch).memory.weights_gb
        for p in order
    ]
    assert mems == sorted(mems)
    kvs = [
        est(arch=arch, n_gpus=8, kv=k, batch=batch).memory.kv_cache_gb
        for k in (Precision.fp8, Precision.bf16)
    ]
    assert kvs == sorted(kvs)


class TestHfConfig:
    def test_llama_config(self) -> None:
        cfg = {
            "model_type": "llama",
            "num_hidden_layers": 32,
            "hidden_size": 4096,
            "intermediate_size": 14336,
            "num_attention_heads": 32,
            "num_key_value_heads": 8,
            "vocab_size": 128256,
            "tie_word_embeddings": False,
        }
        assert architecture_from_hf_config(cfg).total_params == 8_030_261_248

    def test_mixtral_config(self) -> None:
        cfg = {
            "model_type": "mixtral",
            "num_hidden_layers": 32,
            "hidden_size": 4096,
            "intermediate_size": 14336,
            "num_attention_heads": 32,
            "num_key_value_heads": 8,
            "vocab_size": 32000,
            "num_local_experts": 8,
            "num_experts_per_tok": 2,
        }
        a = architecture_from_hf_config(cfg)
        assert a.total_params == 46_702_792_704
        assert a.active_params == 12_879_925_248

    def test_unsupported_and_missing(self) -> None:
        with pytest.raises(HfConfigError) as e:
            architecture_from_hf_config({"model_type": "gpt2"})
        assert e.value.fields == ["model_type"]
        with pytest.raises(HfConfigError) as e:
            architecture_from_hf_config({"model_type": "qwen2", "hidden_size": 10})
        assert "num_hidden_layers" in e.value.fields
        assert "vocab_size" in e.value.fields


@pytest.mark.parametrize("gpu_key", ["a100_sxm_80gb", "h100_sxm_80gb", "l40s", "rtx_4090"])
@pytest.mark.parametrize("model", ["llama_3_1_8b", "mixtral_8x7b"])
def test_serving_engines_are_at_least_as_fast_as_hf_transformers_from_batch_8(
    gpu_key: str, model: str
) -> None:
    """The documented order (vLLM paper; engine docs): vLLM, SGLang and TensorRT-LLM are never
    slower than eager transformers generate() at batch >= 8 (CUDA graphs, fused kernels)."""
    from app.estimators.engines import engine
    from app.estimators.inference import ServingConfig, Workload, estimate_inference
    from app.estimators.reference_data import catalog_architecture, catalog_gpu

    arch, gpu = catalog_architecture(model), catalog_gpu(gpu_key)
    cfg = ServingConfig(n_gpus=1 if model == "llama_3_1_8b" else 4)
    for batch in (8, 16, 64, 256):
        wl = Workload(512, 256, batch)
        hf = estimate_inference(arch, gpu, engine("hf-transformers"), cfg, wl).timing
        for name in ("vllm", "sglang", "tensorrt-llm"):
            t = estimate_inference(arch, gpu, engine(name), cfg, wl).timing
            assert t.output_tokens_per_s >= hf.output_tokens_per_s, (name, batch)
            assert t.tpot_ms <= hf.tpot_ms, (name, batch)


def test_moe_expert_gemms_run_per_expert_token_counts() -> None:
    """Mixtral: T tokens touch n_t = E(1-(1-k/E)^T) experts, each multiplying T·k/n_t rows; the
    experts' compute is that of T·k rows plus a tile's padding per touched expert, not the dense
    GEMM of T·k rows, and their bytes are the touched experts' weights only."""
    from dataclasses import replace

    from app.estimators.engines import engine
    from app.estimators.inference import ServingConfig, StepModel, experts_touched
    from app.estimators.operators import GEMM_HALF_TILE_M, gpu_time
    from app.estimators.reference_data import catalog_architecture, catalog_gpu

    arch, gpu = catalog_architecture("mixtral_8x7b"), catalog_gpu("h100_sxm_80gb")
    sm = StepModel.build(arch, gpu, engine("vllm"), ServingConfig(n_gpus=2))
    k = sm.coeffs
    for batch in (1, 4, 64, 512):
        n_t = experts_touched(arch, batch)
        assert n_t == pytest.approx(8 * (1 - (1 - 2 / 8) ** batch))
        per_expert = batch * 2 / n_t  # rows each touched expert multiplies
        full, _, _ = gpu_time(k, batch, batch * 600.0, 0, 0, 0, max)
        no_mlp, _, _ = gpu_time(
            replace(k, mlp_flops_per_token_expert=0.0, mlp_bytes_per_expert=0.0),
            batch,
            batch * 600.0,
            0,
            0,
            0,
            max,
        )
        flops_rows = n_t * (per_expert + GEMM_HALF_TILE_M)
        compute = k.mlp_flops_per_token_expert * flops_rows / (k.peak * k.e_c)
        memory = n_t * k.mlp_bytes_per_expert / (k.bw * k.e_m)
        assert full - no_mlp == pytest.approx(max(compute, memory), rel=1e-9)
    # at large batch the per-expert GEMMs are far less efficient than one dense GEMM of the same
    # FLOPs: the step is slower than the dense-equivalent (all rows in one GEMM) would be
    big = 512
    n_t = experts_touched(arch, big)
    dense_equiv = k.mlp_flops_per_token_expert * (big * 2 + GEMM_HALF_TILE_M) / (k.peak * k.e_c)
    moe = k.mlp_flops_per_token_expert * (big * 2 + n_t * GEMM_HALF_TILE_M) / (k.peak * k.e_c)
    assert moe > 1.2 * dense_equiv


class TestExpertParallelAndKvHeads:
    """Issue 19 item 1: expert-parallel all-to-all with data-parallel attention, and the KV heads
    a tensor-parallel group wider than the model's KV heads must replicate."""

    QWEN_MOE = Architecture(94, 4096, 1536, 64, 4, 128, 151936, False, 128, 8, name="Qwen3-235B")

    def test_tp_wider_than_the_kv_heads_replicates_them(self) -> None:
        from app.estimators.inference import kv_replication

        assert kv_replication(self.QWEN_MOE, 8) == 2.0  # 4 KV heads on 8 GPUs: two copies each
        assert kv_replication(self.QWEN_MOE, 4) == 1.0
        assert kv_replication(self.QWEN_MOE, 8, attention_dp=True) == 1.0
        tp = estimate_inference(
            self.QWEN_MOE,
            H100,
            ENGINES["vllm"],
            ServingConfig(n_gpus=8, precision=Precision.fp8),
            Workload(1000, 1000),
        )
        dp = estimate_inference(
            self.QWEN_MOE,
            H100,
            ENGINES["vllm"],
            ServingConfig(n_gpus=8, precision=Precision.fp8, attention_dp=True),
            Workload(1000, 1000),
        )
        # attention DP keeps one KV copy but every GPU holds the attention weights
        assert dp.memory.weights_gb > tp.memory.weights_gb
        assert dp.memory.max_batch_size > tp.memory.max_batch_size

    def test_attention_dp_swaps_the_all_reduces_for_an_all_to_all(self) -> None:
        from app.estimators.inference import StepModel

        cfg_tp = ServingConfig(n_gpus=8, precision=Precision.fp8)
        cfg_dp = ServingConfig(n_gpus=8, precision=Precision.fp8, attention_dp=True)
        tp = StepModel.build(self.QWEN_MOE, H100, ENGINES["vllm"], cfg_tp).coeffs
        dp = StepModel.build(self.QWEN_MOE, H100, ENGINES["vllm"], cfg_dp).coeffs
        link = H100.interconnect_bytes_per_s
        # all-reduce ring: 2 per layer × 2(tp − 1)/tp × d × 2 bytes per token
        assert tp.comm_b == pytest.approx(2 * 94 * 2 * 7 / 8 * 4096 * 2 / link)
        # all-to-all: dispatch + combine per layer, min(k, tp)·(tp − 1)/tp of d × 2 bytes per
        # token, each GPU moving its own 1/tp of the tokens
        assert dp.comm_b == pytest.approx(2 * 94 * 8 * 7 / 8 * 4096 * 2 / 8 / link)
        assert dp.proj_bytes == pytest.approx(8 * tp.proj_bytes)  # attention weights on every GPU


def test_engine_compute_efficiency_is_a_share_of_the_gpus_measured_gemm_ceiling() -> None:
    """Issue 19 item 1: one engine efficiency, scaled by each GPU's Maximum Achievable Matmul
    FLOPS share (stas00/ml-engineering MAMF tables); FP8 reaches a smaller share than BF16."""
    from app.estimators.gemm_ceiling import REFERENCE, gemm_ceiling, relative_ceiling
    from app.estimators.inference import StepModel

    assert gemm_ceiling(A100, Precision.bf16) == pytest.approx(267.9 / 312, abs=1e-3)
    assert gemm_ceiling(H100, Precision.bf16) == pytest.approx(792.1 / 989, abs=1e-3)
    assert gemm_ceiling(H100, Precision.fp8) < gemm_ceiling(H100, Precision.bf16)
    assert gemm_ceiling(RTX4090, Precision.bf16) == pytest.approx(REFERENCE)  # unmeasured: mean
    eng = ENGINES["vllm"]
    a100 = StepModel.build(LLAMA_8B, A100, eng, ServingConfig())
    h100 = StepModel.build(LLAMA_8B, H100, eng, ServingConfig())
    assert a100.eff_compute / h100.eff_compute == pytest.approx(
        relative_ceiling(A100, Precision.bf16) / relative_ceiling(H100, Precision.bf16)
    )
    ideal = StepModel.build(LLAMA_8B, H100, ENGINES["ideal"], ServingConfig(), ideal=True)
    assert ideal.eff_compute == 1.0  # the bound stays at the datasheet peak


@pytest.mark.parametrize("gpu", [H100, A100, RTX4090], ids=lambda g: g.key)
@pytest.mark.parametrize("precision", list(Precision), ids=str)
def test_supports_and_peak_flops_follow_one_precision_rule(gpu: GpuSpec, precision: Any) -> None:
    """fp8 needs FP8 tensor cores, int8 INT8 ones, the rest run at the BF16 peak: one rule behind
    both ``supports`` and ``peak_flops`` (issue 23 item 6)."""
    from app.estimators.hardware import HardwareError

    needs = {Precision.fp8: gpu.fp8_tflops_dense, Precision.int8: gpu.int8_tops_dense}
    if precision in needs and not needs[precision]:
        assert not gpu.supports(precision)
        with pytest.raises(HardwareError, match=f"no {precision.value.upper()} tensor cores"):
            gpu.peak_flops(precision)
    else:
        assert gpu.supports(precision)
        peak = needs.get(precision) or gpu.bf16_tflops_dense
        assert gpu.peak_flops(precision) == pytest.approx(peak * 1e12)
