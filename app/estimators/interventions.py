"""How each scaling-axis option changes a deployment's serving numbers and costs.

A :class:`Scenario` is a deployment as the estimators see it (model, GPU, engine, precisions,
request shape, traffic, SLOs). :func:`evaluate` prices it: TTFT, TPOT, the largest batch whose TPOT
stays within the SLO, requests/s per replica at that batch, replicas for the traffic, monthly
GPU-hours and dollars. Each intervention maps a scenario to a new one plus one-off costs;
:func:`apply_all` chains them in the canonical order (model-changing options first, serving-layer
options last, so serving changes apply to the model the others produce) and :func:`impact`
returns the deltas.

Formulas and sources, per intervention:

* speculative decoding — Leviathan et al. 2023 (arXiv 2211.17192) Theorem 3.8 speed-up of the
  decode phase, at the batch being estimated: the verification step of gamma + 1 tokens per
  sequence costs more than a plain step once the batch makes the step compute-bound, so the gain
  shrinks with the batch and turns into a slowdown (economics.md §5); the draft model's weights
  (``c`` × target weights, the cost-ratio proxy) are added to memory;
* prefix caching — a share of each prompt's tokens is already in the KV cache: prefill computes
  only the rest, attending over the whole prompt
  (:func:`app.estimators.inference.with_prefix_cache`);
* quantisation — weight and KV bytes by precision (reference/formulas.md §4.2), peaks by precision;
* PagedAttention — under 4% KV waste against 38.2% live for contiguous reservation (vLLM paper);
* retrieval — k × chunk extra input tokens per request and the retriever's latency added to TTFT
  (formulas.md §4; Lewis et al. 2020); one-off: embedding the corpus at 2·N_embed FLOPs per token,
  and for GraphRAG the LLM's extraction passes over it at 2·N_active FLOPs per token (Edge et al.);
* reasoning-time compute — CoT tokens generated before the answer and k samples sharing one
  prompt prefill: FLOPs 2·N·(P + k·G) (Wang et al. 2023, formulas.md §7.1);
* longer context, a MoE or smaller/larger base model — a new request shape or architecture;
* LoRA adapter served unmerged — + r·(d_in + d_out) weights per adapted matrix read and multiplied
  per token (Hu et al. 2021: zero added latency once merged); one-off: the fine-tune's GPU-hours;
* fine-tuning and alignment — one-off GPU-hours from the training estimator: tokens × FLOPs per
  token / (peak × MFU); DPO runs the policy (6N) and a frozen reference (2N) on chosen and
  rejected responses (Rafailov et al. 2023).
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Protocol

from app.estimators.architecture import Architecture
from app.estimators.engines import EngineProfile
from app.estimators.errors import FieldError
from app.estimators.hardware import GpuSpec
from app.estimators.inference import (
    EstimateError,
    InferenceEstimate,
    ServingConfig,
    Workload,
    estimate_inference,
    speculative_verify_ratio,
    step_model,
    with_prefix_cache,
    with_speculative,
)
from app.estimators.precision import Precision
from app.estimators.simulation import HOURS_PER_MONTH
from app.estimators.speculative import speedup_at_load
from app.estimators.training import DEFAULT_MFU, lora_trainable_params
from app.formatting import compact

SECONDS_PER_DAY = 86400.0
EVALUATE_CACHE_SIZE = 8192  # ServingOutcomes of a few hundred bytes each


class InterventionError(FieldError):
    pass


@dataclass(frozen=True, slots=True)
class Scenario:
    arch: Architecture
    gpu: GpuSpec
    engine: EngineProfile
    cfg: ServingConfig
    input_tokens: int
    output_tokens: int
    requests_per_day: float
    ttft_slo_ms: float
    tpot_slo_ms: float
    speculative: tuple[float, int, float] | None = None  # (alpha, gamma, c)
    extra_ttft_ms: float = 0.0  # e.g. retrieval before the prompt is built
    cot_tokens: int = 0  # reasoning tokens generated before the answer
    samples: int = 1  # parallel samples per request (shared prompt)
    adapter_params: int = 0  # unmerged LoRA parameters served with the base
    extra_weight_bytes: float = 0.0  # e.g. the draft model
    peak_to_average: float = 1.0  # busiest hour / 24-hour mean: replicas are sized for the peak
    index_vectors: float = 0.0  # vectors held in a vector database (retrieval over a corpus)
    cached_prompt_share: float = 0.0  # prompt tokens served from the prefix cache (0-1)
    # Requests the GPUs serve per incoming request, in requests of this scenario: response-cache
    # misses, a cascade's routed share in this model's GPU-seconds, a guardrail's checks.
    load_factor: float = 1.0
    # The deployment's 24 hourly weights, when it has a profile: provisioned GPU-hours follow it
    hourly_profile: tuple[float, ...] | None = None
    # The organisation's effective price per GPU-hour of each catalog GPU, (key, price or None
    # for unpriced): GPU right-sizing prices another GPU type with it. None: the shipped defaults.
    gpu_prices: tuple[tuple[str, float | None], ...] | None = None


@dataclass(frozen=True, slots=True)
class ServingOutcome:
    fits: bool
    ttft_ms: float
    tpot_ms: float
    time_to_answer_ms: float  # TTFT + CoT tokens before the answer's first token
    batch_at_slo: int
    requests_per_s_per_replica: float
    replicas: int | None
    monthly_gpu_hours: float | None
    monthly_cost_usd: float | None
    cost_per_1k_requests_usd: float | None
    meets_slo: bool
    reason: str | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def slo_shortfall(
    ttft_ms: float, tpot_ms: float, ttft_slo_ms: float, tpot_slo_ms: float, batch: int
) -> str | None:
    """Why figures measured at ``batch`` miss the SLOs, or None when they meet both: the one
    check behind a verdict shown beside those figures. TTFT is that of an idle server, so no
    batch helps it; TPOT grows with the batch, so missing it at batch 1 means no batch meets it."""
    misses = []
    if ttft_ms > ttft_slo_ms:
        misses.append(f"TTFT {ttft_ms:,.1f} ms exceeds the {ttft_slo_ms:,g} ms SLO")
    if tpot_ms > tpot_slo_ms:
        msg = f"TPOT {tpot_ms:,.1f} ms at batch {batch} exceeds the {tpot_slo_ms:,g} ms SLO"
        misses.append(msg + (", so no batch meets it" if batch == 1 else ""))
    return "; ".join(misses) or None


def _estimate(s: Scenario, batch: int) -> InferenceEstimate:
    gen = s.output_tokens + s.cot_tokens
    wl = Workload(s.input_tokens, gen, batch * s.samples)
    est = estimate_inference(s.arch, s.gpu, s.engine, s.cfg, wl)
    if s.cached_prompt_share:
        est = with_prefix_cache(est, s.arch, s.gpu, s.engine, s.cfg, wl, s.cached_prompt_share)
    if s.speculative is not None:
        a, g, c = s.speculative
        b, ctx = batch * s.samples, s.input_tokens + (gen - 1) / 2
        ratio = speculative_verify_ratio(s.arch, s.gpu, s.engine, s.cfg, b, ctx, g)
        best = speculative_verify_ratio(s.arch, s.gpu, s.engine, s.cfg, b, ctx, g, ideal=True)
        est = with_speculative(
            est,
            alpha=a,
            gamma=g,
            c=c,
            n_gpus=s.cfg.n_gpus,
            price_per_gpu_hour=s.gpu.price_per_hour_usd,
            verify_ratio=ratio,
            best_verify_ratio=best,
        )
    return est


def _tpot_ms(s: Scenario, batch: int) -> float:
    """``_estimate(s, batch).timing.tpot_ms`` by the same operations without the rest of the
    estimate (memory, prefill, the best case, the assumptions): the decode step at the mean
    context over speculative decoding's gain at this batch (the prefix cache leaves decode as
    it is). The SLO-limited batch's bisection reads only this, once the batch-1 estimate has
    validated the scenario."""
    gen = s.output_tokens + s.cot_tokens
    b, ctx = batch * s.samples, s.input_tokens + (gen - 1) / 2
    tpot = step_model(s.arch, s.gpu, s.engine, s.cfg).decode(b, ctx).time_s * 1e3
    if s.speculative is not None:
        a, g, c = s.speculative
        ratio = speculative_verify_ratio(s.arch, s.gpu, s.engine, s.cfg, b, ctx, g)
        tpot = tpot / speedup_at_load(a, g, c, ratio)
    return tpot


def speculative_gain(s: Scenario, batch: float) -> float:
    """Speculative decoding's decode-step gain at ``batch`` running sequences (1.0 without it):
    Leviathan et al.'s expected tokens over the draft cost plus the verification step's cost
    relative to a plain step at that batch (economics.md §5: the gain shrinks with the load)."""
    if s.speculative is None:
        return 1.0
    a, g, c = s.speculative
    ctx = s.input_tokens + (s.output_tokens + s.cot_tokens - 1) / 2
    b = max(1, round(batch))
    return speedup_at_load(
        a, g, c, speculative_verify_ratio(s.arch, s.gpu, s.engine, s.cfg, b, ctx, g)
    )


def _adapter_tpot_factor(s: Scenario) -> float:
    """Unmerged adapters: extra bytes read per decode step relative to the base weights."""
    if not s.adapter_params:
        return 1.0
    return 1.0 + s.adapter_params / s.arch.active_params


def evaluate(s: Scenario) -> ServingOutcome:
    """Price a scenario: latency, the SLO-limited batch, replicas and the monthly bill.

    Memoised (least recently used, :data:`EVALUATE_CACHE_SIZE` entries per process; the result
    is frozen and shared): the computation is deterministic in the scenario, and the same
    scenario is priced again and again (a card prices the plain scenario beside the changed one,
    a right-sizing or a cascade evaluates its candidate set-ups, the portfolio search about four
    times per serving state). The memo's key is the scenario and the types of its integer
    fields (1500 and 1500.0 are equal, but only the integer passes validation); a scenario that
    cannot be hashed is evaluated every time. :func:`evaluate_uncached` always computes."""
    kinds = (
        type(s.input_tokens),
        type(s.output_tokens),
        type(s.cot_tokens),
        type(s.samples),
        type(s.adapter_params),
        type(s.cfg.n_gpus),
    )
    try:
        hash(s)
    except TypeError:
        return evaluate_uncached(s)
    return _evaluate_cached(s, kinds)


def evaluate_cache_clear() -> None:
    """Forget every memoised :func:`evaluate` result (benchmarks time cold runs)."""
    _evaluate_cached.cache_clear()


def evaluate_uncached(s: Scenario) -> ServingOutcome:
    """:func:`evaluate` without the memo."""
    one = _estimate(s, 1)
    factor = _adapter_tpot_factor(s)
    ttft = one.timing.ttft_ms + s.extra_ttft_ms
    tpot = one.timing.tpot_ms * factor
    answer = ttft + s.cot_tokens * tpot
    mem = one.memory
    extra_gb = s.extra_weight_bytes / s.cfg.n_gpus / 1e9
    fits = mem.fits and mem.total_gb + extra_gb <= mem.capacity_gb
    reason = mem.reason if not mem.fits else (None if fits else "the draft model does not fit")
    meets = fits and ttft <= s.ttft_slo_ms and tpot <= s.tpot_slo_ms
    if not fits:
        return ServingOutcome(
            False, ttft, tpot, answer, 0, 0.0, None, None, None, None, False, reason
        )
    # The largest batch (requests) that fits and keeps TPOT within the SLO (TPOT grows with batch).
    # (the bisection reads only TPOT, _tpot_ms; the batch found is then estimated in full)
    hi = max(1, mem.max_batch_size // s.samples)
    lo = 1
    if one.timing.tpot_ms * factor > s.tpot_slo_ms:
        hi = 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if _tpot_ms(s, mid) * factor <= s.tpot_slo_ms:
            lo = mid
        else:
            hi = mid - 1
    best = one if lo == 1 else _estimate(s, lo)
    t = best.timing
    # tpot_ms carries speculative decoding's gain at this batch (decode.time_s is the plain step)
    batch_time = t.prefill.time_s + t.decode_steps * t.tpot_ms / 1e3 * factor
    req_s = lo / batch_time
    rate = s.requests_per_day * s.load_factor / SECONDS_PER_DAY
    replicas = max(1, math.ceil(rate / req_s)) if rate > 0 else 1
    hours = replicas * s.cfg.n_gpus * HOURS_PER_MONTH
    price = s.gpu.price_per_hour_usd
    monthly = None if price is None else hours * price
    per_1k = None if price is None else price * s.cfg.n_gpus / 3600 / req_s * 1000 * s.load_factor
    return ServingOutcome(
        True, ttft, tpot, answer, lo, req_s, replicas, hours, monthly, per_1k, meets, None
    )


@functools.lru_cache(maxsize=EVALUATE_CACHE_SIZE)
def _evaluate_cached(s: Scenario, kinds: tuple[type, ...]) -> ServingOutcome:
    return evaluate_uncached(s)


# --- interventions -------------------------------------------------------------------------


# One-off cost kinds (the card's ``one_off_usd`` breakdown).
ONE_OFF_KINDS = ("gpu", "labelling", "preference_data", "embedding_and_index", "evaluation")

# Sourced non-GPU unit costs (reference/economics.md §3, compiled 2026-11-30).
LABEL_USD_PER_EXAMPLE = 0.072  # 180 annotations/h at ~$13/h, crowdworkers [N-SEM] §3.1
LABEL_SOURCE = (
    "$0.072 per labelled example: 180 annotations/h at ~$13/h (economics.md §3.1 [N-SEM])"
)
PREFERENCE_USD_PER_PAIR = 0.30  # human pairwise preference, AlpacaEval table [N-AE] §3.1
PREFERENCE_SOURCE = (
    "$0.30 per human preference comparison: $300 per 1,000 "
    "(AlpacaEval evaluator table, economics.md §3.1 [N-AE])"
)
EVAL_JUDGEMENTS = 1000  # one before/after evaluation run of 1,000 pairwise judgements
EVAL_USD_PER_1K = 12.5  # GPT-4 as judge, AlpacaEval [N-AE] §3.5
EVAL_SOURCE = (
    "1,000 LLM-as-judge pairwise judgements at $12.5 per 1,000 (GPT-4 annotator, "
    "AlpacaEval, economics.md §3.5 [N-AE]); an assumption on the suite's size"
)
# GraphRAG indexing generates output: about 3 LLM calls per chunk (extraction, gleaning,
# summaries; [N-GR671] economics.md §3.4), each writing about as many tokens as it reads (an
# assumption), so the pipeline generates ~3x the corpus in output tokens.
GRAPH_OUTPUT_PER_CORPUS_TOKEN = 3.0
GRAPH_BATCH = 64  # offline indexing batch for the generation pass


@dataclass(frozen=True, slots=True)
class OneOff:
    label: str
    gpu_hours: float
    cost_usd: float | None
    kind: str = "gpu"


def evaluation_run(what: str) -> OneOff:
    """One evaluation run before adopting a change that alters outputs (sourced assumption)."""
    return OneOff(
        f"evaluation of {what}: {EVAL_SOURCE}",
        0.0,
        EVAL_JUDGEMENTS / 1000 * EVAL_USD_PER_1K,
        "evaluation",
    )


def _generation_cost(s: Scenario, label: str, input_tokens: float, output_tokens: float) -> OneOff:
    """GPU time to generate ``output_tokens`` (and read ``input_tokens``) offline on the served
    model at a batch of :data:`GRAPH_BATCH` (or what fits), priced at the GPU's hourly rate."""
    chunk = 600
    one = estimate_inference(s.arch, s.gpu, s.engine, s.cfg, Workload(chunk, chunk, 1))
    batch = max(1, min(GRAPH_BATCH, one.memory.max_batch_size))
    est = estimate_inference(s.arch, s.gpu, s.engine, s.cfg, Workload(chunk, chunk, batch))
    t = est.timing
    per_call_s = t.prefill.time_s + t.decode_steps * t.decode.time_s
    calls = max(input_tokens, output_tokens) / chunk
    hours = calls / batch * per_call_s / 3600 * s.cfg.n_gpus
    price = s.gpu.price_per_hour_usd
    return OneOff(label, hours, None if price is None else hours * price, "embedding_and_index")


def _gpu_cost(s: Scenario, label: str, flops: float, mfu: float = DEFAULT_MFU) -> OneOff:
    hours = flops / (s.gpu.peak_flops(Precision.bf16) * mfu) / 3600
    price = s.gpu.price_per_hour_usd
    return OneOff(label, hours, None if price is None else hours * price)


def _check(cond: bool, message: str, field: str) -> None:
    if not cond:
        raise InterventionError(message, field=field)


@dataclass(frozen=True, slots=True)
class Speculative:
    alpha: float = 0.7
    gamma: int = 4
    c: float = 0.05
    order = 90

    def apply(self, s: Scenario) -> tuple[Scenario, list[OneOff]]:
        _check(0 <= self.alpha < 1, "alpha must be in [0, 1)", "alpha")
        _check(1 <= self.gamma <= 64, "gamma must be between 1 and 64", "gamma")
        _check(0 <= self.c <= 1, "c must be in [0, 1]", "c")
        draft = self.c * s.arch.total_params * 2.0
        return replace(
            s,
            speculative=(self.alpha, self.gamma, self.c),
            extra_weight_bytes=s.extra_weight_bytes + draft,
        ), []


@dataclass(frozen=True, slots=True)
class Quantize:
    precision: str = "fp8"
    kv_cache_precision: str | None = None
    order = 80

    def apply(self, s: Scenario) -> tuple[Scenario, list[OneOff]]:
        try:
            p = Precision(self.precision)
            kv = Precision(self.kv_cache_precision) if self.kv_cache_precision else None
        except ValueError:
            raise InterventionError("unknown precision", field="precision") from None
        _check(s.gpu.supports(p), f"{s.gpu.name} does not support {p}", "precision")
        cfg = replace(s.cfg, precision=p, kv_cache_precision=kv or s.cfg.kv_cache_precision)
        return replace(s, cfg=cfg), [evaluation_run(f"the {p} model")]


@dataclass(frozen=True, slots=True)
class PagedAttention:
    order = 85

    def apply(self, s: Scenario) -> tuple[Scenario, list[OneOff]]:
        return replace(s, cfg=replace(s.cfg, paged_attention=True)), []


@dataclass(frozen=True, slots=True)
class Retrieval:
    k: int = 5
    chunk_tokens: int = 512
    retrieval_latency_ms: float = 40.0
    corpus_tokens: float = 0.0
    embedding_params: float = 335e6  # BAAI/bge-large-en-v1.5 (335M), a common retriever
    # GraphRAG (Edge et al. 2024, arXiv 2404.16130 §2.2): the served LLM reads every chunk to
    # extract entities and relations, then "gleans" missed ones: passes × 2·N_active per token.
    graph_extraction_passes: int = 0
    order = 30

    def apply(self, s: Scenario) -> tuple[Scenario, list[OneOff]]:
        _check(1 <= self.k <= 1000, "k must be between 1 and 1000", "k")
        _check(1 <= self.chunk_tokens <= 100_000, "chunk_tokens must be 1-100000", "chunk_tokens")
        _check(self.retrieval_latency_ms >= 0, "retrieval_latency_ms must be >= 0", "latency")
        _check(self.corpus_tokens >= 0, "corpus_tokens must be >= 0", "corpus_tokens")
        _check(0 <= self.graph_extraction_passes <= 10, "passes must be 0-10", "passes")
        costs = [evaluation_run("the retrieval-grounded answers")]
        vectors = 0.0
        if self.corpus_tokens:
            flops = 2 * self.embedding_params * self.corpus_tokens
            emb = _gpu_cost(s, "embed the corpus (index build)", flops)
            costs.append(replace(emb, kind="embedding_and_index"))
            vectors = self.corpus_tokens / self.chunk_tokens
            if self.graph_extraction_passes:
                flops = 2 * s.arch.active_params * self.corpus_tokens * self.graph_extraction_passes
                ext = _gpu_cost(s, "LLM graph extraction over the corpus (reading)", flops)
                costs.append(replace(ext, kind="embedding_and_index"))
                out = GRAPH_OUTPUT_PER_CORPUS_TOKEN * self.corpus_tokens
                costs.append(
                    _generation_cost(
                        s,
                        f"GraphRAG indexing generates {out:.3g} output tokens "
                        f"({GRAPH_OUTPUT_PER_CORPUS_TOKEN:g}x the corpus: ~3 LLM calls per chunk, "
                        "economics.md §3.4 [N-GR671])",
                        0.0,
                        out,
                    )
                )
        return replace(
            s,
            input_tokens=s.input_tokens + self.k * self.chunk_tokens,
            extra_ttft_ms=s.extra_ttft_ms + self.retrieval_latency_ms,
            index_vectors=s.index_vectors + vectors,
        ), costs


@dataclass(frozen=True, slots=True)
class ReasoningCompute:
    cot_tokens: int = 600
    samples: int = 5
    order = 40

    def apply(self, s: Scenario) -> tuple[Scenario, list[OneOff]]:
        _check(0 <= self.cot_tokens <= 1_000_000, "cot_tokens must be 0-1000000", "cot_tokens")
        _check(1 <= self.samples <= 1000, "samples must be between 1 and 1000", "samples")
        return replace(
            s, cot_tokens=s.cot_tokens + self.cot_tokens, samples=s.samples * self.samples
        ), [evaluation_run("the reasoning answers")]


@dataclass(frozen=True, slots=True)
class LongerContext:
    input_tokens: int = 32768
    order = 20

    def apply(self, s: Scenario) -> tuple[Scenario, list[OneOff]]:
        _check(self.input_tokens >= 1, "input_tokens must be positive", "input_tokens")
        return replace(s, input_tokens=self.input_tokens), [evaluation_run("long-context answers")]


@dataclass(frozen=True, slots=True)
class SwapModel:
    arch: Architecture
    order = 10

    def apply(self, s: Scenario) -> tuple[Scenario, list[OneOff]]:
        return replace(s, arch=self.arch), [evaluation_run(self.arch.name)]


@dataclass(frozen=True, slots=True)
class FineTune:
    """PEFT or full fine-tune: a one-off cost; a LoRA served unmerged adds its weights."""

    method: str = "qlora"
    rank: int = 16
    examples: int = 20_000
    tokens_per_example: int = 512
    epochs: int = 3
    serve_unmerged: bool = False
    order = 50

    def apply(self, s: Scenario) -> tuple[Scenario, list[OneOff]]:
        _check(self.method in ("full", "lora", "qlora"), "method: full, lora or qlora", "method")
        _check(1 <= self.rank <= 4096, "rank must be between 1 and 4096", "rank")
        for name in ("examples", "tokens_per_example", "epochs"):
            _check(getattr(self, name) >= 1, f"{name} must be positive", name)
        tokens = self.examples * self.tokens_per_example * self.epochs
        per_token = (6.0 if self.method == "full" else 4.0) * s.arch.active_params
        cost = _gpu_cost(
            s, f"{self.method} fine-tune ({compact(tokens)} tokens)", per_token * tokens
        )
        if self.method == "qlora":
            cost = replace(
                cost,
                gpu_hours=cost.gpu_hours * 3.68 / 2.36,
                cost_usd=None if cost.cost_usd is None else cost.cost_usd * 3.68 / 2.36,
            )
        adapter = 0
        if self.serve_unmerged and self.method != "full":
            adapter = lora_trainable_params(
                s.arch, self.rank, ("q", "k", "v", "o", "gate", "up", "down")
            )
        labels = OneOff(
            f"labelling {self.examples:,} examples: {LABEL_SOURCE}",
            0.0,
            self.examples * LABEL_USD_PER_EXAMPLE,
            "labelling",
        )
        return replace(s, adapter_params=s.adapter_params + adapter), [
            cost,
            labels,
            evaluation_run("the fine-tuned model"),
        ]


@dataclass(frozen=True, slots=True)
class Alignment:
    """Preference tuning (DPO) over pairs of responses: policy 6N + frozen reference 2N."""

    method: str = "dpo"
    pairs: int = 10_000
    tokens_per_response: int = 512
    epochs: int = 1
    order = 60

    def apply(self, s: Scenario) -> tuple[Scenario, list[OneOff]]:
        _check(self.method in ("dpo", "rlhf", "constitutional"), "unknown method", "method")
        for name in ("pairs", "tokens_per_response", "epochs"):
            _check(getattr(self, name) >= 1, f"{name} must be positive", name)
        tokens = 2 * self.pairs * self.tokens_per_response * self.epochs
        n = s.arch.active_params
        # RLHF/PPO and Constitutional AI add generation and a reward/critique model: about 4x
        # DPO's per-token work (policy, reference, reward, value) — Rafailov et al. 2023 §1.
        per_token = (6.0 + 2.0) * n * (1 if self.method == "dpo" else 4)
        label = f"{self.method} alignment ({compact(tokens)} tokens)"
        gpu = _gpu_cost(s, label, per_token * tokens)
        if self.method == "constitutional":
            # AI feedback (RLAIF) replaces the human labels: no preference-data purchase.
            return s, [gpu, evaluation_run("the aligned model")]
        prefs = OneOff(
            f"{self.pairs:,} human preference pairs: {PREFERENCE_SOURCE}",
            0.0,
            self.pairs * PREFERENCE_USD_PER_PAIR,
            "preference_data",
        )
        return s, [gpu, prefs, evaluation_run("the aligned model")]


class ServingIntervention(Protocol):
    """What every intervention offers (those of :mod:`app.estimators.serving_interventions` too):
    an ``order`` in the canonical chain and ``apply``."""

    @property
    def order(self) -> int: ...

    def apply(self, s: Scenario) -> tuple[Scenario, list[OneOff]]: ...


Intervention = (
    ServingIntervention
    | Speculative
    | Quantize
    | PagedAttention
    | Retrieval
    | ReasoningCompute
    | LongerContext
    | SwapModel
    | FineTune
    | Alignment
)


@dataclass(frozen=True, slots=True)
class Impact:
    before: ServingOutcome
    after: ServingOutcome
    one_off: list[OneOff] = field(default_factory=list)
    scenario: Scenario | None = None

    @property
    def one_off_cost_usd(self) -> float | None:
        if any(o.cost_usd is None for o in self.one_off):
            return None
        return float(sum(o.cost_usd or 0.0 for o in self.one_off))

    def deltas(self) -> dict[str, float | None]:
        def d(a: float | None, b: float | None) -> float | None:
            return None if a is None or b is None else b - a

        return {
            "monthly_cost_delta_usd": d(self.before.monthly_cost_usd, self.after.monthly_cost_usd),
            "one_off_cost_usd": self.one_off_cost_usd,
            "ttft_delta_ms": d(self.before.ttft_ms, self.after.ttft_ms),
            "tpot_delta_ms": d(self.before.tpot_ms, self.after.tpot_ms),
            "time_to_answer_delta_ms": d(
                self.before.time_to_answer_ms, self.after.time_to_answer_ms
            ),
        }


def apply_all(s: Scenario, items: list[Intervention]) -> tuple[Scenario, list[OneOff]]:
    """Apply in the canonical order (stable for equal orders), collecting one-off costs."""
    costs: list[OneOff] = []
    for item in sorted(items, key=lambda i: i.order):
        s, c = item.apply(s)
        costs.extend(c)
    return s, costs


def impact(s: Scenario, items: list[Intervention]) -> Impact:
    try:
        before = evaluate(s)
        after_s, costs = apply_all(s, items)
        after = evaluate(after_s)
    except EstimateError as exc:
        raise InterventionError(str(exc), field=exc.field) from None
    return Impact(before, after, costs, after_s)
