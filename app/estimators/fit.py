"""Whether a serving request makes sense before any figure is computed: the model's context length,
and, for a configuration whose memory does not fit, the configurations that do.

Both are pure: the memory check is the estimator's own (:func:`app.estimators.inference._memory`)
run over GPU counts and weight precisions, so "what would fit" can never disagree with the
"does it fit" verdict.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from app.estimators.architecture import Architecture
from app.estimators.engines import EngineProfile
from app.estimators.hardware import GpuSpec
from app.estimators.inference import EstimateError, ServingConfig, Workload, _memory
from app.estimators.precision import WEIGHT_PRECISIONS, Precision

# Tensor-parallel group sizes tried (one node of up to 8 GPUs).
FIT_GPU_COUNTS = (1, 2, 4, 8)

# Context length (max_position_embeddings of each model's published config.json) per catalog key.
# Models not listed (custom architectures, the research models) carry no known limit.
CONTEXT_LENGTHS: dict[str, int] = {
    "llama_3_2_1b": 131_072,  # meta-llama/Llama-3.2-1B config.json
    "llama_3_2_3b": 131_072,  # meta-llama/Llama-3.2-3B config.json
    "llama_3_1_8b": 131_072,  # meta-llama/Llama-3.1-8B config.json
    "llama_3_1_70b": 131_072,  # meta-llama/Llama-3.1-70B config.json
    "llama_3_1_405b": 131_072,  # meta-llama/Llama-3.1-405B config.json
    "mixtral_8x7b": 32_768,  # mistralai/Mixtral-8x7B-v0.1 config.json
    "llama_2_7b": 4_096,  # meta-llama/Llama-2-7b-hf config.json
    "llama_2_13b": 4_096,  # meta-llama/Llama-2-13b-hf config.json
    "llama_2_70b": 4_096,  # meta-llama/Llama-2-70b-hf config.json
    "llama_65b": 2_048,  # LLaMA paper (Touvron et al. 2023, arXiv 2302.13971): 2048-token context
    "qwen3_8b": 40_960,  # Qwen/Qwen3-8B config.json
}


def check_context(model_key: str, input_tokens: int, output_tokens: int) -> None:
    """Refuse a request longer than the model's context; the error's ``field`` names the culprit."""
    limit = CONTEXT_LENGTHS.get(model_key)
    if limit is None:
        return
    if input_tokens >= limit:
        raise EstimateError(
            f"input_tokens ({input_tokens:,}) leaves no room to generate within the model's "
            f"{limit:,}-token context",
            field="input_tokens",
        )
    if input_tokens + output_tokens > limit:
        raise EstimateError(
            f"input_tokens + output_tokens ({input_tokens + output_tokens:,}) exceed the model's "
            f"{limit:,}-token context; at most {limit - input_tokens:,} output tokens fit",
            field="output_tokens",
        )


@dataclass(frozen=True, slots=True)
class FitOption:
    precision: Precision
    n_gpus: int


def fit_options(
    arch: Architecture,
    gpu: GpuSpec,
    eng: EngineProfile,
    cfg: ServingConfig,
    wl: Workload,
    counts: Sequence[int] = FIT_GPU_COUNTS,
) -> list[FitOption]:
    """For each weight precision the GPU supports, the fewest GPUs (of ``counts``) on which the
    workload fits in memory, keeping the KV-cache precision and allocator of ``cfg``."""
    out: list[FitOption] = []
    for prec in WEIGHT_PRECISIONS:
        if not gpu.supports(prec):
            continue
        for n in sorted(counts):
            mem, _ = _memory(arch, gpu, eng, replace(cfg, n_gpus=n, precision=prec), wl)
            if mem.fits:
                out.append(FitOption(prec, n))
                break
    return out


def describe_fit(options: Sequence[FitOption], gpu_name: str, max_gpus: int) -> str:
    """'1 × H100 at fp8/int4, or 2 × H100 at bf16': fewest GPUs first, precisions grouped."""
    if not options:
        return f"nothing up to {max_gpus} × {gpu_name} at any precision"
    by_n: dict[int, list[str]] = {}
    for o in options:
        by_n.setdefault(o.n_gpus, []).append(o.precision.value)
    parts = [f"{n} × {gpu_name} at {'/'.join(p)}" for n, p in sorted(by_n.items())]
    return ", or ".join(parts)
