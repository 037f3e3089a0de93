"""Serving engine profiles: a few physical parameters per engine, allocator behaviour, overheads.

The operator-level step model (:mod:`app.estimators.operators`) reads, per engine:

* ``prefill_efficiency`` — achieved FLOP/s over peak of large GEMMs and attention (MFU);
* ``decode_efficiency`` — achieved bytes/s over peak bandwidth of streaming kernels (MBU);
* ``cuda_graphs`` and ``kernels_per_layer`` — the per-kernel time and the eager launch floor;
* ``step_overhead_s`` — scheduling per iteration;
* ``first_token_latency_s`` — per-request time a TTFT pays outside the prefill kernels (request
  set-up, copies, the sampler's synchronisation; for servers also tokenisation and the API): BLIS
  models it as α0 + α1·M + α2·N added to every TTFT (inference-sim/inference-sim docs/approach.md
  §3 C); the prior is the median α0 of its 33 fitted vLLM configurations in defaults.yaml
  (4.27 ms), fitted with the compute efficiency on the TTFT rows.

The two efficiencies start from priors (``PRIOR_*``) and are fitted on the published measurements
in ``validation/published_measurements.csv`` by ``axisboard fit-engines`` (regularised toward the
priors; no efficiency from fewer than 3 rows of 2 publications: see
:mod:`app.estimators.validation`), which writes ``data/engine_profiles.json``; a test checks that
file equals a fresh fit. ``ideal`` is the physical bound (the step's roofline).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from importlib import resources
from typing import Any

from app.estimators.hardware import GpuSpec

# vLLM paper (Kwon et al. 2023, arXiv 2309.06180): PagedAttention wastes "under 4%" of KV memory;
# prior contiguous systems held token states in only 20.4%-38.2% of the KV memory they reserved.
PAGED_KV_WASTE = 0.04
CONTIGUOUS_KV_UTILISATION = 0.382  # the best case of the paper's 20.4%-38.2% range


# Kernels per decoder layer. Fused engines (vLLM's LlamaDecoderLayer: fused_add_rms_norm, qkv_proj,
# rotary, reshape_and_cache, attention, o_proj, fused_add_rms_norm, gate_up_proj, silu_and_mul,
# down_proj): 10. Eager transformers (modeling_llama.py LlamaDecoderLayer with its RMSNorm of
# pow/mean/add/rsqrt/mul/cast, rotate_half rotary, cache cat, SDPA, separate gate/up/act/mul):
# about 40 operators.
FUSED_KERNELS_PER_LAYER = 10
EAGER_OPS_PER_LAYER = 40
# llama.cpp's llm_build_llama graph per layer: rms_norm, mul, 3 mul_mat (q, k, v), 2 rope, 2 cpy
# into the cache, mul_mat kq, soft_max_ext, mul_mat kqv, cont, mul_mat wo, add, rms_norm, mul,
# 2 mul_mat (gate, up), silu, mul, mul_mat down, add: 22 nodes.
GGML_OPS_PER_LAYER = 22
# Priors of the two fitted efficiencies (the fit regularises toward them): llm-analysis's
# literature value for inference FLOP efficiency (0.7) and AIConfigurator's
# mem_bw_empirical_scaling_factor (0.8) (reference/estimator-landscape.md §2.2, §2.7).
PRIOR_COMPUTE_EFFICIENCY = 0.7
PRIOR_MEMORY_EFFICIENCY = 0.8
# Median alpha_coeffs[0] (µs) over the 33 H100/A100 vLLM fits of inference-sim/inference-sim
# defaults.yaml (commit 1a6eb353): 4267 µs. The fit's ridge measures a latency in units of
# FIRST_TOKEN_LATENCY_SCALE_S.
PRIOR_FIRST_TOKEN_LATENCY_S = 4.267e-3
FIRST_TOKEN_LATENCY_SCALE_S = 4e-3


@dataclass(frozen=True, slots=True)
class EngineProfile:
    name: str
    prefill_efficiency: float
    decode_efficiency: float
    step_overhead_s: float
    gpu_memory_utilization: float
    runtime_overhead_bytes: float
    max_batched_tokens: int
    paged_attention: bool
    source: str
    max_num_seqs: int = 256  # vLLM's default max_num_seqs; used for every continuous batcher
    # Operator-level step model (app.estimators.operators): CUDA graphs remove the per-operator
    # CPU launch floor; kernels_per_layer × 3 us of fixed GPU time per kernel.
    cuda_graphs: bool = True
    kernels_per_layer: int = FUSED_KERNELS_PER_LAYER
    first_token_latency_s: float = PRIOR_FIRST_TOKEN_LATENCY_S

    def with_overrides(self, **changes: object) -> EngineProfile:
        return replace(self, **changes)  # type: ignore[arg-type]


_CUDA_CONTEXT = 0.65 * 1e9  # gpu_poor's CUDA-context allowance (estimator-landscape.md §5)
_PC, _PM = PRIOR_COMPUTE_EFFICIENCY, PRIOR_MEMORY_EFFICIENCY

# Allocator and scheduler settings per engine, each from the engine's documented default. The
# efficiencies here are placeholders for engines the fit has not covered; the fitted values from
# data/engine_profiles.json (``axisboard fit-engines``) replace them below.
_BASE: dict[str, EngineProfile] = {
    "ideal": EngineProfile(
        "ideal",
        1.0,
        1.0,
        0.0,
        1.0,
        0.0,
        8192,
        True,
        "Physical bound: peak FLOP/s and bandwidth, no overheads.",
        max_num_seqs=1_000_000,
        first_token_latency_s=0.0,
    ),
    "vllm": EngineProfile(
        "vllm",
        _PC,
        _PM,
        0.0,
        0.90,
        _CUDA_CONTEXT,
        8192,
        True,
        "gpu_memory_utilization 0.9, PagedAttention, CUDA graphs for decode (vLLM defaults).",
    ),
    "tensorrt-llm": EngineProfile(
        "tensorrt-llm",
        _PC,
        _PM,
        0.0,
        0.90,
        _CUDA_CONTEXT,
        8192,
        True,
        "kv_cache free_gpu_memory_fraction 0.9, paged KV, CUDA graphs (TensorRT-LLM defaults); "
        "max_batch_size 2048 (trtllm-build default).",
        max_num_seqs=2048,
    ),
    "sglang": EngineProfile(
        "sglang",
        _PC,
        _PM,
        0.0,
        0.88,
        _CUDA_CONTEXT,
        8192,
        True,
        "mem_fraction_static 0.88 (SGLang default); RadixAttention pages; CUDA graphs.",
    ),
    "llama.cpp": EngineProfile(
        "llama.cpp",
        _PC,
        _PM,
        0.0,
        1.0,
        _CUDA_CONTEXT,
        2048,
        False,
        "Whole-GPU allocation; contiguous per-slot KV; ubatch 2048 (llama.cpp defaults); ggml-cuda "
        "launches every graph node (~22 per Llama layer; the published rows predate CUDA graphs, "
        "llama.cpp PR #6766, May 2024).",
        cuda_graphs=False,
        kernels_per_layer=GGML_OPS_PER_LAYER,
    ),
    "hf-transformers": EngineProfile(
        "hf-transformers",
        _PC,
        _PM,
        0.0,
        1.0,
        _CUDA_CONTEXT,
        2048,
        False,
        "Eager PyTorch generate(): no CUDA graphs, unfused operators; contiguous KV reservation "
        "per request.",
        cuda_graphs=False,
        kernels_per_layer=EAGER_OPS_PER_LAYER,
    ),
}

# SGLang has no published row: it takes vLLM's fitted factors (same kernels: FlashInfer/Triton).
FIT_ALIASES = {"sglang": "vllm"}


def _fitted() -> dict[str, Any]:
    try:
        text = (resources.files("app.estimators") / "data" / "engine_profiles.json").read_text(
            encoding="utf-8"
        )
    except FileNotFoundError:
        return {}
    data: dict[str, Any] = json.loads(text)
    return data


def _describe(phase: str, fit: dict[str, Any]) -> str:
    basis = fit.get("basis", "pooled" if fit["pooled"] else "engine")
    lat = fit.get("first_token_latency_s")
    extra = "" if lat is None else f" and first-token latency {lat * 1e3:.2f} ms"
    if basis == "prior":
        return f"{phase} {fit['efficiency']:.3f}{extra} (the prior: too few rows to fit)"
    rows = ", ".join(fit["rows"])
    what = "pooled over all engines' rows" if basis == "pooled" else "rows"
    return f"{phase} {fit['efficiency']:.3f}{extra} fitted on {what} {rows}"


def _apply_fits(base: dict[str, EngineProfile], fitted: dict[str, Any]) -> dict[str, EngineProfile]:
    out = dict(base)
    engines = fitted.get("engines", {})
    for name, prof in base.items():
        fit = engines.get(FIT_ALIASES.get(name, name))
        if name == "ideal" or not fit:
            continue
        pre, dec = fit["prefill"], fit["decode"]
        alias = f" (vLLM's fit: no {name} row)" if name in FIT_ALIASES else ""
        out[name] = replace(
            prof,
            prefill_efficiency=pre["efficiency"],
            decode_efficiency=dec["efficiency"],
            first_token_latency_s=pre.get("first_token_latency_s", PRIOR_FIRST_TOKEN_LATENCY_S),
            source=f"{prof.source} Efficiency{alias}: MFU {_describe('prefill', pre)}; "
            f"MBU {_describe('decode', dec)} of {fitted.get('csv', 'the validation CSV')}.",
        )
    return out


BASE_ENGINES = _BASE
ENGINES: dict[str, EngineProfile] = _apply_fits(_BASE, _fitted())
ENGINE_NAMES: tuple[str, ...] = tuple(ENGINES)


@dataclass(frozen=True, slots=True)
class SchedulerLimits:
    """What the engine's scheduler admits per iteration by default: at most ``max_num_seqs``
    running sequences and ``max_num_batched_tokens`` tokens (prefill chunks plus decodes)."""

    max_num_seqs: int
    max_num_batched_tokens: int
    source: str


_GIB = 2**30
NO_SEQ_CAP = 1_000_000  # the engine has no cap of its own: the KV cache limits the running set


def scheduler_limits(eng: EngineProfile, gpu: GpuSpec, *, offline: bool = False) -> SchedulerLimits:
    """Each engine's documented default scheduler limits on ``gpu``.

    * vLLM V1 (vllm/engine/arg_utils.py ``get_batch_defaults``): on GPUs of at least 70 GiB other
      than the A100 (H100, H200, MI300X, B200), max_num_seqs 1024 and max_num_batched_tokens 8192
      for the OpenAI server (16384 for the offline ``LLM`` class); otherwise 256 and 2048 (8192
      offline). ``offline``: the ``LLM`` class (``vllm bench throughput``).
    * SGLang (python/sglang/srt/server_args.py): chunked_prefill_size 2048 under 35 GiB, 8192
      under 160 GiB, 16384 above; max_running_requests is derived from the KV pool (no cap).
    * TensorRT-LLM (trtllm-serve / LLM API BuildConfig): max_batch_size 2048, max_num_tokens 8192.
    * llama.cpp server: ``--parallel`` auto = 4 slots over a unified KV buffer, ``-b`` 2048
      (tools/server/README.md).
    * hf-transformers and others: the profile's own ``max_num_seqs`` / ``max_batched_tokens``.
    """
    name, capacity = eng.name, gpu.capacity_bytes
    if name == "vllm":
        big = capacity >= 70 * _GIB and "a100" not in f"{gpu.key} {gpu.name}".lower()
        seqs = 1024 if big else 256
        tokens = (16384 if big else 8192) if offline else (8192 if big else 2048)
        ctx = "LLM class" if offline else "OpenAI server"
        where = ">= 70 GiB, not A100" if big else "< 70 GiB or A100"
        return SchedulerLimits(
            seqs,
            tokens,
            f"vLLM V1 defaults ({ctx}, GPU {where}): "
            f"max_num_seqs {seqs}, max_num_batched_tokens {tokens}",
        )
    if name == "sglang":
        chunk = 2048 if capacity < 35 * _GIB else (8192 if capacity < 160 * _GIB else 16384)
        return SchedulerLimits(
            NO_SEQ_CAP,
            chunk,
            f"SGLang defaults: chunked_prefill_size {chunk}; max_running_requests from the KV pool",
        )
    if name == "tensorrt-llm":
        return SchedulerLimits(
            2048, 8192, "TensorRT-LLM defaults: max_batch_size 2048, max_num_tokens 8192"
        )
    if name == "llama.cpp":
        return SchedulerLimits(
            4, 2048, "llama-server defaults: --parallel auto (4 slots), --batch-size 2048"
        )
    return SchedulerLimits(
        eng.max_num_seqs,
        eng.max_batched_tokens,
        f"{name}: max_num_seqs {eng.max_num_seqs}, max_batched_tokens {eng.max_batched_tokens}",
    )


def engine(name: str) -> EngineProfile:
    try:
        return ENGINES[name]
    except KeyError:
        raise ValueError(f"unknown engine '{name}'; allowed: {', '.join(ENGINE_NAMES)}") from None
