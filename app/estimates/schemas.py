"""Estimate API schemas. Architecture and GPU objects use the column names of models.csv and
gpus.csv (contract); ``gb`` fields are 10^9 bytes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from app.estimators.traffic import MAX_PEAK_TO_AVERAGE
from app.estimators.training import PEFT_TARGET_NAMES

# Written out so the type checker sees them; tests/test_schema_literals.py keeps each equal (same
# order, so the 422 messages list the same values) to the registry it mirrors.
EngineName = Literal["ideal", "vllm", "tensorrt-llm", "sglang", "llama.cpp", "hf-transformers"]
WeightPrecision = Literal["bf16", "fp16", "fp8", "int8", "int4", "nf4"]
KvPrecision = Literal["bf16", "fp16", "fp8", "int8"]
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
    """A GPU not in the catalog. The lower bounds sit far below any accelerator ever sold (1 GB,
    10 GB/s, 0.1 TFLOP/s) and keep the roofline arithmetic finite."""

    model_config = ConfigDict(extra="forbid")
    key: str = Field("custom", max_length=48)
    name: str = Field("Custom GPU", max_length=120)
    memory_gb: float = Field(ge=1, le=10_000, allow_inf_nan=False)
    usable_memory_gib: float | None = Field(None, ge=1, le=10_000, allow_inf_nan=False)
    bandwidth_tbps: float = Field(ge=0.01, le=1000, allow_inf_nan=False)
    bf16_tflops_dense: float = Field(ge=0.1, le=1e6, allow_inf_nan=False)
    fp8_tflops_dense: float | None = Field(None, ge=0.1, le=1e6, allow_inf_nan=False)
    int8_tops_dense: float | None = Field(None, ge=0.1, le=1e6, allow_inf_nan=False)
    price_per_hour_usd: float | None = Field(None, ge=0.001, le=1000, allow_inf_nan=False)


class SpeculativeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    alpha: float = Field(ge=0, lt=1, allow_inf_nan=False, description="Acceptance rate")
    gamma: int = Field(ge=1, le=64, description="Draft tokens per iteration")
    c: float = Field(ge=0, le=1, allow_inf_nan=False, description="Draft/target step-time ratio")


GpuT = TypeVar("GpuT")


class InferenceFields(BaseModel, Generic[GpuT]):
    """The inference inputs: ``gpu`` is required in an estimate, optional when all are tried."""

    model_config = ConfigDict(extra="forbid")
    model: Key | ArchitectureIn = Field(description="Catalog key or an architecture object")
    gpu: GpuT = Field(description="Catalog key or a GPU spec object")
    n_gpus: int = Field(1, ge=1, le=1024, description="Tensor-parallel group size")
    precision: WeightPrecision = "bf16"
    kv_cache_precision: KvPrecision = "bf16"
    engine: EngineName = "vllm"
    input_tokens: int = Field(ge=1, le=10_000_000)
    output_tokens: int = Field(ge=1, le=1_000_000)
    batch_size: int = Field(1, ge=1, le=100_000)
    speculative: SpeculativeIn | None = None
    paged_attention: bool | None = Field(None, description="Default: the engine's allocator")
    request_rate: float | None = Field(
        None,
        gt=0,
        le=1e5,
        allow_inf_nan=False,
        description="Requests/s: simulate continuous batching under Poisson load",
    )
    requests_per_day: float | None = Field(
        None, ge=0, le=1e12, allow_inf_nan=False, description="Traffic for the capacity plan"
    )
    ttft_slo_ms: float | None = Field(None, gt=0, le=1e7, allow_inf_nan=False)
    tpot_slo_ms: float | None = Field(None, gt=0, le=1e6, allow_inf_nan=False)


def _peak_to_average_field() -> Any:
    return Field(
        None,
        ge=1,
        le=MAX_PEAK_TO_AVERAGE,
        allow_inf_nan=False,
        description="Busiest hour's requests/s over the 24-hour mean: replicas are sized for "
        "the peak, as a deployment's are. Left out: 1 (the mean rate)",
    )


class InferenceRequest(InferenceFields[Key | GpuSpecIn]):
    peak_to_average: float | None = _peak_to_average_field()


class MemoryOut(BaseModel):
    weights_gb: float
    kv_cache_gb: float
    activations_gb: float
    overhead_gb: float
    total_gb: float
    capacity_gb: float
    usable_gb: float = Field(description="What the engine may use: capacity × its utilisation")
    fits: bool
    max_batch_size: int
    kv_cache_capacity_tokens: int
    reason: str | None
    would_fit: str | None = Field(
        None, description="When it does not fit: the smallest GPU counts per precision that do"
    )


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


class Percentiles(BaseModel):
    p50: float
    p95: float
    p99: float


class LoadOut(BaseModel):
    request_rate: float
    n_requests: int
    ttft_ms: Percentiles
    tpot_ms: Percentiles
    e2e_ms: Percentiles
    queue_ms_mean: float
    queue_ms_p95: float
    mean_batch: float
    output_tokens_per_s: float
    requests_per_s: float
    duration_s: float
    iterations: int
    saturated: bool


class CapacityOut(BaseModel):
    requests_per_day: float
    peak_request_rate: float
    max_rate_per_replica: float
    replicas: int | None
    gpus_per_replica: int
    monthly_gpu_hours: float | None
    monthly_cost_usd: float | None
    slo_percentile: int
    reason: str | None
    meets_slo: bool


class RangeOut(BaseModel):
    """10-90% band of a figure from the held-out errors of its metric family."""

    p10: float
    p90: float


Ranges: Any = Field(
    default_factory=dict,
    description="figure -> {p10, p90}: the estimate scaled by the 10th and 90th percentiles of "
    "measured/estimated on published rows predicted without their own publication "
    "(app.estimators.bands); assumptions.range says which rows and why a figure has none",
)


class MaxLoadOut(BaseModel):
    """What the engine sustains for this workload when saturated: the continuous-batching
    simulation with ``n_requests`` requests queued at once, within the engine's scheduler limits
    (``max_running`` sequences: KV capacity and max_num_seqs; ``max_batched_tokens`` per step)."""

    output_tokens_per_s: float
    output_tokens_per_s_per_gpu: float
    requests_per_s: float
    mean_batch: float
    n_requests: int
    max_running: int
    max_batched_tokens: int


class InferenceResponse(TimingOut):
    memory: MemoryOut
    best_case: TimingOut
    assumptions: dict[str, Any]
    max_load: MaxLoadOut | None = Field(
        None, description="None when one request of this length does not fit (memory.reason)"
    )
    range: dict[str, RangeOut] = Ranges
    latency_percentiles: LoadOut | None = None
    capacity: CapacityOut | None = None


class CompareGpusRequest(InferenceFields[Key | GpuSpecIn | None]):
    gpu: Key | GpuSpecIn | None = Field(None, description="Ignored: every catalog GPU is tried")
    peak_to_average: float | None = _peak_to_average_field()


class GpuOption(BaseModel):
    gpu: str
    name: str
    fits: bool
    meets_slo: bool | None
    batch: int | None = Field(
        None,
        description="Batch the figures are at: the request's, or with SLOs the largest "
        "batch that keeps TPOT within its SLO (1 when none does)",
    )
    ttft_ms: float | None
    tpot_ms: float | None
    output_tokens_per_s: float | None
    cost_per_million_output_tokens_usd: float | None
    monthly_cost_usd: float | None
    replicas: int | None
    reason: str | None


class CompareGpusResponse(BaseModel):
    options: list[GpuOption]
    ranking: str


ChinchillaFitName = Literal["hoffmann_printed", "hoffmann_tex", "epoch_2024", "sardana_code"]


class TrainingRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: Key | ArchitectureIn | None = None
    params: float | None = Field(None, gt=0, le=1e15, allow_inf_nan=False)
    tokens: float = Field(gt=0, le=1e17, allow_inf_nan=False)
    gpu: Key | GpuSpecIn
    n_gpus: int = Field(1, ge=1, le=1_000_000)
    mfu: float | None = Field(
        None,
        gt=0,
        le=1,
        allow_inf_nan=False,
        description="Omit for the modelled MFU (app.estimators.training_mfu)",
    )
    sequence_length: int = Field(4096, ge=1, le=10_000_000)
    precision: Literal["bf16", "fp16", "fp8"] = "bf16"
    fit: ChinchillaFitName = "epoch_2024"
    tensor_parallel: int | None = Field(
        None, ge=1, le=1024, description="Tensor-parallel degree (omit: not modelled)"
    )
    pipeline_parallel: int | None = Field(
        None, ge=1, le=1024, description="Pipeline stages (omit: not modelled)"
    )
    micro_batches: int | None = Field(
        None,
        ge=1,
        le=1_000_000,
        description="Micro-batches per pipeline per step (with pipeline_parallel: the bubble "
        "(p − 1)/(v·m + p − 1); pipeline_parallel without it leaves the bubble out, see notes)",
    )
    zero_stage: int | None = Field(
        None,
        ge=0,
        le=3,
        description="ZeRO stage of the data-parallel sharding (3 = FSDP full shard); notes say "
        "whether it changes the estimate with the current fit",
    )
    virtual_stages: int | None = Field(
        None,
        ge=1,
        le=1024,
        description="Model chunks per GPU of the interleaved 1F1B schedule (Narayanan et al. "
        "2021 §2.2.2; omit or 1: plain 1F1B); > 1 needs micro_batches a multiple of "
        "pipeline_parallel",
    )
    activation_recomputation: Literal["full", "selective", "none"] | None = Field(
        None,
        description="Activation recomputation of the run: full (every layer's forward repeated "
        "in the backward pass: the MFU × 3/4), selective (the attention core only) or none; "
        "omit: modelled without full recomputation, see notes",
    )


class ComputeOptimalOut(BaseModel):
    params: float
    tokens: float
    tokens_per_param: float | None
    loss: float
    loss_of_this_run: float
    compute_flops: float
    fit: str
    fit_source: str


class TrainingResponse(BaseModel):
    params: float
    tokens: float
    flops: float
    flops_per_token: float
    gpu_hours: float
    wall_clock_days: float
    cost_usd: float | None
    mfu: float
    mfu_range: tuple[float, float] | None = Field(
        description="The modelled MFU's 10-90% band (the same as range.mfu: the training "
        "family's held-out residuals); null when the MFU was given by the request "
        "(assumptions.mfu_range_source says why)"
    )
    compute_optimal: ComputeOptimalOut
    assumptions: dict[str, Any]
    notes: list[str] = Field(
        description="Which parallelism terms the modelled MFU applied and which it left out, "
        "and why"
    )
    range: dict[str, RangeOut] = Ranges


# Our short names and Hugging Face PEFT's (app.estimators.training.PEFT_TARGET_ALIASES).
LoraTarget = Literal[PEFT_TARGET_NAMES]  # type: ignore[valid-type]
ALL_LINEAR = "all-linear"


class FinetuneRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: Key | ArchitectureIn
    method: Literal["full", "lora", "qlora"]
    lora_rank: int = Field(16, ge=1, le=4096)
    target_modules: list[LoraTarget] = Field(
        default_factory=lambda: ["q", "k", "v", "o", "gate", "up", "down"], min_length=1
    )
    sequence_length: int = Field(2048, ge=1, le=1_000_000)
    micro_batch_size: int = Field(1, ge=1, le=4096)
    gpu: Key | GpuSpecIn
    n_gpus: int = Field(1, ge=1, le=100_000)
    gradient_checkpointing: bool = True
    zero_stage: Literal[0, 1, 2, 3] | None = None
    mfu: float = Field(0.4, gt=0, le=1, allow_inf_nan=False)
    dataset_tokens: float | None = Field(
        None,
        gt=0,
        le=1e14,
        allow_inf_nan=False,
        description="Tokens in the fine-tuning dataset; with epochs, gives duration and cost",
    )
    epochs: float = Field(1.0, gt=0, le=100, allow_inf_nan=False)

    @field_validator("target_modules")
    @classmethod
    def _all_linear_alone(cls, v: list[str]) -> list[str]:
        """PEFT's "all-linear" already takes every linear layer: with other names it is
        ambiguous (the estimate would silently count the union), so it stands alone."""
        if ALL_LINEAR in v and len(v) > 1:
            raise ValueError(
                f"{ALL_LINEAR} already takes every linear layer: give it alone, or list the "
                "modules without it"
            )
        return v


class FinetuneMemoryOut(BaseModel):
    weights_gb: float
    adapters_gb: float
    gradients_gb: float
    optimizer_gb: float
    activations_gb: float
    overhead_gb: float
    total_gb: float
    capacity_gb: float
    fits: bool
    reason: str | None


class FinetuneResponse(BaseModel):
    method: str
    trainable_params: int
    memory: FinetuneMemoryOut
    tokens_per_s: float
    flops_per_token: float
    dataset_tokens: float | None = None
    epochs: float
    duration_hours: float | None = Field(
        None, description="dataset_tokens × epochs / tokens_per_s; null without dataset_tokens"
    )
    gpu_hours: float | None = Field(None, description="duration_hours × n_gpus")
    cost_usd: float | None = Field(
        None, description="gpu_hours × the organisation's effective $/GPU-hour; null if unpriced"
    )
    cost_reason: str | None = Field(None, description="why cost_usd (or duration) is null")
    assumptions: dict[str, Any]
    range: dict[str, RangeOut] = Ranges


class HfConfigRequest(BaseModel):
    config: dict[str, Any] = Field(description="The contents of a Hugging Face config.json")
    name: str = Field("custom", max_length=120)


class HfConfigResponse(BaseModel):
    architecture: ArchitectureIn
    total_params: int
    active_params: int
    notes: list[str]


Point = tuple[Annotated[int, Field(ge=1, le=1024)], Annotated[int, Field(ge=1, le=131072)]]


class CalibrationRunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: Key = "llama_3_1_8b"
    gpu: Key = Field(description="The catalog GPU this accelerator is (its spec is the bound)")
    engine: EngineName = Field(
        "hf-transformers", description="Engine whose efficiencies this calibration replaces"
    )
    prefill_points: list[Point] = Field(
        default_factory=lambda: [(1, 512), (1, 1024), (1, 2048), (4, 1024)],
        min_length=2,
        max_length=16,
    )
    decode_points: list[Point] = Field(
        default_factory=lambda: [(1, 512), (1, 2048), (8, 1024), (32, 1024)],
        min_length=2,
        max_length=16,
    )
    max_layers: int | None = Field(None, ge=1, le=1024)
    matmul_n: int = Field(8192, ge=64, le=16384)
    copy_gib: float = Field(2.0, gt=0, le=16, allow_inf_nan=False)
    warmup: int = Field(3, ge=1, le=20)
    iters: int = Field(10, ge=1, le=100)


class VllmImportRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: Key
    gpu: Key
    n_gpus: int = Field(1, ge=1, le=64)
    precision: WeightPrecision = "bf16"
    kv_cache_precision: KvPrecision = "bf16"
    engine: EngineName = "vllm"
    bench: dict[str, Any] = Field(
        description="The JSON that `vllm bench serve --save-result` wrote"
    )


class JobOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    kind: str
    status: str
    progress: int
    message: str
    result: dict[str, Any] | None
    error: str | None
    runner: str
    attempts: int = Field(description="Runs started; a job whose runner died is run again once")
    created_at: datetime
    started_at: datetime | None
    heartbeat_at: datetime | None = Field(description="Last sign of life from its runner")
    finished_at: datetime | None

    @field_validator("result")
    @classmethod
    def _without_file(cls, v: dict[str, Any] | None, info: ValidationInfo) -> dict[str, Any] | None:
        """A report job's file is fetched from ``/jobs/{id}/download``, not polled."""
        if v is None or "content_b64" not in v:
            return v
        return {k: val for k, val in v.items() if k != "content_b64"} | {
            "download": f"/api/v1/jobs/{info.data.get('id')}/download"
        }


class CalibrationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    gpu_key: str
    engine: str
    source: str
    device: str
    torch_version: str | None
    model_key: str | None
    matmul_tflops: float | None
    bandwidth_tbps: float | None
    prefill_efficiency: float
    decode_efficiency: float
    error_prefill_pct: float | None
    error_decode_pct: float | None
    bound_violations: int
    created_by: str
