"""Serving engine profiles: efficiency per phase, allocator behaviour, fixed overheads.

``prefill_efficiency`` is achieved FLOP/s over peak (MFU) for prefill; ``decode_efficiency`` is
achieved bytes/s over peak bandwidth (MBU) for decode. The seed values are the implied
utilisations that reference/estimator-landscape.md §6 computes from the published measurements
in shared/validation (each noted below). ``ideal`` is the physical bound (efficiency 1).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

# vLLM paper (Kwon et al. 2023, arXiv 2309.06180): PagedAttention wastes "under 4%" of KV memory;
# prior contiguous systems held token states in only 20.4%-38.2% of the KV memory they reserved.
PAGED_KV_WASTE = 0.04
CONTIGUOUS_KV_UTILISATION = 0.382  # the best case of the paper's 20.4%-38.2% range


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

    def with_overrides(self, **changes: object) -> EngineProfile:
        return replace(self, **changes)  # type: ignore[arg-type]


_CUDA_CONTEXT = 0.65 * 1e9  # gpu_poor's CUDA-context allowance (estimator-landscape.md §5)

ENGINES: dict[str, EngineProfile] = {
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
    ),
    "vllm": EngineProfile(
        "vllm",
        0.50,
        0.77,
        0.0,
        0.90,
        _CUDA_CONTEXT,
        8192,
        True,
        "Decode MBU 77% (vLLM BF16 Llama-3.1-8B, A100-40GB); prefill MFU 49-50% (TensorRT-LLM "
        "FP8 H100, no vLLM TTFT row); gpu_memory_utilization 0.9 (vLLM default).",
    ),
    "tensorrt-llm": EngineProfile(
        "tensorrt-llm",
        0.60,
        0.76,
        0.0,
        0.90,
        _CUDA_CONTEXT,
        8192,
        True,
        "Prefill MFU: median of 72% (FP16 A100), 51% (FP8 L40S), 49-50% (FP8 H100/H200); "
        "decode MBU 76% (FasterTransformer 13B, A100).",
    ),
    "sglang": EngineProfile(
        "sglang",
        0.50,
        0.77,
        0.0,
        0.88,
        _CUDA_CONTEXT,
        8192,
        True,
        "No published SGLang row: assumed equal to vLLM; mem_fraction_static 0.88 "
        "(SGLang default).",
    ),
    "llama.cpp": EngineProfile(
        "llama.cpp",
        0.46,
        0.56,
        0.0,
        1.0,
        _CUDA_CONTEXT,
        2048,
        False,
        "Decode MBU: median of 87% (4090), 56% (H100 PCIe), 49-51% (A100), 64% (Q4_K_M); "
        "prefill MFU 46% (RTX 4090, FP16-accumulate peak).",
    ),
    "hf-transformers": EngineProfile(
        "hf-transformers",
        0.40,
        0.66,
        0.0,
        1.0,
        _CUDA_CONTEXT,
        2048,
        False,
        "Decode MBU 66% (HF transformers Llama-2-7B FP16, A10, 34 ms/token); prefill assumed 40% "
        "(no published row; below vLLM's). Contiguous KV reservation.",
    ),
}
ENGINE_NAMES: tuple[str, ...] = tuple(ENGINES)


def engine(name: str) -> EngineProfile:
    try:
        return ENGINES[name]
    except KeyError:
        raise ValueError(f"unknown engine '{name}'; allowed: {', '.join(ENGINE_NAMES)}") from None
