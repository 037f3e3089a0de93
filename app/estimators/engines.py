"""Serving engine profiles: efficiency per phase, allocator behaviour, fixed overheads.

``prefill_efficiency`` is achieved FLOP/s over peak (MFU: compute-bound work, prefill);
``decode_efficiency`` is achieved bytes/s over peak bandwidth (MBU: memory-bound work, decode).
Both are fitted on the published measurements in ``validation/published_measurements.csv`` by
``axisboard fit-engines`` (see :mod:`app.estimators.validation`), which writes
``data/engine_profiles.json``; a test checks that file equals a fresh fit. ``ideal`` is the
physical bound (efficiency 1).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from importlib import resources
from typing import Any

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
    max_num_seqs: int = 256  # vLLM's default max_num_seqs; used for every continuous batcher

    def with_overrides(self, **changes: object) -> EngineProfile:
        return replace(self, **changes)  # type: ignore[arg-type]


_CUDA_CONTEXT = 0.65 * 1e9  # gpu_poor's CUDA-context allowance (estimator-landscape.md §5)

# Allocator and scheduler settings per engine, each from the engine's documented default. The
# efficiencies here are placeholders for engines the fit has not covered; the fitted values from
# data/engine_profiles.json (``axisboard fit-engines``) replace them below.
_BASE: dict[str, EngineProfile] = {
    "ideal": EngineProfile(
        "ideal", 1.0, 1.0, 0.0, 1.0, 0.0, 8192, True,
        "Physical bound: peak FLOP/s and bandwidth, no overheads.", max_num_seqs=1_000_000,
    ),
    "vllm": EngineProfile(
        "vllm", 0.5, 0.77, 0.0, 0.90, _CUDA_CONTEXT, 8192, True,
        "gpu_memory_utilization 0.9, max_num_seqs 256, PagedAttention (vLLM defaults).",
    ),
    "tensorrt-llm": EngineProfile(
        "tensorrt-llm", 0.6, 0.76, 0.0, 0.90, _CUDA_CONTEXT, 8192, True,
        "kv_cache free_gpu_memory_fraction 0.9, paged KV (TensorRT-LLM defaults); "
        "max_batch_size 2048 (trtllm-build default).", max_num_seqs=2048,
    ),
    "sglang": EngineProfile(
        "sglang", 0.5, 0.77, 0.0, 0.88, _CUDA_CONTEXT, 8192, True,
        "mem_fraction_static 0.88 (SGLang default); RadixAttention pages.",
    ),
    "llama.cpp": EngineProfile(
        "llama.cpp", 0.46, 0.56, 0.0, 1.0, _CUDA_CONTEXT, 2048, False,
        "Whole-GPU allocation; contiguous per-slot KV; ubatch 2048 (llama.cpp defaults).",
    ),
    "hf-transformers": EngineProfile(
        "hf-transformers", 0.40, 0.66, 0.0, 1.0, _CUDA_CONTEXT, 2048, False,
        "Eager PyTorch generate(); contiguous KV reservation per request.",
    ),
}  # fmt: skip

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
    rows = ", ".join(fit["rows"])
    what = "pooled over all engines' rows" if fit["pooled"] else "rows"
    return f"{phase} {fit['efficiency']:.3f} fitted on {what} {rows}"


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
            source=f"{prof.source} Efficiency{alias}: MFU {_describe('prefill', pre)}; "
            f"MBU {_describe('decode', dec)} of {fitted.get('csv', 'the validation CSV')}.",
        )
    return out


BASE_ENGINES = _BASE
ENGINES: dict[str, EngineProfile] = _apply_fits(_BASE, _fitted())
ENGINE_NAMES: tuple[str, ...] = tuple(ENGINES)


def engine(name: str) -> EngineProfile:
    try:
        return ENGINES[name]
    except KeyError:
        raise ValueError(f"unknown engine '{name}'; allowed: {', '.join(ENGINE_NAMES)}") from None
