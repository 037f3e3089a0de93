"""Operator-level time of one engine iteration (a "step"): the sum of its operators.

A step runs ``n_dec`` sequences one token each (summed context ``ctx``) plus the prefill of
``n_pre`` sequences holding ``pre_tok`` tokens (Σ prompt² = ``sq``); T = n_dec + pre_tok tokens go
through the weights, S = n_dec + n_pre sequences produce logits. Per step, on ``tp`` GPUs:

* **attention projections** (QKV, O; router of a MoE) — GEMMs with M = T rows;
* **MLP / experts** — grouped GEMMs: each of the n_t = E·(1 − (1 − k/E)^T) experts the tokens touch
  (uniform routing; a dense MLP is E = k = 1) multiplies its share T·k/n_t of the tokens;
* **logits** — a GEMM with M = S rows, plus the sampler reading the fp32 logits;
* **attention** — prefill: FlashAttention FLOPs 2·L·n_h·d_h·Σs² (causal); decode: the KV cache read,
  bytes = kv_bytes_per_token · ctx; the new tokens' KV written;
* **norms and element-wise** — RMSNorms, residual adds, rotary, SwiGLU: about (10·d + 3·f) bf16
  values read or written per token and layer (memory-bound);
* **tensor-parallel all-reduce** — 2 per layer: link latency + ring traffic 2(tp−1)/tp · T·d·2 bytes
  over the link bandwidth;
* **fixed per-kernel time** — every kernel costs ``KERNEL_LATENCY_S`` however small
  (AIConfigurator's ``mem_empirical_constant_latency``, 3 µs), × the engine's kernels per layer;
* **CPU floor** — an engine without CUDA graphs launches every operator from Python: the step takes
  at least ops × ``EAGER_OP_S``; GPU work hides the launches when it is longer (asynchronous
  launch);
* plus the engine's per-step scheduling overhead.

Each GEMM takes ``max(FLOPs / (peak · e_c(M)), bytes / (bandwidth · e_m))``. Its compute efficiency
is a smooth function of its row count M, ``e_c(M) = e_c · M / (M + M_h)``: a tensor-core GEMM
computes whole tiles, so M rows cost about M + M_h rows of work (tile quantisation, NVIDIA's "Matrix
Multiplication Background" guide; ``GEMM_HALF_TILE_M``, half of a 64-row tile). Where the GEMM turns
from memory- to compute-bound therefore depends on the GPU's ridge point (peak / bandwidth): about
150 FLOP/byte on an A100, 295 on an H100. Experts see M = T·k/n_t rows each, so at large batch
their GEMMs are far less efficient than a dense GEMM of the same FLOPs (the MoE optimism of a dense
model).
Operators do not overlap one another: the step is their sum.

The physical bound (``ideal``) is the roofline of the whole step: max(FLOPs / peak, weight and KV
bytes / bandwidth) with perfect overlap, no tile quantisation, no per-kernel time, no CPU floor and
no overhead; measurements can never beat it.

One formula serves floats (:class:`app.estimators.inference.StepModel`, the load simulation) and
numpy arrays (:mod:`app.estimators.sweep`): ``mx`` is ``max`` or ``np.maximum``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

GEMM_HALF_TILE_M = 32.0  # rows: half of a 64-row tensor-core tile (tile quantisation)
KERNEL_LATENCY_S = 3e-6  # AIConfigurator system YAMLs: mem_empirical_constant_latency 3 us
# PyTorch eager dispatch + launch per operator, on the order of 10 us (the "overhead" regime of
# H. He, "Making Deep Learning Go Brrrr From First Principles", 2022): a prior, not fitted.
EAGER_OP_S = 10e-6
ELEMENTWISE_VALUES_PER_TOKEN_D = 10  # × d_model per layer: 2 norms, 2 residual adds, rotary
ELEMENTWISE_VALUES_PER_TOKEN_F = 3  # × d_ff (active) per layer: SwiGLU reads 2f, writes f
LOGIT_BYTES = 4  # fp32 logits read by the sampler
STEP_KERNELS = 4  # per step besides the layers: embedding, final norm, logits, sampler
ACTIVATION_BYTES = 2  # bf16 activations


def elementwise_bytes_per_token(n_layers: Any, d_model: Any, d_ff_active: Any) -> Any:
    """Bytes the norms, residual adds, rotary and SwiGLU read and write per token, all layers."""
    values = ELEMENTWISE_VALUES_PER_TOKEN_D * d_model + ELEMENTWISE_VALUES_PER_TOKEN_F * d_ff_active
    return n_layers * values * ACTIVATION_BYTES


@dataclass(frozen=True, slots=True)
class StepCoeffs:
    """The step formula's coefficients for one deployment; fields are floats or numpy arrays.

    Work terms are totals over the tensor-parallel group; ``peak`` and ``bw`` are the group's
    (per-GPU × tp), so a term's time is work / (group rate)."""

    proj_flops_per_token: Any  # 2 · attention-projection (+ router) parameters, all layers
    proj_bytes: Any  # their weights
    mlp_flops_per_token_expert: Any  # 2 · L · MLP parameters of one expert
    mlp_bytes_per_expert: Any  # L · one expert's weights
    n_experts: int
    top_k: int
    logit_flops_per_seq: Any  # 2 · vocab · d
    logit_bytes: Any  # vocab · d weights
    sample_bytes_per_seq: Any  # vocab · 4
    attn_pre_flops_per_sq: Any  # 2 · L · n_h · d_h per (prompt²)
    attn_dec_flops_per_ctx: Any  # 4 · L · n_h · d_h per context token
    kv_bytes_per_token: Any  # all layers
    elementwise_bytes_per_token: Any
    peak: Any  # FLOP/s of the group
    bw: Any  # bytes/s of the group
    e_c: float  # compute efficiency of large GEMMs and attention
    e_m: float  # fraction of bandwidth a streaming kernel reaches
    half_tile: float  # M_h (0 for the bound)
    gpu_fixed_s: Any  # per-kernel latency × kernels in a step
    cpu_floor_s: Any  # eager launch floor (0 with CUDA graphs)
    overhead_s: float  # engine scheduling per step
    comm_a: Any  # all-reduce seconds per step: comm_a + comm_b · T
    comm_b: Any
    roofline: bool = False  # the physical bound: max(FLOPs / peak, bytes / bandwidth) of the step


def gpu_time(
    k: StepCoeffs, n_dec: Any, ctx: Any, n_pre: Any, pre_tok: Any, sq: Any, mx: Callable[..., Any]
) -> tuple[Any, Any, Any]:
    """(GPU seconds of the step's operators, their compute seconds at peak, their memory seconds
    at full bandwidth) — the last two for the bound label."""
    t = n_dec + pre_tok
    s = n_dec + n_pre
    ec, em, h = k.peak * k.e_c, k.bw * k.e_m, k.half_tile
    # attention projections: one GEMM family at M = T
    c_proj = k.proj_flops_per_token * t
    m_proj = k.proj_bytes
    time = mx(k.proj_flops_per_token * (t + h) / ec, m_proj / em)
    # MLP / experts: n_t touched experts, T·k/n_t rows each
    if k.n_experts > 1:
        touched = k.n_experts * (1.0 - (1.0 - k.top_k / k.n_experts) ** t)
    else:
        touched = 1.0
    c_mlp = k.mlp_flops_per_token_expert * t * k.top_k
    m_mlp = k.mlp_bytes_per_expert * touched
    time = time + mx(k.mlp_flops_per_token_expert * (t * k.top_k + touched * h) / ec, m_mlp / em)
    # logits (M = S) and the sampler
    c_log = k.logit_flops_per_seq * s
    time = time + mx(k.logit_flops_per_seq * (s + h) / ec, k.logit_bytes / em)
    time = time + k.sample_bytes_per_seq * s / em
    # attention: prefill FLOPs, decode KV read (memory-bound), KV written for the new tokens
    c_att = k.attn_pre_flops_per_sq * sq + k.attn_dec_flops_per_ctx * ctx
    m_att = k.kv_bytes_per_token * (ctx + t)
    time = time + k.attn_pre_flops_per_sq * sq / ec
    time = time + mx(k.attn_dec_flops_per_ctx / ec, k.kv_bytes_per_token / em) * ctx
    time = time + k.kv_bytes_per_token * t / em
    # norms and element-wise
    time = time + k.elementwise_bytes_per_token * t / em + k.gpu_fixed_s
    # the bound's traffic: weights and KV only (activations could stay on chip if fully fused)
    compute = (c_proj + c_mlp + c_log + c_att) / k.peak
    memory = (m_proj + m_mlp + k.logit_bytes + m_att) / k.bw
    if k.roofline:  # perfect overlap of all compute and all traffic
        return mx(compute, memory), compute, memory
    return time, compute, memory


def step_time(
    k: StepCoeffs, n_dec: Any, ctx: Any, n_pre: Any, pre_tok: Any, sq: Any, mx: Callable[..., Any]
) -> tuple[Any, Any, Any, Any]:
    """(seconds of the step, compute seconds at peak, memory seconds at full bandwidth, all-reduce
    seconds)."""
    g, c, m = gpu_time(k, n_dec, ctx, n_pre, pre_tok, sq, mx)
    comm = k.comm_a + k.comm_b * (n_dec + pre_tok)
    return mx(g, k.cpu_floor_s) + comm + k.overhead_s, c, m, comm


def decode_lines(k: StepCoeffs, n_dec: float, mx: Callable[..., Any]) -> tuple[float, ...]:
    """A pure decode step of ``n_dec`` sequences at summed context c takes
    ``max(a1 + b1·c, a2 + b2·c)`` seconds before all-reduce and overhead: returns (a1, b1, a2, b2).

    Only the KV read (and the attention FLOPs) grow with the context. For an engine, line 1 is the
    operators' GPU time and line 2 the constant eager CPU floor; for the bound, line 1 is the
    step's FLOPs at peak and line 2 its bytes at full bandwidth."""
    _, c0, m0 = gpu_time(k, n_dec, 0.0, 0.0, 0.0, 0.0, mx)
    if k.roofline:
        return (
            float(c0),
            float(k.attn_dec_flops_per_ctx / k.peak),
            float(m0),
            float(k.kv_bytes_per_token / k.bw),
        )
    base, _, _ = gpu_time(k, n_dec, 0.0, 0.0, 0.0, 0.0, mx)
    slope = mx(k.attn_dec_flops_per_ctx / (k.peak * k.e_c), k.kv_bytes_per_token / (k.bw * k.e_m))
    return float(base), float(slope), float(k.cpu_floor_s), 0.0
