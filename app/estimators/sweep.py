"""Vectorised serving estimates (numpy): over a grid of configurations for one architecture, or
over a grid of architectures (the scaling lab's search).

The same step model as :class:`app.estimators.inference.StepModel` — one formula, evaluated on
arrays — giving TTFT, TPOT, output tokens/s and the KV capacity. The architecture enters only
through :class:`ArchTerms`, whose fields may be floats or arrays. Checked against the scalar
estimator in the tests.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from app.estimators.architecture import Architecture
from app.estimators.engines import CONTIGUOUS_KV_UTILISATION, PAGED_KV_WASTE, EngineProfile
from app.estimators.gemm_ceiling import relative_ceiling
from app.estimators.hardware import ALLREDUCE_LATENCY_S, GpuSpec
from app.estimators.inference import ACTIVATION_BYTES, LOGITS_BYTES, MAX_SAMPLED_SEQS
from app.estimators.operators import (
    EAGER_OP_S,
    GEMM_HALF_TILE_M,
    KERNEL_LATENCY_S,
    LOGIT_BYTES,
    STEP_KERNELS,
    StepCoeffs,
    elementwise_bytes_per_token,
    step_time,
)
from app.estimators.precision import BYTES, Precision

Array = NDArray[np.float64]
Num = float | Array


@dataclass(frozen=True, slots=True)
class ArchTerms:
    """The quantities of an architecture the step model reads; floats or same-shape arrays."""

    n_layers: Num
    d_model: Num
    d_attn: Num  # n_heads · d_head
    kv_elems_per_token: Num  # 2 · n_layers · n_kv_heads · d_head
    body: Num  # active non-embedding parameters (matmul FLOPs per token / 2)
    dense_body: Num  # non-embedding parameters outside the experts
    mlp_per_expert: Num
    lm_head: Num  # vocab · d_model
    vocab: Num
    d_ff_active: Num  # d_ff · experts_per_token
    total_params: Num
    n_experts: int = 1
    experts_per_token: int = 1
    n_kv_heads: Num = 0.0  # 0: unknown (no KV-head replication applied)

    def kv_replication(self, tp: ArrayLike) -> Array:
        """Copies of each KV head a tensor-parallel group of ``tp`` stores (tp / n_kv_heads when
        wider than the KV heads: :func:`app.estimators.inference.kv_replication`)."""
        kv, tp_ = np.asarray(self.n_kv_heads, float), np.asarray(tp, float)
        return np.asarray(np.where((kv > 0) & (tp_ > kv), tp_ / np.maximum(kv, 1.0), 1.0), float)

    @classmethod
    def of(cls, arch: Architecture) -> ArchTerms:
        return cls(
            n_layers=arch.n_layers,
            d_model=arch.d_model,
            d_attn=arch.n_heads * arch.d_head,
            kv_elems_per_token=arch.kv_bytes_per_token(1.0),
            body=arch.active_non_embedding_params,
            dense_body=arch.non_embedding_params
            - arch.n_layers * arch.n_experts * arch.mlp_params_per_expert,
            mlp_per_expert=arch.mlp_params_per_expert,
            lm_head=arch.vocab * arch.d_model,
            vocab=arch.vocab,
            d_ff_active=arch.d_ff * arch.experts_per_token,
            total_params=arch.total_params,
            n_experts=arch.n_experts,
            experts_per_token=arch.experts_per_token,
            n_kv_heads=arch.n_kv_heads,
        )

    @classmethod
    def dense(
        cls,
        *,
        n_layers: ArrayLike,
        d_model: ArrayLike,
        d_ff: ArrayLike,
        n_heads: ArrayLike,
        n_kv_heads: ArrayLike,
        d_head: ArrayLike,
        vocab: ArrayLike,
        tied_embeddings: bool,
    ) -> ArchTerms:
        """Dense (non-MoE) architectures given as arrays; counts as in :class:`Architecture`."""
        L, d, f = (np.asarray(v, float) for v in (n_layers, d_model, d_ff))
        h, kv, dh, v = (np.asarray(x, float) for x in (n_heads, n_kv_heads, d_head, vocab))
        attn = 2 * d * h * dh + 2 * d * kv * dh
        mlp = 3 * d * f
        non_embed = L * (attn + mlp + 2 * d) + d
        return cls(
            n_layers=L,
            d_model=d,
            d_attn=h * dh,
            kv_elems_per_token=2 * L * kv * dh,
            body=non_embed,
            dense_body=non_embed - L * mlp,
            mlp_per_expert=mlp,
            lm_head=v * d,
            vocab=v,
            d_ff_active=f,
            total_params=non_embed + v * d * (1 if tied_embeddings else 2),
            n_kv_heads=kv,
        )


@dataclass(frozen=True, slots=True)
class Serving:
    """A GPU, an engine and precisions: everything of a deployment but the architecture."""

    gpu: GpuSpec
    engine: EngineProfile
    precision: Precision = Precision.bf16
    kv_cache_precision: Precision = Precision.bf16
    paged_attention: bool | None = None

    def kv_capacity_tokens(self, a: ArchTerms, tp: ArrayLike = 1.0) -> Array:
        """Tokens of KV cache that fit beside weights, activation peak and runtime overhead."""
        eng, tp_ = self.engine, np.asarray(tp, float)
        bytes_w = BYTES[self.precision]
        t = eng.max_batched_tokens
        activations = (
            t * (2 * np.asarray(a.d_ff_active) + 4 * np.asarray(a.d_model)) * ACTIVATION_BYTES
            + np.asarray(a.vocab) * min(t, MAX_SAMPLED_SEQS) * LOGITS_BYTES
        ) / tp_
        room = self.gpu.capacity_bytes * eng.gpu_memory_utilization - (
            np.asarray(a.total_params) * bytes_w / tp_ + activations + eng.runtime_overhead_bytes
        )
        paged = eng.paged_attention if self.paged_attention is None else self.paged_attention
        live = (1 - PAGED_KV_WASTE) if paged else CONTIGUOUS_KV_UTILISATION
        kv_tok = np.asarray(a.kv_elems_per_token) * BYTES[self.kv_cache_precision] / tp_
        kv_tok = kv_tok * a.kv_replication(tp_)
        return np.asarray(np.floor(np.maximum(room, 0) * live / kv_tok), float)

    def step(
        self,
        a: ArchTerms,
        tp: Array,
        n_dec: Array,
        ctx_sum: Array,
        n_pre: Array,
        pre_tok: Array,
        sq: Array,
    ) -> Array:
        """One engine iteration: the operator sum of :mod:`app.estimators.operators`, the same
        formula :class:`~app.estimators.inference.StepModel` evaluates on floats."""
        k = self.coeffs(a, tp)
        t, _, _, _ = step_time(k, n_dec, ctx_sum, n_pre, pre_tok, sq, np.maximum)
        return np.asarray(t, float)

    def coeffs(self, a: ArchTerms, tp: Array) -> StepCoeffs:
        eng = self.engine
        L, d = np.asarray(a.n_layers, float), np.asarray(a.d_model, float)
        bytes_w = BYTES[self.precision]
        proj = np.asarray(a.dense_body, float)
        comm_a = np.where(tp > 1, 2 * L * ALLREDUCE_LATENCY_S, 0.0)
        comm_b = np.where(
            tp > 1,
            2 * L * 2 * (tp - 1) / tp * d * ACTIVATION_BYTES / self.gpu.interconnect_bytes_per_s,
            0.0,
        )
        kernels = L * eng.kernels_per_layer + STEP_KERNELS
        ideal = eng.name == "ideal"
        return StepCoeffs(
            proj_flops_per_token=2.0 * proj,
            proj_bytes=proj * bytes_w,
            mlp_flops_per_token_expert=2.0 * L * np.asarray(a.mlp_per_expert, float),
            mlp_bytes_per_expert=L * np.asarray(a.mlp_per_expert, float) * bytes_w,
            n_experts=a.n_experts,
            top_k=a.experts_per_token,
            logit_flops_per_seq=2.0 * np.asarray(a.lm_head, float),
            logit_bytes=np.asarray(a.lm_head, float) * bytes_w,
            sample_bytes_per_seq=np.asarray(a.vocab, float) * LOGIT_BYTES,
            attn_pre_flops_per_sq=2.0 * L * np.asarray(a.d_attn, float),
            attn_dec_flops_per_ctx=4.0 * L * np.asarray(a.d_attn, float),
            kv_bytes_per_token=np.asarray(a.kv_elems_per_token, float)
            * BYTES[self.kv_cache_precision]
            * (1.0 if ideal else a.kv_replication(tp)),
            elementwise_bytes_per_token=elementwise_bytes_per_token(L, d, a.d_ff_active),
            peak=self.gpu.peak_flops(self.precision) * tp,
            bw=self.gpu.bandwidth_bytes_per_s * tp,
            e_c=eng.prefill_efficiency
            if ideal
            else min(1.0, eng.prefill_efficiency * relative_ceiling(self.gpu, self.precision)),
            e_m=eng.decode_efficiency,
            half_tile=0.0 if ideal else GEMM_HALF_TILE_M,
            gpu_fixed_s=0.0 if ideal else kernels * KERNEL_LATENCY_S,
            cpu_floor_s=0.0 if ideal or eng.cuda_graphs else kernels * EAGER_OP_S,
            overhead_s=eng.step_overhead_s,
            comm_a=comm_a,
            comm_b=comm_b,
            roofline=ideal,
        )


@dataclass(frozen=True, slots=True)
class SweepResult:
    ttft_ms: Array
    tpot_ms: Array
    output_tokens_per_s: Array
    fits: NDArray[np.bool_]
    max_batch: Array

    @property
    def size(self) -> int:
        return int(self.ttft_ms.size)


def evaluate(
    a: ArchTerms,
    serving: Serving,
    *,
    batch: ArrayLike,
    input_tokens: ArrayLike,
    output_tokens: ArrayLike,
    n_gpus: ArrayLike = 1.0,
) -> SweepResult:
    """The static-batch estimate of :func:`estimate_inference`, broadcast over every input."""
    b, s_in, s_out, tp = np.broadcast_arrays(
        np.asarray(batch, float),
        np.asarray(input_tokens, float),
        np.asarray(output_tokens, float),
        np.asarray(n_gpus, float),
    )
    zero = np.zeros_like(b)
    prefill_b = serving.step(a, tp, zero, zero, b, b * s_in, b * s_in * s_in)
    prefill_1 = serving.step(a, tp, zero, zero, np.ones_like(b), s_in, s_in * s_in)
    decode = serving.step(a, tp, b, b * (s_in + (s_out - 1) / 2), zero, zero, zero)
    total = prefill_b + (s_out - 1) * decode
    max_batch = np.floor(serving.kv_capacity_tokens(a, tp) / (s_in + s_out))
    fits = (max_batch >= 1) & (b <= max_batch)
    # TTFT adds the engine's per-request first-token latency (0 for the bound), as in
    # estimate_inference
    ttft = prefill_1 + serving.engine.first_token_latency_s
    return SweepResult(ttft * 1e3, decode * 1e3, b * s_out / total, fits, max_batch)


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
    """One architecture over a grid of batch × input × output × GPUs."""
    serving = Serving(gpu, eng, precision, kv_cache_precision)
    return evaluate(
        ArchTerms.of(arch),
        serving,
        batch=batch,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        n_gpus=n_gpus,
    )
