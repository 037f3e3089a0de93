"""Serving estimate: memory feasibility and per-phase roofline timing.

Each phase takes ``max(compute_time, memory_time) / efficiency + overheads``
(reference/estimator-landscape.md §9.1), with

* decode step (batch B, mean context S):
  bytes = weights touched + B·S·kv_bytes_per_token, FLOPs = 2·B·N_matmul + 4·B·L·S·n_h·d_h;
* prefill (b sequences of S tokens): FLOPs = 2·b·S·N_body + 2·b·L·S²·n_h·d_h (causal: half the
  S² term of reference §5) + 2·b·vocab·d (logits of the last token only), bytes = weights + KV
  written;
* tensor parallelism: both divided over the TP group, plus 2 all-reduces per layer of the
  activations (latency + ring traffic 2(tp-1)/tp · message / link bandwidth);
* MoE: memory by total parameters; a step reads the experts its tokens touch, E·(1-(1-k/E)^T)
  per layer for T tokens routed uniformly (reference formulas.md §8);
* KV capacity: the engine's usable memory minus weights, activation peak and runtime overhead;
  PagedAttention loses under 4% of it, a contiguous allocator keeps only 38.2% for live tokens
  (vLLM paper).

``best_case`` repeats the timing with efficiency 1 and no overheads: the physical bound that no
measurement can beat.
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from app.estimators.architecture import Architecture
from app.estimators.engines import (
    CONTIGUOUS_KV_UTILISATION,
    PAGED_KV_WASTE,
    EngineProfile,
)
from app.estimators.errors import FieldError
from app.estimators.gemm_ceiling import relative_ceiling
from app.estimators.hardware import ALLREDUCE_LATENCY_S, GpuSpec, HardwareError
from app.estimators.operators import (
    EAGER_OP_S,
    GEMM_HALF_TILE_M,
    KERNEL_LATENCY_S,
    LOGIT_BYTES,
    STEP_KERNELS,
    StepCoeffs,
    decode_lines,
    elementwise_bytes_per_token,
)
from app.estimators.precision import BYTES, KV_PRECISIONS, WEIGHT_PRECISIONS, Precision
from app.estimators.speculative import expected_tokens, speedup, speedup_at_load

ACTIVATION_BYTES = 2  # bf16 activations
LOGITS_BYTES = LOGIT_BYTES  # fp32 logits in the sampler
MAX_SAMPLED_SEQS = 256  # vLLM default max_num_seqs: the sampler's logits rows at profiling


class EstimateError(FieldError):
    pass


@dataclass(frozen=True, slots=True)
class Workload:
    input_tokens: int
    output_tokens: int
    batch_size: int = 1

    def __post_init__(self) -> None:
        for name in ("input_tokens", "output_tokens", "batch_size"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise EstimateError(f"{name} must be a positive integer", field=name)


@dataclass(frozen=True, slots=True)
class ServingConfig:
    n_gpus: int = 1
    precision: Precision = Precision.bf16
    kv_cache_precision: Precision = Precision.bf16
    paged_attention: bool | None = None  # None: the engine's own allocator
    # MoE serving with expert parallelism and data-parallel attention over the n_gpus (TensorRT-LLM
    # enable_attention_dp + --ep, SGLang --enable-dp-attention): every GPU holds the attention
    # weights and its own requests' whole KV; experts are split across GPUs and tokens reach them
    # by all-to-all. False: plain tensor parallelism.
    attention_dp: bool = False


@dataclass(frozen=True, slots=True)
class MemoryBreakdown:
    weights_gb: float
    kv_cache_gb: float
    activations_gb: float
    overhead_gb: float
    total_gb: float
    capacity_gb: float
    usable_gb: float  # what the engine may use: capacity × gpu_memory_utilization
    fits: bool
    max_batch_size: int
    kv_cache_capacity_tokens: int
    reason: str | None


@dataclass(frozen=True, slots=True)
class PhaseTime:
    time_s: float
    compute_s: float
    memory_s: float
    comm_s: float
    bound: str  # "compute" | "memory"


@dataclass(frozen=True, slots=True)
class Timing:
    prefill: PhaseTime
    decode: PhaseTime
    ttft_ms: float
    tpot_ms: float
    output_tokens_per_s: float
    output_tokens_per_s_per_gpu: float
    cost_per_million_output_tokens_usd: float | None
    batch_output_tokens: int
    decode_steps: int


@dataclass(frozen=True, slots=True)
class InferenceEstimate:
    memory: MemoryBreakdown
    timing: Timing
    best_case: Timing
    assumptions: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# --- helpers ------------------------------------------------------------------------------


def _validate(arch: Architecture, gpu: GpuSpec, cfg: ServingConfig) -> None:
    if cfg.n_gpus < 1 or cfg.n_gpus > 1024:
        raise EstimateError("n_gpus must be between 1 and 1024", field="n_gpus")
    if cfg.precision not in WEIGHT_PRECISIONS:
        raise EstimateError(
            f"precision must be one of {', '.join(WEIGHT_PRECISIONS)}", field="precision"
        )
    if cfg.kv_cache_precision not in KV_PRECISIONS:
        raise EstimateError(
            f"kv_cache_precision must be one of {', '.join(KV_PRECISIONS)}",
            field="kv_cache_precision",
        )
    for fld, prec in (("precision", cfg.precision), ("kv_cache_precision", cfg.kv_cache_precision)):
        if not gpu.supports(prec):
            raise EstimateError(
                f"{gpu.name} does not support {prec}; allowed: "
                + ", ".join(p for p in WEIGHT_PRECISIONS if gpu.supports(p)),
                field=fld,
            )


def experts_touched(arch: Architecture, tokens: float) -> float:
    """Expected distinct experts per layer that ``tokens`` tokens route to (uniform routing)."""
    if not arch.is_moe:
        return 1.0
    e, k = arch.n_experts, arch.experts_per_token
    return float(e * (1.0 - (1.0 - k / e) ** max(tokens, 0.0)))


def kv_replication(arch: Architecture, tp: int, attention_dp: bool = False) -> float:
    """How many copies of each KV head a tensor-parallel group stores: tp / n_kv_heads when the
    group is wider than the model's KV heads (each GPU needs a whole head: vLLM and TensorRT-LLM
    replicate them), else 1. Data-parallel attention keeps one copy."""
    if attention_dp or tp <= arch.n_kv_heads:
        return 1.0
    return tp / arch.n_kv_heads


def attention_weight_params(arch: Architecture) -> int:
    """Parameters outside the experts and embeddings (attention projections, router, norms)."""
    return arch.non_embedding_params - arch.n_layers * arch.n_experts * arch.mlp_params_per_expert


@dataclass(frozen=True, slots=True)
class StepModel:
    """Time of one engine iteration: the unit the static estimate and the load simulation share.

    An iteration runs ``n_decode`` sequences one token each (summed context ``ctx_sum``) plus the
    prefill of ``n_prefill`` sequences holding ``prefill_tokens`` tokens (sum of prompt² =
    ``prefill_sq_sum``). Its time is the sum of its operators (:mod:`app.estimators.operators`):
    GEMMs at a compute efficiency that depends on their row count, grouped expert GEMMs, attention,
    element-wise kernels, logits, the tensor-parallel all-reduce, per-kernel latency, the eager
    launch floor of engines without CUDA graphs and the engine's per-step overhead.
    ``eff_compute`` is the engine's compute efficiency (MFU of large GEMMs), ``eff_memory`` its
    bandwidth efficiency.
    """

    arch: Architecture
    gpu: GpuSpec
    tp: int
    bytes_w: float
    kv_bytes_per_token: float  # whole model, all layers
    peak_flops: float
    eff_compute: float
    eff_memory: float
    overhead_s: float
    comm: bool
    ideal: bool = False
    cuda_graphs: bool = True
    kernels_per_layer: int = 10
    attention_dp: bool = False
    # per-request latency every TTFT pays outside the GPU steps (EngineProfile); it delays the
    # request's first token, not the GPU
    first_token_latency_s: float = 0.0
    # The operator formula's coefficients, derived once: the load simulation evaluates steps tens
    # of thousands of times per estimate page.
    _k: StepCoeffs = field(init=False, repr=False, compare=False)
    _f: tuple[float, ...] = field(init=False, repr=False, compare=False)  # _fast's constants

    def __post_init__(self) -> None:
        a, tp = self.arch, self.tp
        d_attn = a.n_heads * a.d_head
        experts = a.n_layers * a.n_experts * a.mlp_params_per_expert
        proj = a.non_embedding_params - experts  # attention projections, router, norms
        # data-parallel attention: every GPU reads all the attention weights each step
        proj_copies = tp if self.attention_dp else 1
        if self.comm and tp > 1 and self.attention_dp:
            # expert parallelism: per layer an all-to-all dispatch and combine; each GPU sends its
            # T/tp tokens to min(k, tp) GPUs, (tp − 1)/tp of them remote, over its own link
            comm_a = 2 * a.n_layers * ALLREDUCE_LATENCY_S
            fan = min(a.experts_per_token, tp) * (tp - 1) / tp
            comm_b = 2 * a.n_layers * fan * a.d_model * ACTIVATION_BYTES / tp
            comm_b /= self.gpu.interconnect_bytes_per_s
        elif self.comm and tp > 1:  # 2 all-reduces per layer: latency + ring traffic
            comm_a = 2 * a.n_layers * ALLREDUCE_LATENCY_S
            comm_b = 2 * a.n_layers * 2 * (tp - 1) / tp * a.d_model * ACTIVATION_BYTES
            comm_b /= self.gpu.interconnect_bytes_per_s
        else:
            comm_a = comm_b = 0.0
        kernels = a.n_layers * self.kernels_per_layer + STEP_KERNELS
        k = StepCoeffs(
            proj_flops_per_token=2.0 * proj,
            proj_bytes=proj * self.bytes_w * proj_copies,
            mlp_flops_per_token_expert=2.0 * a.n_layers * a.mlp_params_per_expert,
            mlp_bytes_per_expert=a.n_layers * a.mlp_params_per_expert * self.bytes_w,
            n_experts=a.n_experts,
            top_k=a.experts_per_token,
            logit_flops_per_seq=2.0 * a.vocab * a.d_model,
            logit_bytes=a.vocab * a.d_model * self.bytes_w,
            sample_bytes_per_seq=a.vocab * LOGIT_BYTES,
            attn_pre_flops_per_sq=2.0 * a.n_layers * d_attn,
            attn_dec_flops_per_ctx=4.0 * a.n_layers * d_attn,
            kv_bytes_per_token=self.kv_bytes_per_token,
            elementwise_bytes_per_token=elementwise_bytes_per_token(
                a.n_layers, a.d_model, a.d_ff * a.experts_per_token
            ),
            peak=self.peak_flops * tp,
            bw=self.gpu.bandwidth_bytes_per_s * tp,
            e_c=self.eff_compute,
            e_m=self.eff_memory,
            half_tile=0.0 if self.ideal else GEMM_HALF_TILE_M,
            gpu_fixed_s=0.0 if self.ideal else kernels * KERNEL_LATENCY_S,
            cpu_floor_s=0.0 if self.ideal or self.cuda_graphs else kernels * EAGER_OP_S,
            overhead_s=self.overhead_s,
            comm_a=comm_a,
            comm_b=comm_b,
            roofline=self.ideal,
        )
        object.__setattr__(self, "_k", k)
        ec, em = k.peak * k.e_c, k.bw * k.e_m
        f = (
            k.proj_flops_per_token,
            k.proj_bytes,
            k.mlp_flops_per_token_expert,
            k.mlp_bytes_per_expert,
            float(k.n_experts),
            float(k.top_k),
            k.logit_flops_per_seq,
            k.logit_bytes,
            k.attn_pre_flops_per_sq,
            k.attn_dec_flops_per_ctx,
            k.peak,
            k.bw,
            ec,
            em,
            k.half_tile,
            k.sample_bytes_per_seq / em,
            max(k.attn_dec_flops_per_ctx / ec, k.kv_bytes_per_token / em),
            (k.kv_bytes_per_token + k.elementwise_bytes_per_token) / em,
            k.gpu_fixed_s,
            k.cpu_floor_s,
            k.comm_a,
            k.comm_b,
            k.overhead_s,
            k.kv_bytes_per_token,
        )
        object.__setattr__(self, "_f", f)

    def _fast(
        self, nd: float, ctx: float, npre: float, pt: float, sq: float
    ) -> tuple[float, float, float, float]:
        """:func:`app.estimators.operators.step_time` on floats, written out for speed (the load
        simulation runs it per iteration); a test checks the two agree."""
        (
            pf,
            pb,
            mf,
            mb,
            ne,
            tk,
            lf,
            lb,
            apf,
            adf,
            peak,
            bw,
            ec,
            em,
            h,
            samp,
            att_dec,
            per_tok,
            fixed,
            floor,
            ca,
            cb,
            ovh,
            kvb,
        ) = self._f
        t = nd + pt
        s = nd + npre
        touched = ne * (1.0 - (1.0 - tk / ne) ** t) if ne > 1 else 1.0
        compute = (pf * t + mf * t * tk + lf * s + apf * sq + adf * ctx) / peak
        memory = (pb + mb * touched + lb + kvb * (ctx + t)) / bw
        comm = ca + cb * t
        if self.ideal:
            return max(compute, memory) + comm + ovh, compute, memory, comm
        g = max(pf * (t + h) / ec, pb / em)
        g += max(mf * (t * tk + touched * h) / ec, mb * touched / em)
        g += max(lf * (s + h) / ec, lb / em) + samp * s
        g += apf * sq / ec + att_dec * ctx + per_tok * t + fixed
        return max(g, floor) + comm + ovh, compute, memory, comm

    @classmethod
    def build(
        cls,
        arch: Architecture,
        gpu: GpuSpec,
        eng: EngineProfile,
        cfg: ServingConfig,
        *,
        ideal: bool = False,
    ) -> StepModel:
        return cls(
            arch=arch,
            gpu=gpu,
            tp=cfg.n_gpus,
            bytes_w=BYTES[cfg.precision],
            kv_bytes_per_token=arch.kv_bytes_per_token(BYTES[cfg.kv_cache_precision])
            * (1.0 if ideal else kv_replication(arch, cfg.n_gpus, cfg.attention_dp)),
            peak_flops=gpu.peak_flops(cfg.precision),
            # the engine's share of the GPU's measured GEMM ceiling (app.estimators.gemm_ceiling)
            eff_compute=1.0
            if ideal
            else min(1.0, eng.prefill_efficiency * relative_ceiling(gpu, cfg.precision)),
            eff_memory=1.0 if ideal else eng.decode_efficiency,
            overhead_s=0.0 if ideal else eng.step_overhead_s,
            comm=not ideal,
            ideal=ideal,
            cuda_graphs=eng.cuda_graphs,
            kernels_per_layer=eng.kernels_per_layer,
            attention_dp=cfg.attention_dp and not ideal,
            first_token_latency_s=0.0 if ideal else eng.first_token_latency_s,
        )

    @property
    def coeffs(self) -> StepCoeffs:
        return self._k

    def time(
        self,
        n_decode: float,
        ctx_sum: float,
        n_prefill: float = 0,
        prefill_tokens: float = 0,
        prefill_sq_sum: float = 0,
    ) -> float:
        """Seconds of one iteration (``step(...).time_s`` without the breakdown: the load
        simulation's inner loop)."""
        if self.ideal:
            return self._fast(n_decode, ctx_sum, n_prefill, prefill_tokens, prefill_sq_sum)[0]
        (
            pf,
            pb,
            mf,
            mb,
            ne,
            tk,
            lf,
            lb,
            apf,
            _,
            _,
            _,
            ec,
            em,
            h,
            samp,
            att_dec,
            per_tok,
            fixed,
            floor,
            ca,
            cb,
            ovh,
            _,
        ) = self._f
        t = n_decode + prefill_tokens
        s = n_decode + n_prefill
        touched = ne * (1.0 - (1.0 - tk / ne) ** t) if ne > 1 else 1.0
        g = max(pf * (t + h) / ec, pb / em)
        g += max(mf * (t * tk + touched * h) / ec, mb * touched / em)
        g += max(lf * (s + h) / ec, lb / em) + samp * s
        g += apf * prefill_sq_sum / ec + att_dec * ctx_sum + per_tok * t + fixed
        return max(g, floor) + ca + cb * t + ovh

    def time_parts(
        self, n_decode: float, n_prefill: float, prefill_tokens: float, prefill_sq_sum: float
    ) -> tuple[float, float, float, float]:
        """(g0, att, floor, extra): :meth:`time` at summed context c is
        ``max(g0 + att·c, floor) + extra`` (the load simulation caches these per batch shape)."""
        if self.ideal:
            raise ValueError("the bound's step is a roofline, not a sum: use time()")
        (
            pf,
            pb,
            mf,
            mb,
            ne,
            tk,
            lf,
            lb,
            apf,
            _,
            _,
            _,
            ec,
            em,
            h,
            samp,
            att_dec,
            per_tok,
            fixed,
            floor,
            ca,
            cb,
            ovh,
            _,
        ) = self._f
        t = n_decode + prefill_tokens
        s = n_decode + n_prefill
        touched = ne * (1.0 - (1.0 - tk / ne) ** t) if ne > 1 else 1.0
        g = max(pf * (t + h) / ec, pb / em)
        g += max(mf * (t * tk + touched * h) / ec, mb * touched / em)
        g += max(lf * (s + h) / ec, lb / em) + samp * s
        g += apf * prefill_sq_sum / ec + per_tok * t + fixed
        return g, att_dec, floor, ca + cb * t + ovh

    def decode_line(self, n_decode: float) -> tuple[float, float, float, float, float]:
        """A pure decode iteration of ``n_decode`` sequences at summed context c takes
        ``max(a1 + b1·c, a2 + b2·c) + extra`` seconds: (a1, b1, a2, b2, extra)
        (:func:`app.estimators.operators.decode_lines`)."""
        k = self._k
        a1, b1, a2, b2 = decode_lines(k, n_decode, max)
        extra = k.comm_a + k.comm_b * n_decode + k.overhead_s
        return a1, b1, a2, b2, float(extra)

    def step(
        self,
        n_decode: float,
        ctx_sum: float,
        n_prefill: float = 0,
        prefill_tokens: float = 0,
        prefill_sq_sum: float = 0,
    ) -> PhaseTime:
        t, compute_s, memory_s, comm_s = self._fast(
            n_decode, ctx_sum, n_prefill, prefill_tokens, prefill_sq_sum
        )
        bound = "compute" if compute_s >= memory_s else "memory"
        return PhaseTime(float(t), float(compute_s), float(memory_s), float(comm_s), bound)

    def prefill(self, seqs: int, prompt: int) -> PhaseTime:
        return self.step(0, 0, seqs, seqs * prompt, seqs * prompt * prompt)

    def decode(self, batch: int, context: float) -> PhaseTime:
        return self.step(batch, batch * context)


@functools.lru_cache(maxsize=1024)
def _step_model(
    arch: Architecture, gpu: GpuSpec, eng: EngineProfile, cfg: ServingConfig, ideal: bool
) -> StepModel:
    """StepModel.build, memoised: deriving the operator coefficients costs more than the steps an
    estimate evaluates, and sweeps and pages ask for the same deployment over and over."""
    return StepModel.build(arch, gpu, eng, cfg, ideal=ideal)


def step_model(
    arch: Architecture, gpu: GpuSpec, eng: EngineProfile, cfg: ServingConfig, *, ideal: bool = False
) -> StepModel:
    """The one :class:`StepModel` of a serving set-up (memoised): the static estimate, the load
    simulation and the capacity planner of one estimate share it instead of building their own."""
    return _step_model(arch, gpu, eng, cfg, ideal)


def _memory(
    arch: Architecture, gpu: GpuSpec, eng: EngineProfile, cfg: ServingConfig, wl: Workload
) -> tuple[MemoryBreakdown, float]:
    tp = cfg.n_gpus
    bytes_w = BYTES[cfg.precision]
    kv_tok = arch.kv_bytes_per_token(BYTES[cfg.kv_cache_precision]) / tp
    kv_tok *= kv_replication(arch, tp, cfg.attention_dp)
    weights = arch.total_params * bytes_w / tp
    if cfg.attention_dp:  # the attention weights on every GPU, the experts split
        weights += attention_weight_params(arch) * bytes_w * (tp - 1) / tp
    t = eng.max_batched_tokens
    d_ff_active = arch.d_ff * arch.experts_per_token
    activations = (
        t * (2 * d_ff_active + 4 * arch.d_model) * ACTIVATION_BYTES / tp
        + arch.vocab * min(t, MAX_SAMPLED_SEQS) * LOGITS_BYTES / tp
    )
    overhead = eng.runtime_overhead_bytes
    usable = gpu.capacity_bytes * eng.gpu_memory_utilization
    kv_room = usable - weights - activations - overhead
    paged = eng.paged_attention if cfg.paged_attention is None else cfg.paged_attention
    live_fraction = (1 - PAGED_KV_WASTE) if paged else CONTIGUOUS_KV_UTILISATION
    kv_tokens = max(0, int(kv_room * live_fraction / kv_tok)) if kv_room > 0 else 0
    seq = wl.input_tokens + wl.output_tokens
    max_batch = kv_tokens // seq
    kv_needed = wl.batch_size * seq * kv_tok
    reason = None
    if kv_room <= 0:
        reason = (
            f"weights ({weights / 1e9:.1f} GB per GPU) plus activations and runtime overhead "
            f"exceed the {usable / 1e9:.1f} GB the engine may use on {gpu.name}"
        )
    elif max_batch < 1:
        reason = f"the KV cache holds {kv_tokens} tokens, fewer than one {seq}-token sequence"
    elif wl.batch_size > max_batch:
        reason = (
            f"batch {wl.batch_size} needs {kv_needed / 1e9:.1f} GB of KV cache per GPU; "
            f"at most {max_batch} sequences of {seq} tokens fit"
        )
    total = weights + activations + overhead + kv_needed / live_fraction
    mem = MemoryBreakdown(
        weights_gb=weights / 1e9,
        kv_cache_gb=kv_needed / 1e9,
        activations_gb=activations / 1e9,
        overhead_gb=overhead / 1e9,
        total_gb=total / 1e9,
        capacity_gb=gpu.capacity_bytes / 1e9,
        usable_gb=usable / 1e9,
        fits=reason is None,
        max_batch_size=max_batch,
        kv_cache_capacity_tokens=kv_tokens,
        reason=reason,
    )
    return mem, kv_tok


def _timing(
    arch: Architecture,
    gpu: GpuSpec,
    eng: EngineProfile,
    cfg: ServingConfig,
    wl: Workload,
    *,
    ideal: bool,
) -> Timing:
    sm = _step_model(arch, gpu, eng, cfg, ideal)
    b, s_in, s_out = wl.batch_size, wl.input_tokens, wl.output_tokens
    # The whole batch's prefill; TTFT of an unloaded server is the prefill of one request.
    prefill = sm.prefill(b, s_in)
    # plus the engine's per-request first-token latency (set-up, copies, sampler sync, API)
    ttft = sm.prefill(1, s_in).time_s + sm.first_token_latency_s
    # Decode step at the mean context length over the generation.
    decode = sm.decode(b, s_in + (s_out - 1) / 2)
    total_time = prefill.time_s + (s_out - 1) * decode.time_s
    tok_s = b * s_out / total_time
    tp = cfg.n_gpus
    price = gpu.price_per_hour_usd
    cost = None if price is None else price * tp / 3600 / tok_s * 1e6
    return Timing(
        prefill=prefill,
        decode=decode,
        ttft_ms=ttft * 1e3,
        tpot_ms=decode.time_s * 1e3,
        output_tokens_per_s=tok_s,
        output_tokens_per_s_per_gpu=tok_s / tp,
        cost_per_million_output_tokens_usd=cost,
        batch_output_tokens=b * s_out,
        decode_steps=s_out - 1,
    )


def estimate_inference(
    arch: Architecture, gpu: GpuSpec, eng: EngineProfile, cfg: ServingConfig, wl: Workload
) -> InferenceEstimate:
    """Memory, TTFT, TPOT, throughput and cost of serving ``arch`` on ``cfg.n_gpus`` × ``gpu``."""
    try:
        _validate(arch, gpu, cfg)
    except HardwareError as exc:
        raise EstimateError(str(exc), field=exc.field or "gpu") from None
    memory, _ = _memory(arch, gpu, eng, cfg, wl)
    timing = _timing(arch, gpu, eng, cfg, wl, ideal=False)
    best = _timing(arch, gpu, eng, cfg, wl, ideal=True)
    paged = eng.paged_attention if cfg.paged_attention is None else cfg.paged_attention
    assumptions: dict[str, Any] = {
        "engine": eng.name,
        "engine_source": eng.source,
        "prefill_efficiency": eng.prefill_efficiency,
        "decode_efficiency": eng.decode_efficiency,
        "gpu_memory_utilization": eng.gpu_memory_utilization,
        "runtime_overhead_gb": eng.runtime_overhead_bytes / 1e9,
        "activation_profile_tokens": eng.max_batched_tokens,
        "kv_allocator": "paged (under 4% waste)"
        if paged
        else "contiguous (38.2% live, vLLM paper)",
        "tensor_parallel": cfg.n_gpus,
        "allreduce_latency_us": ALLREDUCE_LATENCY_S * 1e6 if cfg.n_gpus > 1 else 0,
        "interconnect_gb_s": gpu.interconnect_bytes_per_s / 1e9 if cfg.n_gpus > 1 else None,
        "peak_tflops": gpu.peak_flops(cfg.precision) / 1e12,
        "bandwidth_tb_s": gpu.bandwidth_tbps,
        "decode_context_tokens": wl.input_tokens + (wl.output_tokens - 1) / 2,
        "moe_experts_touched_per_layer_decode": round(experts_touched(arch, wl.batch_size), 3),
        "price_per_gpu_hour_usd": gpu.price_per_hour_usd,
        "throughput_model": "static batch: prefill of the batch then output_tokens-1 decode steps",
    }
    if not math.isfinite(timing.output_tokens_per_s):
        raise EstimateError("estimate is not finite for these inputs", field="model")
    return InferenceEstimate(memory=memory, timing=timing, best_case=best, assumptions=assumptions)


def speculative_verify_ratio(
    arch: Architecture,
    gpu: GpuSpec,
    eng: EngineProfile,
    cfg: ServingConfig,
    batch: int,
    context: float,
    gamma: int,
    *,
    ideal: bool = False,
) -> float:
    """Time of a speculative verification step over a plain decode step, at ``batch`` sequences of
    mean context ``context``: the verification runs gamma + 1 tokens per sequence through the
    weights (gamma extra rows in every GEMM, gamma extra logits rows, attention of the extra tokens
    over the context), reading the weights and each sequence's KV once, as a plain step does."""
    sm = _step_model(arch, gpu, eng, cfg, ideal)
    plain = sm.step(batch, batch * context).time_s
    extra = batch * gamma
    verify = sm.step(batch, batch * context, extra, extra, 2.0 * context * extra).time_s
    return max(1.0, verify / plain)


def with_speculative(
    est: InferenceEstimate,
    *,
    alpha: float,
    gamma: int,
    c: float,
    n_gpus: int,
    price_per_gpu_hour: float | None,
    verify_ratio: float | None = None,
    best_verify_ratio: float | None = None,
) -> InferenceEstimate:
    """Apply Leviathan et al.'s expected wall-time improvement to the decode phase.

    Each target step yields (1-alpha^(gamma+1))/(1-alpha) tokens for the cost of (gamma c + 1)
    target steps (Theorem 3.8); the output distribution is unchanged and prefill is unaffected.
    With ``verify_ratio`` (:func:`speculative_verify_ratio` at the estimate's batch) the gain is
    that of the batch: E[tokens] / (gamma c + verify_ratio), below 1 (a slowdown) once the step is
    compute-bound (:func:`app.estimators.speculative.speedup_at_load`); without it the batch-1
    gain applies to memory-bound steps and none to compute-bound ones. ``n_gpus`` and
    ``price_per_gpu_hour`` price the new throughput (the serving set-up's, as the estimate's).
    """
    factor = speedup(alpha, gamma, c)
    if verify_ratio is not None:
        factor = speedup_at_load(alpha, gamma, c, verify_ratio)
    best_factor = factor
    if best_verify_ratio is not None:
        best_factor = speedup_at_load(alpha, gamma, c, best_verify_ratio)
    n, price = n_gpus, price_per_gpu_hour

    def _apply(t: Timing, factor: float) -> Timing:
        # Speculation spends idle compute to cut memory-bound steps; once the decode step is
        # compute-bound (large batches) the draft's extra tokens cost as much as they save.
        if verify_ratio is None and t.decode.bound == "compute":
            return t
        total = t.prefill.time_s + t.decode_steps * t.decode.time_s / factor
        tok_s = t.batch_output_tokens / total
        cost = None if price is None else price * n / 3600 / tok_s * 1e6
        return replace(
            t,
            tpot_ms=t.tpot_ms / factor,
            output_tokens_per_s=tok_s,
            output_tokens_per_s_per_gpu=tok_s / n,
            cost_per_million_output_tokens_usd=cost,
        )

    assumptions = {
        **est.assumptions,
        "speculative": {
            "alpha": alpha,
            "gamma": gamma,
            "c": c,
            "speedup": round(factor, 4),
            "speedup_model": "at the estimate's batch (verification step / decode step)"
            if verify_ratio is not None
            else "batch-1 (Theorem 3.8); none once the decode step is compute-bound",
            "expected_tokens_per_step": round(expected_tokens(alpha, gamma), 4),
            "source": "Leviathan et al. 2023, arXiv 2211.17192, Theorem 3.8",
        },
    }
    return replace(
        est,
        timing=_apply(est.timing, factor),
        best_case=_apply(est.best_case, best_factor),
        assumptions=assumptions,
    )


def with_prefix_cache(
    est: InferenceEstimate,
    arch: Architecture,
    gpu: GpuSpec,
    eng: EngineProfile,
    cfg: ServingConfig,
    wl: Workload,
    share: float,
) -> InferenceEstimate:
    """Prefill with ``share`` of each prompt's tokens already in the KV cache (automatic prefix
    caching: vLLM, SGLang's RadixAttention, Zheng et al. 2024, arXiv 2312.07104).

    Only the uncached tokens run through the weights; they attend over the whole prompt (causal
    attention FLOPs ∝ P² − cached², the cached KV read once). Decode is unchanged: every sequence
    still attends over its full context, and the KV memory per sequence is kept as it was (blocks
    shared between requests are not credited: a conservative reading)."""
    if not 0.0 <= share < 1.0:
        raise EstimateError("cached prompt share must be in [0, 1)", field="cached_prompt_share")
    p = wl.input_tokens
    cached = int(share * p)
    new = p - cached
    if cached == 0:
        return est
    b = wl.batch_size
    sq = float(p * p - cached * cached)
    price = gpu.price_per_hour_usd
    n = cfg.n_gpus

    def _apply(t: Timing, ideal: bool) -> Timing:
        sm = _step_model(arch, gpu, eng, cfg, ideal)
        prefill = sm.step(0, b * cached, b, b * new, b * sq)
        ttft = sm.step(0, cached, 1, new, sq).time_s
        total = prefill.time_s + t.decode_steps * t.decode.time_s
        tok_s = t.batch_output_tokens / total
        cost = None if price is None else price * n / 3600 / tok_s * 1e6
        return replace(
            t,
            prefill=prefill,
            ttft_ms=ttft * 1e3,
            output_tokens_per_s=tok_s,
            output_tokens_per_s_per_gpu=tok_s / n,
            cost_per_million_output_tokens_usd=cost,
        )

    assumptions = {
        **est.assumptions,
        "prefix_cache": {
            "cached_prompt_share": share,
            "cached_tokens": cached,
            "prefilled_tokens": new,
            "source": "automatic prefix caching: prefill of the uncached tokens only "
            "(Zheng et al. 2024, arXiv 2312.07104)",
        },
    }
    return replace(
        est,
        timing=_apply(est.timing, False),
        best_case=_apply(est.best_case, True),
        assumptions=assumptions,
    )
