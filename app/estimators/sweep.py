"""Vectorised serving estimates over a grid of configurations (numpy).

The same step model as :class:`app.estimators.inference.StepModel` — one formula, evaluated on
arrays — for design-space sweeps (batch × input × output × GPUs × precision): TTFT, TPOT, output
tokens/s and whether the batch's KV fits. Checked against the scalar estimator in the tests.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from app.estimators.architecture import Architecture
from app.estimators.engines import CONTIGUOUS_KV_UTILISATION, PAGED_KV_WASTE, EngineProfile
from app.estimators.hardware import ALLREDUCE_LATENCY_S, GpuSpec
from app.estimators.inference import ACTIVATION_BYTES, LOGITS_BYTES, MAX_SAMPLED_SEQS
from app.estimators.precision import BYTES, Precision

Array = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class SweepResult:
    ttft_ms: Array
    tpot_ms: Array
    output_tokens_per_s: Array
    fits: NDArray[np.bool_]

    @property
    def size(self) -> int:
        return int(self.ttft_ms.size)


def sweep(
    arch: Architecture,
    gpu: GpuSpec,
    eng: EngineProfile,
    *,
    batch: Array,
    input_tokens: Array,
    output_tokens: Array,
    n_gpus: Array,
    precision: Precision = Precision.bf16,
    kv_cache_precision: Precision = Precision.bf16,
) -> SweepResult:
    b, s_in, s_out, tp = np.broadcast_arrays(
        np.asarray(batch, float), np.asarray(input_tokens, float),
        np.asarray(output_tokens, float), np.asarray(n_gpus, float),
    )  # fmt: skip
    bytes_w = BYTES[precision]
    kv_tok = arch.kv_bytes_per_token(BYTES[kv_cache_precision])
    peak = gpu.peak_flops(precision) * tp
    bw = gpu.bandwidth_bytes_per_s * tp
    d_attn = arch.n_heads * arch.d_head
    body = arch.active_non_embedding_params
    dense_body = (
        arch.non_embedding_params - arch.n_layers * arch.n_experts * arch.mlp_params_per_expert
    )
    lm_head = arch.vocab * arch.d_model

    def weights(tokens: Array) -> Array:
        touched = (
            arch.n_experts * (1.0 - (1.0 - arch.experts_per_token / arch.n_experts) ** tokens)
            if arch.is_moe
            else np.ones_like(tokens)
        )
        return (dense_body + arch.n_layers * touched * arch.mlp_params_per_expert + lm_head) * (
            bytes_w
        )

    def comm(tokens: Array) -> Array:
        msg = tokens * arch.d_model * ACTIVATION_BYTES
        per = ALLREDUCE_LATENCY_S + 2 * (tp - 1) / tp * msg / gpu.interconnect_bytes_per_s
        return np.where(tp > 1, 2 * arch.n_layers * per, 0.0)

    def step(n_dec: Array, ctx_sum: Array, n_pre: Array, pre_tok: Array, sq: Array) -> Array:
        tokens = n_dec + pre_tok
        flops = (
            2 * tokens * body
            + 2 * (n_dec + n_pre) * lm_head
            + 4 * arch.n_layers * d_attn * ctx_sum
            + 2 * arch.n_layers * d_attn * sq
        )
        mem = weights(tokens) + kv_tok * (ctx_sum + pre_tok)
        t = np.maximum(flops / peak / eng.prefill_efficiency, mem / bw / eng.decode_efficiency)
        return t + comm(tokens) + eng.step_overhead_s

    zero = np.zeros_like(b)
    prefill_b = step(zero, zero, b, b * s_in, b * s_in * s_in)
    prefill_1 = step(zero, zero, np.ones_like(b), s_in, s_in * s_in)
    ctx = s_in + (s_out - 1) / 2
    decode = step(b, b * ctx, zero, zero, zero)
    total = prefill_b + (s_out - 1) * decode
    # KV capacity as in the scalar memory model
    t = eng.max_batched_tokens
    activations = (
        t * (2 * arch.d_ff * arch.experts_per_token + 4 * arch.d_model) * ACTIVATION_BYTES
        + arch.vocab * min(t, MAX_SAMPLED_SEQS) * LOGITS_BYTES
    ) / tp
    room = gpu.capacity_bytes * eng.gpu_memory_utilization - (
        arch.total_params * bytes_w / tp + activations + eng.runtime_overhead_bytes
    )
    live = (1 - PAGED_KV_WASTE) if eng.paged_attention else CONTIGUOUS_KV_UTILISATION
    kv_tokens = np.floor(np.maximum(room, 0) * live / (kv_tok / tp))
    fits = (room > 0) & (b <= np.floor(kv_tokens / (s_in + s_out)))
    return SweepResult(prefill_1 * 1e3, decode * 1e3, b * s_out / total, fits)
