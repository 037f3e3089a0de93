"""Pretraining and fine-tuning: FLOPs, time, dollars, memory and throughput.

Pretraining (reference/formulas.md §5): FLOPs per token = 6·N + 12·L·n_h·d_h·T (PaLM App. B: the
weight matmuls forward and backward, plus attention over a context of T tokens); wall time =
FLOPs / (n_gpus · peak · MFU). The MFU is modelled (:mod:`app.estimators.training_mfu`) unless
the request gives one; a modelled MFU comes with its 10–90% range, the training family's band of
held-out residuals (:mod:`app.estimators.bands`), and ``notes`` say which parallelism terms were
applied and which were left out, and why. (Fine-tuning's default MFU 0.40 is formulas.md §5's
point estimate for large runs: Llama 3 405B 38–43%, PaLM 46%, MT-NLG 30%.)

Fine-tuning memory (formulas.md §6):

* full: mixed-precision Adam, 16 bytes per parameter (2 weights + 2 gradients + 12 fp32 master,
  m and v; ZeRO, Rajbhandari et al. 2020), sharded over the data-parallel GPUs by ZeRO stage
  (1: optimizer; 2: + gradients; 3: + weights, i.e. FSDP full shard);
* LoRA: frozen bf16 base, trainable r·(d_in + d_out) per adapted matrix (Hu et al. 2021) with
  2 + 2 + 12 bytes each; QLoRA: the base in NF4 with double quantisation, 0.516 bytes per
  parameter (Dettmers et al. 2023);
* activations: 34·s·b·h bytes per layer (Korthikanti et al. 2022, arXiv 2205.05198, bf16 with
  FlashAttention, which drops the 5·a·s/h term); with gradient checkpointing only each layer's
  2·s·b·h input is kept plus one layer recomputed; fp32 logits s·b·vocab·4 for the loss;
* a 1 GB runtime allowance (CUDA context, allocator; formulas.md §6.3 says 1–2 GB).

Fine-tuning model FLOPs per token: full 6·N, LoRA/QLoRA 4·N (no weight gradients for the frozen
base; formulas.md §6.2), + attention. As in PaLM's definition, MFU counts model FLOPs only: the
forward that gradient checkpointing recomputes is hardware work that lowers the MFU a run achieves,
not extra model FLOPs (so checkpointing changes memory here, not tokens/s).
QLoRA runs 1.56x slower than LoRA from dequantisation (LitGPT: 3.68 vs 2.36 min per 1k
iterations, Llama-2-7B; reference/estimator-landscape.md §5).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from app.estimators import bands
from app.estimators.architecture import Architecture
from app.estimators.chinchilla import DEFAULT_FIT, fit
from app.estimators.errors import FieldError
from app.estimators.hardware import GpuSpec
from app.estimators.precision import BYTES, Precision
from app.estimators.training_mfu import (
    FITTED_TERMS,
    GPUS_PER_NODE,
    RECOMPUTE_MFU_FACTOR,
    ZERO3_COMM_RATIO,
    MfuEstimate,
    Parallelism,
    estimate_mfu,
)

DEFAULT_MFU = 0.40
BUBBLE_WARNING = 0.20  # a pipeline bubble above this share gets a note saying how to cut it
DEFAULT_SEQUENCE_LENGTH = 4096
# Activation recomputation of a pretraining run: "full" repeats every layer's forward in the
# backward pass (MFU × RECOMPUTE_MFU_FACTOR); "selective" only the attention core; "none".
RECOMPUTATION_CHOICES = ("full", "selective", "none")
ADAM_BYTES = 12  # fp32 master copy + m + v
ACT_BYTES_PER_LAYER_TOKEN_HIDDEN = 34  # Korthikanti et al. 2022, without the s² term
CHECKPOINT_BYTES_PER_LAYER_TOKEN_HIDDEN = 2  # the bf16 layer input kept per layer
RUNTIME_OVERHEAD_BYTES = 1e9
QLORA_SLOWDOWN = 3.68 / 2.36
LORA_TARGETS = ("q", "k", "v", "o", "gate", "up", "down")
# The module names Hugging Face PEFT users type (LoraConfig.target_modules): the Llama/Mistral/Qwen
# projection names, Mixtral's expert names (w1 gate, w3 up, w2 down: modeling_mixtral.py) and
# PEFT's "all-linear" shortcut (every linear layer but the output head: peft tuners_utils.py).
PEFT_TARGET_ALIASES: dict[str, tuple[str, ...]] = {
    **{t: (t,) for t in LORA_TARGETS},
    "q_proj": ("q",),
    "k_proj": ("k",),
    "v_proj": ("v",),
    "o_proj": ("o",),
    "gate_proj": ("gate",),
    "up_proj": ("up",),
    "down_proj": ("down",),
    "w1": ("gate",),
    "w3": ("up",),
    "w2": ("down",),
    "all-linear": LORA_TARGETS,
}
PEFT_TARGET_NAMES: tuple[str, ...] = tuple(PEFT_TARGET_ALIASES)
SECONDS_PER_DAY = 86400.0


class TrainingError(FieldError):
    pass


def _positive(name: str, value: float) -> None:
    if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
        raise TrainingError(f"{name} must be a positive number", field=name)


@dataclass(frozen=True, slots=True)
class TrainingEstimate:
    params: float
    tokens: float
    flops: float
    flops_per_token: float
    gpu_hours: float
    wall_clock_days: float
    cost_usd: float | None
    mfu: float
    # The modelled MFU's 10-90% band (the training family's held-out residuals); None when the
    # MFU was given by the request or no band exists (``assumptions["mfu_range_source"]`` says).
    mfu_range: tuple[float, float] | None
    compute_optimal: dict[str, Any]
    assumptions: dict[str, Any]
    notes: list[str]  # the parallelism terms applied and left out, and why

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def training_flops_per_token(
    params: float, arch: Architecture | None, sequence_length: int
) -> float:
    attention = 0.0
    if arch is not None:
        attention = 12.0 * arch.n_layers * arch.n_heads * arch.d_head * sequence_length
    return 6.0 * params + attention


def estimate_training(
    *,
    params: float | None,
    arch: Architecture | None,
    tokens: float,
    gpu: GpuSpec,
    n_gpus: int,
    mfu: float | None = None,
    sequence_length: int = DEFAULT_SEQUENCE_LENGTH,
    precision: Precision = Precision.bf16,
    chinchilla_fit: str = DEFAULT_FIT,
    tensor_parallel: int | None = None,
    pipeline_parallel: int | None = None,
    micro_batches: int | None = None,
    zero_stage: int | None = None,
    virtual_stages: int | None = None,
    activation_recomputation: str | None = None,
) -> TrainingEstimate:
    """Pretraining compute, time and cost, and the Chinchilla-optimal split of the same FLOPs.

    ``mfu`` None: the MFU model of :mod:`app.estimators.training_mfu` (the model's width against
    the GPU's ridge point, the cluster size and the parallelism given, with the coefficients
    fitted on published pretraining reports). The parallelism fields are optional: one not given
    leaves its term out (the fitted GEMM efficiency absorbs it, as for the reports that do not
    state it), and ``notes`` says so. ``virtual_stages`` > 1: the interleaved 1F1B schedule
    (Narayanan et al. 2021 §2.2.2), which needs micro_batches a multiple of pipeline_parallel.
    ``activation_recomputation`` "full" multiplies the MFU by 3/4 (the repeated forward);
    "selective", "none" or None leave it out."""
    if arch is None and params is None:
        raise TrainingError("give a model or a parameter count", field="params")
    n = float(arch.active_params if arch is not None else params)  # type: ignore[arg-type]
    _positive("params", n)
    _positive("tokens", tokens)
    if mfu is not None and not (0 < mfu <= 1):
        raise TrainingError("mfu must be in (0, 1]", field="mfu")
    if n_gpus < 1:
        raise TrainingError("n_gpus must be at least 1", field="n_gpus")
    par = _parallelism(
        n_gpus,
        tensor_parallel,
        pipeline_parallel,
        micro_batches,
        zero_stage,
        virtual_stages,
        arch,
        activation_recomputation,
    )
    per_token = training_flops_per_token(n, arch, sequence_length)
    flops = per_token * tokens
    peak = gpu.peak_flops(precision)
    mfu_range: tuple[float, float] | None = None
    if mfu is None:
        modelled = estimate_mfu(n, arch, gpu, peak, parallelism=par)
        mfu, mfu_source = modelled.mfu, modelled.note
        notes = parallelism_notes(par, modelled)
        band = bands.band("training", gpu.key)
        if band is None:
            range_source = "no held-out training rows to build a band from"
        else:
            lo_hi = band.speed(mfu)
            mfu_range = (lo_hi["p10"], lo_hi["p90"])
            range_source = (
                "10-90% of the training family's held-out residuals "
                f"({band.n} rows, {'all GPUs' if band.scope == '*' else band.scope + ' GPUs'})"
            )
    else:
        mfu_source = "given by the request"
        range_source = "none: the MFU was given by the request"
        given = [
            name
            for name, v in (
                ("tensor_parallel", tensor_parallel),
                ("pipeline_parallel", pipeline_parallel),
                ("micro_batches", micro_batches),
                ("zero_stage", zero_stage),
                ("virtual_stages", virtual_stages),
                ("activation_recomputation", activation_recomputation),
            )
            if v is not None
        ]
        notes = (
            [f"{', '.join(given)} not applied: the MFU was given by the request"] if given else []
        )
    seconds = flops / (n_gpus * peak * mfu)
    gpu_hours = seconds * n_gpus / 3600
    price = gpu.price_per_hour_usd
    f = fit(chinchilla_fit)
    c6 = 6.0 * n * tokens
    n_opt, d_opt = f.optimum(c6)
    total = float(arch.total_params) if arch is not None else n
    return TrainingEstimate(
        params=n,
        tokens=tokens,
        flops=flops,
        flops_per_token=per_token,
        gpu_hours=gpu_hours,
        wall_clock_days=seconds / SECONDS_PER_DAY,
        cost_usd=None if price is None else gpu_hours * price,
        mfu=mfu,
        mfu_range=mfu_range,
        compute_optimal={
            "params": n_opt,
            "tokens": d_opt,
            "tokens_per_param": d_opt / n_opt if n_opt > 0 else None,
            "loss": f.loss(n_opt, d_opt),
            "loss_of_this_run": f.loss(total, tokens),
            "compute_flops": c6,
            "fit": f.name,
            "fit_source": f.source,
        },
        assumptions={
            "flops_formula": "6·N·D + 12·L·n_h·d_h·T·D (PaLM App. B)"
            if arch is not None
            else "6·N·D (no architecture given: attention not counted)",
            "sequence_length": sequence_length if arch is not None else None,
            "peak_tflops": peak / 1e12,
            "mfu_source": mfu_source,
            "mfu_range_source": range_source,
            "price_per_gpu_hour_usd": price,
            "gpu": gpu.name,
            "n_gpus": n_gpus,
            "tensor_parallel": tensor_parallel,
            "pipeline_parallel": pipeline_parallel,
            "micro_batches": micro_batches,
            "zero_stage": zero_stage,
            "virtual_stages": virtual_stages,
            "activation_recomputation": activation_recomputation,
        },
        notes=notes,
    )


def _parallelism(
    n_gpus: int,
    tp: int | None,
    pp: int | None,
    micro_batches: int | None,
    zero_stage: int | None,
    virtual_stages: int | None = None,
    arch: Architecture | None = None,
    recomputation: str | None = None,
) -> Parallelism:
    for name, v in (
        ("tensor_parallel", tp),
        ("pipeline_parallel", pp),
        ("micro_batches", micro_batches),
        ("virtual_stages", virtual_stages),
    ):
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
            raise TrainingError(f"{name} must be a positive integer", field=name)
    if zero_stage is not None and zero_stage not in (0, 1, 2, 3):
        raise TrainingError("zero_stage must be 0, 1, 2 or 3", field="zero_stage")
    if recomputation is not None and recomputation not in RECOMPUTATION_CHOICES:
        raise TrainingError(
            f"activation_recomputation must be one of {', '.join(RECOMPUTATION_CHOICES)}",
            field="activation_recomputation",
        )
    model_parallel = (tp or 1) * (pp or 1)
    if n_gpus % model_parallel:
        field = "pipeline_parallel" if pp else "tensor_parallel"
        raise TrainingError(
            f"tensor_parallel × pipeline_parallel ({model_parallel}) must divide n_gpus ({n_gpus})",
            field=field,
        )
    if arch is not None and tp is not None and (tp > arch.n_heads or arch.n_heads % tp):
        raise TrainingError(
            f"tensor_parallel ({tp}) must divide the model's {arch.n_heads} attention heads "
            "(each GPU holds whole heads)",
            field="tensor_parallel",
        )
    if arch is not None and pp is not None and pp > arch.n_layers:
        raise TrainingError(
            f"pipeline_parallel ({pp}) exceeds the model's {arch.n_layers} layers "
            "(every stage needs at least one layer)",
            field="pipeline_parallel",
        )
    v = virtual_stages or 1
    if v > 1:
        if pp is None or pp < 2:
            raise TrainingError(
                "virtual_stages > 1 (interleaved 1F1B) needs pipeline_parallel > 1",
                field="virtual_stages",
            )
        if micro_batches is None:
            raise TrainingError(
                "virtual_stages > 1 (interleaved 1F1B) needs micro_batches", field="micro_batches"
            )
        if micro_batches % pp:
            raise TrainingError(
                f"the interleaved schedule needs micro_batches ({micro_batches}) to be a multiple "
                f"of pipeline_parallel ({pp}) (Narayanan et al. 2021 §2.2.2)",
                field="micro_batches",
            )
        if arch is not None and pp * v > arch.n_layers:
            raise TrainingError(
                f"pipeline_parallel × virtual_stages ({pp * v}) exceeds the model's "
                f"{arch.n_layers} layers (every model chunk needs at least one layer)",
                field="virtual_stages",
            )
    return Parallelism(
        n_gpus=n_gpus,
        tp=tp,
        pp=pp,
        micro_batches=micro_batches,
        zero_stage=zero_stage,
        virtual_stages=v,
        recomputation=recomputation,
    )


def zero_stage_effect() -> str:
    """What the ZeRO stage does to the modelled MFU with the current fit, in words."""
    if FITTED_TERMS.cluster == 0:
        return (
            "with the current fit the ZeRO stage does not change the estimate: the data-parallel "
            "(cluster) term fitted to 0 on the published runs, so the ZeRO-3 factor "
            f"({ZERO3_COMM_RATIO:g}× the data-parallel traffic) multiplies 0"
        )
    return (
        f"ZeRO-3 multiplies the data-parallel (cluster) term, {FITTED_TERMS.cluster:.4f} × "
        f"log2(nodes), by {FITTED_TERMS.zero3_comm:.2f}; stages 0–2 move the same data-parallel "
        "volume and give the same estimate"
    )


def parallelism_notes(par: Parallelism, est: MfuEstimate) -> list[str]:
    """Which parallelism terms the modelled MFU applied and which it left out, and why."""
    notes: list[str] = []
    pp, m, v = par.pp, par.micro_batches, par.virtual_stages
    if pp is not None and pp > 1 and m is None:
        notes.append(
            f"pipeline bubble left out: pipeline_parallel {pp} was given without micro_batches; "
            "give micro_batches for the 1F1B bubble (p − 1)/(m + p − 1)"
        )
    elif m is not None and (pp is None or pp == 1):
        notes.append("micro_batches left out: without pipeline stages there is no bubble")
    elif pp is not None and m is not None:
        schedule = "1F1B" if v == 1 else f"interleaved 1F1B, {v} virtual stages"
        notes.append(
            f"pipeline bubble applied ({schedule}, Narayanan et al. 2021): "
            f"(p − 1)/(v·m + p − 1) = ({pp} − 1)/({v}·{m} + {pp} − 1) = {est.bubble:.3f}"
        )
        if est.bubble > BUBBLE_WARNING:
            notes.append(
                f"the pipeline bubble costs {est.bubble:.0%}: more micro-batches or "
                + ("an interleaved schedule (virtual_stages)" if v == 1 else "more virtual stages")
                + " would cut it"
            )
    if par.tp is None:
        notes.append("tensor-parallel communication left out: tensor_parallel not given")
    elif par.tp == 1:
        notes.append("tensor-parallel communication: none at tensor_parallel 1")
    else:
        notes.append(
            f"tensor-parallel communication applied: {est.tp_overhead:.3f} of the GEMM time "
            f"(TP {par.tp} all-reduces)"
        )
    if par.recomputation is None:
        notes.append(
            "activation recomputation not given: modelled without full recomputation (none or "
            f"selective); full recomputation would multiply the MFU by {RECOMPUTE_MFU_FACTOR:g}"
        )
    elif par.full_recompute:
        notes.append(
            f"full activation recomputation: MFU × {RECOMPUTE_MFU_FACTOR:g} (every layer's forward "
            "runs again in the backward pass: 4 passes over the weights where the model's FLOPs "
            "count 3; Korthikanti et al. 2022)"
        )
    elif par.recomputation == "selective":
        notes.append(
            "selective activation recomputation: modelled as none (it repeats only the attention "
            "core, a few per cent of the FLOPs)"
        )
    else:
        notes.append("no activation recomputation: no forward pass is repeated")
    nodes = par.n_gpus / GPUS_PER_NODE
    if par.zero_stage is not None:
        if FITTED_TERMS.cluster > 0 and nodes <= 1:
            notes.append(
                f"zero_stage {par.zero_stage}: no effect within one node (the cluster term is 0)"
            )
        else:
            notes.append(f"zero_stage {par.zero_stage}: {zero_stage_effect()}")
    return notes


# --- fine-tuning ---------------------------------------------------------------------------


def canonical_targets(targets: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """The adapted matrices (``LORA_TARGETS`` order, each once) that ``targets`` names, in our
    short names or Hugging Face PEFT's (``q_proj``, ``all-linear``, ...)."""
    chosen: set[str] = set()
    for t in targets:
        names = PEFT_TARGET_ALIASES.get(t.strip() if isinstance(t, str) else t)
        if names is None:
            raise TrainingError(
                f"unknown target module '{t}'; allowed: {', '.join(PEFT_TARGET_NAMES)}",
                field="target_modules",
            )
        chosen.update(names)
    return tuple(t for t in LORA_TARGETS if t in chosen)


def lora_trainable_params(arch: Architecture, rank: int, targets: tuple[str, ...]) -> int:
    """n_layers · Σ r·(d_in + d_out) over the adapted matrices (Hu et al. 2021); MLP matrices
    count once per expert."""
    d, f = arch.d_model, arch.d_ff
    q_out = arch.n_heads * arch.d_head
    kv_out = arch.n_kv_heads * arch.d_head
    dims = {
        "q": (d, q_out, 1),
        "k": (d, kv_out, 1),
        "v": (d, kv_out, 1),
        "o": (q_out, d, 1),
        "gate": (d, f, arch.n_experts),
        "up": (d, f, arch.n_experts),
        "down": (f, d, arch.n_experts),
    }
    total = 0
    for t in canonical_targets(targets):
        d_in, d_out, copies = dims[t]
        total += copies * rank * (d_in + d_out)
    return arch.n_layers * total


@dataclass(frozen=True, slots=True)
class FinetuneEstimate:
    method: str
    trainable_params: int
    memory: dict[str, Any]
    tokens_per_s: float
    flops_per_token: float
    assumptions: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def estimate_finetune(
    arch: Architecture,
    gpu: GpuSpec,
    *,
    method: str,
    n_gpus: int = 1,
    lora_rank: int = 16,
    target_modules: tuple[str, ...] = LORA_TARGETS,
    sequence_length: int = 2048,
    micro_batch_size: int = 1,
    gradient_checkpointing: bool = True,
    zero_stage: int | None = None,
    mfu: float = DEFAULT_MFU,
) -> FinetuneEstimate:
    """Memory per GPU and training throughput of a full, LoRA or QLoRA fine-tune."""
    if method not in ("full", "lora", "qlora"):
        raise TrainingError("method must be one of full, lora, qlora", field="method")
    for name, v in (
        ("n_gpus", n_gpus),
        ("sequence_length", sequence_length),
        ("micro_batch_size", micro_batch_size),
        ("lora_rank", lora_rank),
    ):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise TrainingError(f"{name} must be a positive integer", field=name)
    if not (0 < mfu <= 1):
        raise TrainingError("mfu must be in (0, 1]", field="mfu")
    if method != "full" and not target_modules:
        raise TrainingError("LoRA needs at least one target module", field="target_modules")
    if method != "full":
        target_modules = canonical_targets(target_modules)
    stage = (3 if n_gpus > 1 else 0) if zero_stage is None else zero_stage
    if stage not in (0, 1, 2, 3):
        raise TrainingError("zero_stage must be 0, 1, 2 or 3", field="zero_stage")
    shard = n_gpus if stage else 1

    p = arch.total_params
    if method == "full":
        trainable = p
        weights = p * 2.0 / (shard if stage >= 3 else 1)
        adapters = 0.0
        grads = p * 2.0 / (shard if stage >= 2 else 1)
        optimizer = p * ADAM_BYTES / shard
    else:
        trainable = lora_trainable_params(arch, lora_rank, tuple(target_modules))
        base_bytes = BYTES[Precision.nf4] if method == "qlora" else 2.0
        weights = p * base_bytes / (shard if stage >= 3 else 1)
        adapters = trainable * 2.0 / (shard if stage >= 3 else 1)
        grads = trainable * 2.0 / (shard if stage >= 2 else 1)
        optimizer = trainable * ADAM_BYTES / shard
    tokens = float(sequence_length * micro_batch_size)
    h, layers = arch.d_model, arch.n_layers
    if gradient_checkpointing:
        acts = (
            tokens
            * h
            * (CHECKPOINT_BYTES_PER_LAYER_TOKEN_HIDDEN * layers + ACT_BYTES_PER_LAYER_TOKEN_HIDDEN)
        )
    else:
        acts = tokens * h * ACT_BYTES_PER_LAYER_TOKEN_HIDDEN * layers
    acts += tokens * arch.vocab * 4.0  # fp32 logits for the loss
    # FSDP gathers one layer's full weights at a time when they are sharded.
    gathered = 0.0
    if stage >= 3 and n_gpus > 1:
        per_layer = (arch.non_embedding_params - arch.d_model) / layers
        gathered = per_layer * (2.0 if method != "qlora" else BYTES[Precision.nf4])
    overhead = RUNTIME_OVERHEAD_BYTES
    total = weights + adapters + grads + optimizer + acts + gathered + overhead
    capacity = gpu.capacity_bytes
    fits = total <= capacity
    reason = (
        None
        if fits
        else f"needs {total / 1e9:,.1f} GB per GPU; {gpu.name} has {capacity / 1e9:,.1f} GB"
    )

    n_active = arch.active_params
    base = 6.0 if method == "full" else 4.0
    attention = 12.0 * layers * arch.n_heads * arch.d_head * sequence_length
    per_token = base * n_active + attention
    tok_s = n_gpus * gpu.peak_flops(Precision.bf16) * mfu / per_token
    if method == "qlora":
        tok_s /= QLORA_SLOWDOWN
    return FinetuneEstimate(
        method=method,
        trainable_params=int(trainable),
        memory={
            "weights_gb": weights / 1e9,
            "adapters_gb": adapters / 1e9,
            "gradients_gb": grads / 1e9,
            "optimizer_gb": optimizer / 1e9,
            "activations_gb": (acts + gathered) / 1e9,
            "overhead_gb": overhead / 1e9,
            "total_gb": total / 1e9,
            "capacity_gb": capacity / 1e9,
            "fits": fits,
            "reason": reason,
        },
        tokens_per_s=tok_s,
        flops_per_token=per_token,
        assumptions={
            "zero_stage": stage,
            "gradient_checkpointing": gradient_checkpointing,
            "mfu": mfu,
            "lora_rank": lora_rank if method != "full" else None,
            "target_modules": list(target_modules) if method != "full" else None,
            "optimizer": "AdamW, mixed precision (2 + 2 + 12 bytes per trainable parameter)",
            "base_weights": {"full": "bf16", "lora": "bf16 (frozen)", "qlora": "NF4 + DQ"}[method],
            "qlora_slowdown": round(QLORA_SLOWDOWN, 3) if method == "qlora" else None,
            "runtime_overhead_gb": overhead / 1e9,
        },
    )


@dataclass(frozen=True, slots=True)
class FinetuneRun:
    """Time and money of a fine-tune over a dataset: tokens × epochs at the estimated rate."""

    dataset_tokens: float
    epochs: float
    tokens: float
    duration_hours: float
    gpu_hours: float
    cost_usd: float | None
    cost_reason: str | None


def finetune_run(
    *,
    tokens_per_s: float,
    n_gpus: int,
    dataset_tokens: float,
    epochs: float = 1.0,
    price_per_gpu_hour_usd: float | None,
    gpu_name: str = "this GPU",
) -> FinetuneRun:
    """duration = dataset_tokens · epochs / tokens_per_s (the whole cluster's rate);
    GPU-hours = duration · n_gpus; cost = GPU-hours · price per GPU-hour, or None with the
    reason when the GPU has no price (never 0)."""
    _positive("dataset_tokens", dataset_tokens)
    _positive("epochs", epochs)
    _positive("tokens_per_s", tokens_per_s)
    if isinstance(n_gpus, bool) or not isinstance(n_gpus, int) or n_gpus < 1:
        raise TrainingError("n_gpus must be a positive integer", field="n_gpus")
    tokens = float(dataset_tokens) * float(epochs)
    hours = tokens / tokens_per_s / 3600.0
    gpu_hours = hours * n_gpus
    if price_per_gpu_hour_usd is None:
        cost, reason = None, f"{gpu_name} has no price per GPU-hour: set one to get a cost"
    else:
        cost, reason = gpu_hours * price_per_gpu_hour_usd, None
    return FinetuneRun(
        dataset_tokens=float(dataset_tokens),
        epochs=float(epochs),
        tokens=tokens,
        duration_hours=hours,
        gpu_hours=gpu_hours,
        cost_usd=cost,
        cost_reason=reason,
    )
