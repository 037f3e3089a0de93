"""Estimate API schemas. Architecture and GPU objects use the column names of models.csv and
gpus.csv (contract); ``gb`` fields are 10^9 bytes."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.estimators.engines import ENGINE_NAMES
from app.estimators.precision import KV_PRECISIONS, WEIGHT_PRECISIONS

EngineName = Literal[ENGINE_NAMES]  # type: ignore[valid-type]
WeightPrecision = Literal[tuple(p.value for p in WEIGHT_PRECISIONS)]  # type: ignore[valid-type]
KvPrecision = Literal[tuple(p.value for p in KV_PRECISIONS)]  # type: ignore[valid-type]
Key = Annotated[str, Field(min_length=1, max_length=48)]


class ArchitectureIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    n_layers: int = Field(ge=1, le=1024)
    d_model: int = Field(ge=1, le=131072)
    d_ff: int = Field(ge=1, le=1048576)
    n_heads: int = Field(ge=1, le=1024)
    n_kv_heads: int = Field(ge=1, le=1024)
    d_head: int = Field(ge=1, le=4096)
    vocab: int = Field(ge=1, le=10_000_000)
    tied_embeddings: bool = False
    n_experts: int = Field(1, ge=1, le=1024)
    experts_per_token: int = Field(1, ge=1, le=1024)
    name: str = Field("custom", max_length=120)


class GpuSpecIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: str = Field("custom", max_length=48)
    name: str = Field("Custom GPU", max_length=120)
    memory_gb: float = Field(gt=0, le=10_000, allow_inf_nan=False)
    usable_memory_gib: float | None = Field(None, gt=0, le=10_000, allow_inf_nan=False)
    bandwidth_tbps: float = Field(gt=0, le=1000, allow_inf_nan=False)
    bf16_tflops_dense: float = Field(gt=0, le=1e6, allow_inf_nan=False)
    fp8_tflops_dense: float | None = Field(None, gt=0, le=1e6, allow_inf_nan=False)
    int8_tops_dense: float | None = Field(None, gt=0, le=1e6, allow_inf_nan=False)
    price_per_hour_usd: float | None = Field(None, gt=0, le=1000, allow_inf_nan=False)


class SpeculativeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    alpha: float = Field(ge=0, lt=1, allow_inf_nan=False, description="Acceptance rate")
    gamma: int = Field(ge=1, le=64, description="Draft tokens per iteration")
    c: float = Field(ge=0, le=1, allow_inf_nan=False, description="Draft/target step-time ratio")


class InferenceRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: Key | ArchitectureIn = Field(description="Catalog key or an architecture object")
    gpu: Key | GpuSpecIn = Field(description="Catalog key or a GPU spec object")
    n_gpus: int = Field(1, ge=1, le=1024, description="Tensor-parallel group size")
    precision: WeightPrecision = "bf16"
    kv_cache_precision: KvPrecision = "bf16"
    engine: EngineName = "vllm"
    input_tokens: int = Field(ge=1, le=10_000_000)
    output_tokens: int = Field(ge=1, le=1_000_000)
    batch_size: int = Field(1, ge=1, le=100_000)
    speculative: SpeculativeIn | None = None
    paged_attention: bool | None = Field(None, description="Default: the engine's allocator")


class MemoryOut(BaseModel):
    weights_gb: float
    kv_cache_gb: float
    activations_gb: float
    overhead_gb: float
    total_gb: float
    capacity_gb: float
    fits: bool
    max_batch_size: int
    kv_cache_capacity_tokens: int
    reason: str | None


class PrefillOut(BaseModel):
    time_ms: float
    bound: Literal["compute", "memory"]


class DecodeOut(BaseModel):
    time_per_token_ms: float
    bound: Literal["compute", "memory"]


class TimingOut(BaseModel):
    prefill: PrefillOut
    decode: DecodeOut
    ttft_ms: float
    tpot_ms: float
    output_tokens_per_s: float
    output_tokens_per_s_per_gpu: float
    cost_per_million_output_tokens_usd: float | None


class InferenceResponse(TimingOut):
    memory: MemoryOut
    best_case: TimingOut
    assumptions: dict[str, Any]


class HfConfigRequest(BaseModel):
    config: dict[str, Any] = Field(description="The contents of a Hugging Face config.json")
    name: str = Field("custom", max_length=120)


class HfConfigResponse(BaseModel):
    architecture: ArchitectureIn
    total_params: int
    active_params: int
    notes: list[str]
