"""Scaling-lab API schemas (contract names from the issue; counts of parameters and tokens are
plain numbers, losses are nats per token)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.estimates.schemas import ArchitectureIn, EngineName, GpuSpecIn, Key, WeightPrecision
from app.estimators.chinchilla import DEFAULT_FIT
from app.jobs.limits import MAX_BOOTSTRAP, MAX_BOOTSTRAP_WORK
from app.scaling.conditional import DEFAULT_COEFFICIENTS, Form

# Written out so the type checker sees them; tests/test_schema_literals.py keeps each equal to the
# registry it mirrors (FITS, PUBLISHED).
FitName = Literal["hoffmann_printed", "hoffmann_tex", "epoch_2024", "sardana_code"]
CoefficientSetName = Literal["bian_task3", "bian_1b"]
FormName = Form
# Parameters, tokens and FLOPs are counts: below 1 they mean nothing (and underflow the laws).
Count = Annotated[float, Field(ge=1, le=1e40, allow_inf_nan=False)]
Loss = Annotated[float, Field(gt=0, le=100, allow_inf_nan=False)]
Coefficient = Annotated[float, Field(ge=-1000, le=1000, allow_inf_nan=False)]
Fraction = Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ChinchillaConstants(Strict):
    """Your own fitted constants in place of a published fit."""

    E: float = Field(gt=0, le=100, allow_inf_nan=False)
    A: float = Field(gt=0, le=1e12, allow_inf_nan=False)
    B: float = Field(gt=0, le=1e12, allow_inf_nan=False)
    # published fits have exponents of 0.1-0.5 (reference/formulas.md §1); below 0.01 the
    # optimum's exponent 1/(α+β) leaves the floating-point range
    alpha: float = Field(ge=0.01, le=5, allow_inf_nan=False)
    beta: float = Field(ge=0.01, le=5, allow_inf_nan=False)


class HardwareBudget(Strict):
    gpu: Key | GpuSpecIn
    n_gpus: int = Field(ge=1, le=1_000_000)
    days: float = Field(gt=0, le=3650, allow_inf_nan=False)
    mfu: Fraction = 0.4
    precision: WeightPrecision = "bf16"


# ---- compute planner -----------------------------------------------------------------------
class ChinchillaRequest(Strict):
    compute_flops: Count | None = Field(None, description="Training budget in FLOPs")
    hardware: HardwareBudget | None = Field(None, description="Or: GPUs × days × MFU")
    params: Count | None = Field(None, description="With tokens: place a trained model")
    tokens: Count | None = None
    fit: FitName = DEFAULT_FIT
    constants: ChinchillaConstants | None = Field(None, description="Overrides fit")

    @model_validator(mode="after")
    def _one_budget(self) -> ChinchillaRequest:
        if (self.params is None) != (self.tokens is None):
            raise ValueError("give params and tokens together")
        given = sum(x is not None for x in (self.compute_flops, self.hardware, self.params))
        if given != 1:
            raise ValueError("give exactly one of compute_flops, hardware, or params and tokens")
        return self


class OptimumOut(BaseModel):
    fit: str
    compute_flops: float
    optimal_params: float
    optimal_tokens: float
    tokens_per_param: float
    loss: float
    note: str


class PositionOut(BaseModel):
    params: float
    tokens: float
    loss: float
    tokens_ratio: float = Field(description="D / D_opt at the same compute; below 1: undertrained")
    verdict: str
    excess_loss: float


class ChinchillaResponse(BaseModel):
    fit: str
    source: str
    compute_flops: float
    optimal_params: float
    optimal_tokens: float
    tokens_per_param: float
    loss: float
    by_fit: list[OptimumOut]
    position: PositionOut | None = None


# ---- inference-aware -----------------------------------------------------------------------
class CostInputs(Strict):
    """Hardware prices and utilisations (Sardana et al. §3.2). Defaults: the README example's
    MFUs (0.5 / 0.4 / 0.2) and the catalog price of each GPU."""

    train_gpu: Key = "h100_sxm_80gb"
    train_price_per_hour_usd: float | None = Field(None, gt=0, le=1000, allow_inf_nan=False)
    train_precision: WeightPrecision = "bf16"
    inference_gpu: Key = "h100_sxm_80gb"
    inference_price_per_hour_usd: float | None = Field(None, gt=0, le=1000, allow_inf_nan=False)
    inference_precision: WeightPrecision = "bf16"
    train_mfu: Fraction = 0.5
    prefill_mfu: Fraction = 0.4
    decode_mfu: Fraction = 0.2


class InferenceAwareRequest(Strict):
    target_loss: Loss | None = Field(None, description="Or params and tokens of a model")
    params: Count | None = None
    tokens: Count | None = None
    inference_tokens: float | None = Field(
        None, ge=0, le=1e30, allow_inf_nan=False, description="Lifetime tokens, input + output"
    )
    requests: float | None = Field(None, ge=0, le=1e20, allow_inf_nan=False)
    input_tokens_per_request: float = Field(70, ge=0, le=1e7, allow_inf_nan=False)
    output_tokens_per_request: float = Field(215, ge=0, le=1e7, allow_inf_nan=False)
    fit: FitName = "sardana_code"
    constants: ChinchillaConstants | None = None
    cost: CostInputs | None = Field(None, description="Minimise dollars instead of FLOPs")

    @model_validator(mode="after")
    def _inputs(self) -> InferenceAwareRequest:
        if (self.params is None) != (self.tokens is None):
            raise ValueError("give params and tokens together")
        if (self.target_loss is None) == (self.params is None):
            raise ValueError("give target_loss, or params and tokens of a reference model")
        if (self.inference_tokens is None) == (self.requests is None):
            raise ValueError("give inference_tokens or requests (with tokens per request)")
        return self


class DesignOut(BaseModel):
    params: float
    training_tokens: float
    tokens_per_param: float
    training_flops: float
    inference_flops: float
    total_flops: float
    cost_usd: float | None


class InferenceAwareResponse(BaseModel):
    fit: str
    objective: Literal["flops", "cost"]
    target_loss: float
    inference_input_tokens: float
    inference_output_tokens: float
    params: float
    training_tokens: float
    chinchilla_params: float
    chinchilla_tokens: float
    total_flops: float
    chinchilla_total_flops: float
    cost_usd: float | None
    chinchilla_cost_usd: float | None
    params_ratio: float
    tokens_ratio: float
    savings_ratio: float = Field(description="Lifetime FLOPs (or $) of the optimum / Chinchilla's")
    optimal: DesignOut
    chinchilla: DesignOut
    assumptions: dict[str, Any]


# ---- fit your own runs ---------------------------------------------------------------------
class TrainingRun(Strict):
    params: Count
    tokens: Count
    loss: Loss


class ChinchillaFitRequest(Strict):
    runs: list[TrainingRun] = Field(min_length=1, max_length=5000)
    bootstrap: int = Field(
        100,
        ge=0,
        le=MAX_BOOTSTRAP,
        description="Resamples for 95% intervals; more than 5 run as a job (202, poll the job)",
    )
    seed: int = Field(0, ge=0, le=2**31)

    @model_validator(mode="after")
    def _bounded_work(self) -> ChinchillaFitRequest:
        # Each resample refits every run: cap the product so one job stays within ~2 CPU minutes
        # (app/jobs/limits.py).
        if self.bootstrap * len(self.runs) > MAX_BOOTSTRAP_WORK:
            raise ValueError(
                f"bootstrap × runs must be at most {MAX_BOOTSTRAP_WORK:,} "
                f"(asked {self.bootstrap} × {len(self.runs)}); lower bootstrap"
            )
        return self


class ChinchillaFitResponse(BaseModel):
    params: dict[str, float]
    intervals: dict[str, Annotated[list[float], Field(min_length=2, max_length=2)]]
    a: float = Field(description="β/(α+β): N_opt ∝ C^a")
    converged: bool
    message: str
    n_runs: int
    rmse_log: float
    bootstrap_samples: int
    predicted: list[float]
    observed: list[float]


# ---- the conditional law -------------------------------------------------------------------
class ConditionalRun(Strict):
    n_non_embed: Count | None = None
    tokens: Count | None = None
    d_model: int | None = Field(None, ge=1, le=131072)
    r: float | None = Field(None, gt=0, le=1000, allow_inf_nan=False)
    architecture: ArchitectureIn | None = None
    loss: Loss
    reference_loss: Loss | None = None
    scale: str | None = Field(None, max_length=40, description="Group for the progressive check")

    @model_validator(mode="after")
    def _shape(self) -> ConditionalRun:
        if self.architecture is None and (
            self.n_non_embed is None or self.d_model is None or self.r is None
        ):
            raise ValueError("give an architecture, or n_non_embed, d_model and r")
        return self


class CoefficientsIn(Strict):
    """Your own conditional-law coefficients. The published fits are all of order 1 (reference
    formulas §2.6); |value| ≤ 1000 admits any plausible fit and keeps the law finite."""

    a0: Coefficient
    a1: Coefficient
    a2: Coefficient
    b0: Coefficient = 0.0
    b1: Coefficient
    b2: Coefficient
    form: FormName = "multiplicative"


class ConditionalFitRequest(Strict):
    runs: list[ConditionalRun] = Field(min_length=1, max_length=5000)
    form: FormName = "multiplicative"
    reference_fit: FitName = DEFAULT_FIT
    b0: float = Field(0.387, gt=0, le=100, allow_inf_nan=False)
    progressive: bool = True


class OptimumXR(BaseModel):
    x: float | None
    r: float | None


class StageOut(BaseModel):
    train_scales: list[str]
    test_scale: str
    n_train: int
    n_test: int
    mse: float | None
    spearman: float | None
    skipped: str | None


class ConditionalFitResponse(BaseModel):
    form: str
    coefficients: dict[str, float]
    mse: float
    spearman: float | None
    optimum: OptimumXR
    converged: bool
    message: str
    n_runs: int
    progressive: list[StageOut]
    predicted: list[float]
    observed: list[float]


# ---- architecture lab and search -----------------------------------------------------------
class LabWorkload(Strict):
    gpu: Key | GpuSpecIn = "a100_sxm_80gb"
    engine: EngineName = "vllm"
    input_tokens: int = Field(4096, ge=1, le=1_000_000)
    output_tokens: int = Field(1024, ge=1, le=1_000_000)
    batch_size: int | None = Field(None, ge=1, le=100_000)


class ArchitectureRequest(Strict):
    model: Key | ArchitectureIn = "llama_3_2_1b"
    d_model: int | None = Field(None, ge=64, le=131072, description="Override")
    r: float | None = Field(None, ge=0.1, le=100, allow_inf_nan=False, description="Sets d_ff")
    gqa: int | None = Field(None, ge=1, le=1024, description="Sets n_kv_heads")
    hold_params: bool = Field(
        True,
        description="Keep N_non-embed at the model's: d_model and r then set n_heads and d_ff "
        "(the paper varies r through n_heads at a fixed budget); false changes one field each",
    )
    training_tokens: Count | None = Field(None, description="Default 100·N_non-embed")
    coefficients: CoefficientSetName | CoefficientsIn = DEFAULT_COEFFICIENTS
    reference_fit: FitName = DEFAULT_FIT
    context_tokens: int = Field(5120, ge=1, le=10_000_000)
    workload: LabWorkload = Field(default_factory=LabWorkload)


class ArchitectureResponse(BaseModel):
    architecture: dict[str, Any]
    n_non_embed: int
    total_params: int
    x: float
    r: float
    gqa: int
    kv_bytes_per_token: float
    inference_flops_per_token: float
    reference_loss: float
    loss_multiplier: float
    predicted_loss: float
    optimum: OptimumXR
    throughput: float | None
    batch_size: int
    fits: bool
    assumptions: dict[str, Any]


class ArchitectureSearchRequest(Strict):
    n_non_embed: Count
    n_layers: int = Field(ge=1, le=1024)
    d_head: int = Field(ge=1, le=1024)
    training_tokens: Count
    coefficients: CoefficientSetName | CoefficientsIn = DEFAULT_COEFFICIENTS
    loss_target: Loss | None = None
    baseline: Key | ArchitectureIn | None = None
    reference_loss: Loss | None = Field(None, description="L_opt(N, D); default from the fit")
    reference_fit: FitName = DEFAULT_FIT
    workload: LabWorkload = Field(default_factory=LabWorkload)
    precision: WeightPrecision = "bf16"
    vocab: int = Field(128_256, ge=1, le=10_000_000)
    tied_embeddings: bool = True
    tolerance: float = Field(0.02, gt=0, le=0.25)
    d_model_step: int = Field(64, ge=8, le=4096)
    d_ff_step: int = Field(64, ge=8, le=4096)
    max_gqa: int = Field(16, ge=1, le=256)
    x_range: tuple[float, float] = (0.03, 0.15)
    r_range: tuple[float, float] = (0.5, 5.0)


class SearchDesign(BaseModel):
    d_model: int
    d_ff: int
    n_heads: int
    n_kv_heads: int
    n_non_embed: int
    x: float
    r: float
    gqa: int
    loss_multiplier: float
    predicted_loss: float
    predicted_throughput: float
    batch_size: int
    kv_bytes_per_token: float


class ArchitectureSearchResponse(BaseModel):
    candidates_evaluated: int
    under_target: int
    loss_target: float
    reference_loss: float
    baseline: SearchDesign | None
    loss_optimal: SearchDesign | None
    throughput_optimal: SearchDesign | None
    pareto: list[SearchDesign]
    assumptions: dict[str, Any]


class DesignIn(Strict):
    label: str = Field(min_length=1, max_length=60)
    architecture: ArchitectureIn


class MeasureRequest(Strict):
    """Time the decode step of up to five designs with torch on this machine (the first is the
    reference for the speed-ups)."""

    designs: list[DesignIn] = Field(min_length=1, max_length=5)
    gpu: Key = "a100_sxm_80gb"
    engine: EngineName = "vllm"
    batch: int = Field(8, ge=1, le=256)
    context: int = Field(1024, ge=1, le=32768)
    max_layers: int = Field(2, ge=1, le=4, description="Layers built and timed; time scaled")
