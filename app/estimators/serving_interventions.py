"""More techniques as estimator interventions: the serving layer, traffic, and cheap first steps.

Each class follows :class:`app.estimators.interventions.ServingIntervention`: ``apply`` maps a
:class:`~app.estimators.interventions.Scenario` to a new one plus one-off costs, and ``order``
places it in the canonical chain (model-changing options first, serving-layer options next,
traffic-level options last). :func:`plan_serving` builds them from a technique key and its
resolved parameters (:func:`app.estimators.techniques.plan` calls it), :func:`serving_params`
declares those parameters, :data:`ADDED_CANDIDATES` says which failure mode each can address and
:data:`IN_PLACE` says why one is already in place on a deployment. Pure: no web or database.

Traffic-level techniques (response caching, cascade routing, a guardrail classifier) keep the
incoming ``requests_per_day`` and scale the scenario's ``load_factor``: the requests the GPUs serve
per incoming request, in requests of the deployment (a routed or classifier request counts as its
GPU-seconds over the deployment's, on the same GPU type, so at the same price per GPU-second).

Default parameters and their sources:

* engine switch — to vLLM (default), SGLang or TensorRT-LLM: the engine profile's paged KV
  allocator, CUDA graphs and fused kernels replace eager PyTorch (Kwon et al. 2023, doi
  10.1145/3600006.3613165: up to 24x the throughput of HF Transformers); no GPU one-off (the
  migration's engineering time is not priced);
* weight quantisation — fp8 (dynamic, no calibration pass: vLLM's online fp8), int8 (W8A8) and
  int4 weight-only by AWQ (Lin et al. 2024, arXiv 2306.00978) or GPTQ (Frantar et al. 2023, arXiv
  2210.17323); calibration of int8/int4 at GPTQ's "about four GPU hours" for a 175B model, scaled
  by parameters; quality caveat from Kurtic et al. 2024 (arXiv 2411.02355): FP8 W8A8 is
  essentially lossless, well-tuned INT8 W8A8 loses 1-3 % accuracy, INT4 weight-only is
  competitive with INT8;
* fp8 KV cache — KV bytes per token halved against bf16 (vLLM "Quantized KV cache" docs);
* tensor parallelism — twice the GPUs per replica by default (must divide the attention heads);
* GPU right-sizing — every catalog GPU at 1, 2, 4 or 8 per replica, the cheapest per request that
  fits and meets both SLOs; every GPU type is priced at the organisation's effective price
  (``Scenario.gpu_prices``: its own price, else the operator's, else the shipped default in
  ``gpu_prices.yaml``; the shipped default where the scenario carries no table);
* prefix caching — 50 % of prompt tokens reused (Zheng et al. 2024, arXiv 2312.07104, SGLang:
  cache hit rates of 50-99 % on its benchmark workloads; the low end);
* chunked prefill — 2,048-token chunks (vLLM V1's max_num_batched_tokens on GPUs under 70 GiB,
  SGLang's chunked_prefill_size under 35 GiB; Agrawal et al. 2024, arXiv 2403.02310): bounds the
  activation memory, so more KV cache; in the load simulation prefills no longer stall decodes;
* response caching — 20 % hit rate (Gill et al. 2024, MeanCache, arXiv 2403.02694: about 31 % of
  user queries repeat earlier ones; 20 % assumes not every similar query may be answered from the
  cache), 10 ms lookup (an embedding call and a vector lookup: an assumption);
* cascade routing — 50 % of requests routed to the catalog's largest dense model with at most
  half the parameters (Ong et al. 2024, RouteLLM, arXiv 2406.18665: costs cut by over 2x without
  losing response quality on MT-Bench), 10 ms router latency (a small classifier: an assumption);
* distillation — 100,000 teacher responses × 1,024 tokens, 2 epochs of full fine-tuning of the
  student (Guo et al. 2025, arXiv 2501.12948, distil R1 into smaller models with 800k teacher
  samples for general reasoning; one task needs fewer: 100k is an assumption); teacher generation
  at the deployment's own throughput, student training at 6·N FLOPs per token and the default MFU;
* LazyGraphRAG — 10 chunks of 600 tokens per query (GraphRAG's settings, Edge et al. 2024);
  indexing "identical to vector RAG and 0.1 % of the costs of full GraphRAG" (Microsoft Research
  blog 2024-11-25, economics.md §3.4): the corpus is embedded, no LLM extraction passes;
* guardrail classifier — Llama Guard 3 8B (Llama-3.1-8B architecture) or 1B (Llama-3.2-1B
  architecture) (economics.md §3.6, the model cards), checking the prompt and the response
  (2 checks, 5 output tokens: "safe" or "unsafe" and the violated categories); the prompt check
  runs before generation (added to TTFT);
* prompt and few-shot work — 500 tokens of policy text and examples, or 5 examples × 200 tokens
  (Brown et al. 2020, arXiv 2005.14165: few-shot in context); one-off: 500 LLM-as-judge
  judgements to check the change at $12.5 per 1,000 (AlpacaEval's GPT-4 annotator, economics.md
  §3.5).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from importlib import resources
from typing import Any, TypeVar

import yaml

from app.estimators.architecture import Architecture
from app.estimators.engines import ENGINES
from app.estimators.hardware import GpuSpec
from app.estimators.interventions import (
    Intervention,
    InterventionError,
    OneOff,
    Retrieval,
    Scenario,
    ServingOutcome,
    evaluate,
)
from app.estimators.precision import BYTES, Precision
from app.estimators.reference_data import catalog_architecture, gpu_spec_from_row, read_rows
from app.estimators.training import DEFAULT_MFU
from app.formatting import compact

P = TypeVar("P")

SERVING_ENGINES = ("vllm", "sglang", "tensorrt-llm")
# Engines whose default scheduler already chunks prefills: vLLM V1 (always on) and SGLang
# (chunked_prefill_size) — app.estimators.engines.scheduler_limits.
CHUNKING_ENGINES = ("vllm", "sglang")
PREFIX_CACHE_ENGINES = ("vllm", "sglang", "tensorrt-llm")  # APC, RadixAttention, KV reuse
TP_CHOICES = (1, 2, 4, 8)  # GPUs per replica the right-sizing search tries (one node)
MAX_GPUS = 64
GPTQ_GPU_HOURS_175B = 4.0  # Frantar et al. 2023: OPT-175B / BLOOM-176B in about four GPU hours
GUARD_OUTPUT_TOKENS = 5
GUARD_CHECKS = 2  # the prompt and the response
GUARDS = {  # key -> (catalog architecture, display name)
    "llama_guard_3_8b": ("llama_3_1_8b", "Llama Guard 3 8B"),
    "llama_guard_3_1b": ("llama_3_2_1b", "Llama Guard 3 1B"),
}
JUDGE_USD_PER_1K = 12.5  # AlpacaEval GPT-4 annotator, $ per 1,000 judgements (economics.md §3.5)
SMALLER_FACTOR = 0.5  # a cascade's or a distillation's automatic pick: at most half the parameters

QUALITY = {
    "fp8": "FP8 weights and activations are essentially lossless (Kurtic et al. 2024, "
    "arXiv 2411.02355)",
    "int8": "well-tuned INT8 W8A8 loses 1-3 % accuracy (Kurtic et al. 2024, arXiv 2411.02355)",
    "int4": "INT4 weight-only is competitive with INT8 but loses more on small models and "
    "long-context tasks; check on your evaluation set (Kurtic et al. 2024, arXiv 2411.02355; "
    "Lin et al. 2024 AWQ; Frantar et al. 2023 GPTQ)",
}


def _check(cond: bool, message: str, field: str) -> None:
    if not cond:
        raise InterventionError(message, field=field)


def _gpu_seconds_per_request(s: Scenario, out: ServingOutcome) -> float:
    return s.cfg.n_gpus / out.requests_per_s_per_replica


def _fit_from_one(s: Scenario) -> Scenario:
    """The fewest GPUs (1, 2, 4, ...) per replica on which the scenario fits."""
    s = replace(s, cfg=replace(s.cfg, n_gpus=1))
    while not evaluate(s).fits and s.cfg.n_gpus * 2 <= MAX_GPUS:
        s = replace(s, cfg=replace(s.cfg, n_gpus=s.cfg.n_gpus * 2))
    return s


def _plain(s: Scenario) -> Scenario:
    """The scenario without what belongs to the served model alone (draft, adapters, caches)."""
    return replace(
        s,
        speculative=None,
        adapter_params=0,
        extra_weight_bytes=0.0,
        cached_prompt_share=0.0,
        extra_ttft_ms=0.0,
        cot_tokens=0,
        samples=1,
        load_factor=1.0,
    )


# --- GPU catalog (for right-sizing) --------------------------------------------------------


def _price(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, Mapping):  # a record: its first number named for a price
        for k, v in value.items():
            if ("usd" in str(k) or "price" in str(k)) and isinstance(v, int | float):
                return float(v)
    return None


@functools.cache
def catalog_gpus() -> dict[str, GpuSpec]:
    """The shipped GPU catalog with the shipped default prices (unpriced where none is set)."""
    text = (resources.files("app.catalog") / "data" / "gpu_prices.yaml").read_text("utf-8")
    prices: Any = (yaml.safe_load(text) or {}).get("prices") or {}
    if isinstance(prices, list):  # records {key|gpu, price...} rather than key -> price
        prices = {str(r.get("key") or r.get("gpu")): r for r in prices if isinstance(r, Mapping)}
    return {
        r["key"]: gpu_spec_from_row(r, _price(prices.get(r["key"]))) for r in read_rows("gpus.csv")
    }


GPU_KEYS: tuple[str, ...] = tuple(catalog_gpus())


def priced_gpus(s: Scenario) -> dict[str, GpuSpec]:
    """The catalog GPUs at the prices ``s`` is priced with: the deployment's own GPU as it is
    (its effective price), every other GPU at the organisation's effective price from
    ``s.gpu_prices`` (organisation price, else the operator's, else the shipped default), or at
    the shipped default when the scenario carries no price table."""
    table = dict(s.gpu_prices) if s.gpu_prices is not None else None
    out: dict[str, GpuSpec] = {}
    for key, spec in catalog_gpus().items():
        if key == s.gpu.key:
            out[key] = s.gpu
        elif table is None:
            out[key] = spec
        else:
            out[key] = replace(spec, price_per_hour_usd=table.get(key))
    return out


def price_words(gpu: GpuSpec, s: Scenario) -> str:
    """Where the price of ``gpu`` on a right-sized card comes from, in words."""
    if gpu.price_per_hour_usd is None:
        return "no price: unpriced (an admin can set the organisation's own on /catalog/gpus)"
    if gpu.key == s.gpu.key or s.gpu_prices is not None:
        return f"at the organisation's effective price ${gpu.price_per_hour_usd:g}/GPU-hour"
    return f"at the shipped default price ${gpu.price_per_hour_usd:g}/GPU-hour"


def pick_gpu(s: Scenario) -> tuple[GpuSpec, int, str]:
    """Every catalog GPU at 1, 2, 4 or 8 per replica other than today's: the cheapest per 1k
    requests that fits and meets both SLOs; if none is priced, the fewest GPUs that meet them;
    else the fastest TTFT."""
    priced: list[tuple[float, str, GpuSpec, int]] = []
    meeting: list[tuple[int, float, str, GpuSpec, int]] = []
    fitting: list[tuple[float, str, GpuSpec, int]] = []
    for key, gpu in priced_gpus(s).items():
        if not (gpu.supports(s.cfg.precision) and gpu.supports(s.cfg.kv_cache_precision)):
            continue
        for n in TP_CHOICES:
            if s.arch.n_heads % n or (key == s.gpu.key and n == s.cfg.n_gpus):
                continue
            out = evaluate(replace(s, gpu=gpu, cfg=replace(s.cfg, n_gpus=n)))
            if not out.fits:
                continue
            fitting.append((out.ttft_ms, key, gpu, n))
            if out.meets_slo:
                meeting.append((n, out.ttft_ms, key, gpu, n))
                if out.cost_per_1k_requests_usd is not None:
                    priced.append((out.cost_per_1k_requests_usd, key, gpu, n))
    if priced:
        _, _, gpu, n = min(priced, key=lambda r: (r[0], r[1], r[3]))
        return gpu, n, "the cheapest per request of the priced catalog GPUs that meet both SLOs"
    if meeting:
        _, _, _, gpu, n = min(meeting, key=lambda r: (r[0], r[1], r[2]))
        return gpu, n, "no priced GPU meets both SLOs: the fewest GPUs that do (unpriced)"
    if fitting:
        _, _, gpu, n = min(fitting, key=lambda r: (r[0], r[1], r[3]))
        return gpu, n, "no catalog GPU meets both SLOs: the fastest TTFT"
    raise InterventionError("the model fits on no catalog GPU at up to 8 per replica", field="gpu")


def _common_prefix(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a.lower(), b.lower(), strict=False):
        if x != y:
            break
        n += 1
    return n


def smaller_model(current: Architecture, models: Mapping[str, Architecture]) -> str | None:
    """A dense catalog model with at most half the current model's parameters: of the same family
    first (the longest common name prefix: Llama-3.1-70B -> Llama-3.1-8B, not Llama-2-13B),
    then the largest. Parameter count alone does not rank quality across generations."""
    small = [
        (_common_prefix(a.name, current.name), a.total_params, k)
        for k, a in models.items()
        if not a.is_moe and a.total_params <= SMALLER_FACTOR * current.total_params
    ]
    return max(small)[2] if small else None


# --- interventions -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EngineSwitch:
    engine: str = "vllm"
    order = 84

    def apply(self, s: Scenario) -> tuple[Scenario, list[OneOff]]:
        _check(self.engine in ENGINES and self.engine != "ideal", "unknown engine", "engine")
        _check(s.engine.name != self.engine, f"already served by {self.engine}", "engine")
        return replace(s, engine=ENGINES[self.engine], cfg=replace(s.cfg, paged_attention=None)), []


@dataclass(frozen=True, slots=True)
class WeightQuant:
    """Weights at ``precision`` (the KV cache unchanged); int8/int4 need a calibration pass."""

    precision: str = "fp8"
    method: str = "dynamic"  # fp8: dynamic; int8: smoothquant; int4: awq | gptq
    order = 80

    def apply(self, s: Scenario) -> tuple[Scenario, list[OneOff]]:
        try:
            p = Precision(self.precision)
        except ValueError:
            raise InterventionError("unknown precision", field="precision") from None
        _check(
            p in (Precision.fp8, Precision.int8, Precision.int4), "fp8, int8 or int4", "precision"
        )
        _check(s.gpu.supports(p), f"the {s.gpu.name} has no {p.value.upper()}", "precision")
        _check(
            BYTES[p] < BYTES[s.cfg.precision],
            f"weights are already at {s.cfg.precision}",
            "precision",
        )
        costs = []
        if p != Precision.fp8:
            hours = GPTQ_GPU_HOURS_175B * s.arch.total_params / 175e9
            price = s.gpu.price_per_hour_usd
            costs.append(
                OneOff(
                    f"{self.method} calibration of the {p} weights",
                    hours,
                    None if price is None else hours * price,
                )
            )
        return replace(s, cfg=replace(s.cfg, precision=p)), costs


@dataclass(frozen=True, slots=True)
class KvCacheFp8:
    order = 81

    def apply(self, s: Scenario) -> tuple[Scenario, list[OneOff]]:
        _check(s.gpu.supports(Precision.fp8), f"the {s.gpu.name} has no FP8", "precision")
        _check(BYTES[s.cfg.kv_cache_precision] > 1, "the KV cache is already 8-bit", "precision")
        return replace(s, cfg=replace(s.cfg, kv_cache_precision=Precision.fp8)), []


@dataclass(frozen=True, slots=True)
class GpuCount:
    """Another GPU count per replica (tensor parallelism) and optionally another GPU type."""

    n_gpus: int
    gpu: GpuSpec | None = None
    error: str | None = None  # why no GPU could be picked (raised when applied, naming "gpu")
    order = 86

    def apply(self, s: Scenario) -> tuple[Scenario, list[OneOff]]:
        _check(self.error is None, self.error or "", "gpu")
        _check(1 <= self.n_gpus <= MAX_GPUS, f"n_gpus must be 1-{MAX_GPUS}", "n_gpus")
        _check(
            s.arch.n_heads % self.n_gpus == 0,
            f"{self.n_gpus} GPUs do not divide the {s.arch.n_heads} attention heads",
            "n_gpus",
        )
        gpu = self.gpu or s.gpu
        _check(
            gpu.key != s.gpu.key or self.n_gpus != s.cfg.n_gpus,
            "the same GPU type and count as today",
            "n_gpus",
        )
        for p in (s.cfg.precision, s.cfg.kv_cache_precision):
            _check(gpu.supports(p), f"{gpu.name} does not support {p}", "gpu")
        return replace(s, gpu=gpu, cfg=replace(s.cfg, n_gpus=self.n_gpus)), []


@dataclass(frozen=True, slots=True)
class PrefixCache:
    share: float = 0.5
    order = 87

    def apply(self, s: Scenario) -> tuple[Scenario, list[OneOff]]:
        _check(0 <= self.share < 1, "share_reused must be in [0, 1)", "share_reused")
        _check(
            s.engine.name in PREFIX_CACHE_ENGINES,
            f"{s.engine.name} has no prefix cache: switch the engine first",
            "engine",
        )
        return replace(s, cached_prompt_share=max(s.cached_prompt_share, self.share)), []


@dataclass(frozen=True, slots=True)
class ChunkedPrefill:
    chunk_tokens: int = 2048
    order = 88

    def apply(self, s: Scenario) -> tuple[Scenario, list[OneOff]]:
        _check(256 <= self.chunk_tokens <= 65_536, "chunk_tokens must be 256-65536", "chunk_tokens")
        _check(
            s.engine.name in SERVING_ENGINES,
            f"{s.engine.name} does not chunk prefills: switch the engine first",
            "engine",
        )
        return replace(s, engine=s.engine.with_overrides(max_batched_tokens=self.chunk_tokens)), []


@dataclass(frozen=True, slots=True)
class ResponseCache:
    hit_rate: float = 0.2
    lookup_latency_ms: float = 10.0
    order = 97

    def apply(self, s: Scenario) -> tuple[Scenario, list[OneOff]]:
        _check(0 <= self.hit_rate < 1, "hit_rate must be in [0, 1)", "hit_rate")
        _check(self.lookup_latency_ms >= 0, "lookup_latency_ms must be >= 0", "lookup_latency_ms")
        return replace(
            s,
            load_factor=s.load_factor * (1 - self.hit_rate),
            extra_ttft_ms=s.extra_ttft_ms + self.lookup_latency_ms,
        ), []


def _equivalent_requests(s: Scenario, other: Scenario, what: str, field: str) -> float:
    """GPU-seconds per request of ``other`` over those of ``s``: ``other``'s load expressed in
    requests of the deployment (same GPU type, so the same price per GPU-second)."""
    base, alt = evaluate(s), evaluate(other)
    _check(base.fits, f"the deployment does not fit: {base.reason}", field)
    _check(alt.fits, f"{what} does not fit: {alt.reason}", field)
    return _gpu_seconds_per_request(other, alt) / _gpu_seconds_per_request(s, base)


@dataclass(frozen=True, slots=True)
class Cascade:
    """Route ``share`` of requests to ``small`` (on the same GPU type, as few GPUs as fit)."""

    small: Architecture | None
    share: float = 0.5
    router_latency_ms: float = 10.0
    order = 95

    def apply(self, s: Scenario) -> tuple[Scenario, list[OneOff]]:
        _check(0 <= self.share <= 1, "share_routed must be in [0, 1]", "share_routed")
        _check(self.router_latency_ms >= 0, "router_latency_ms must be >= 0", "router_latency_ms")
        _check(
            self.small is not None,
            f"no catalog model with at most half of {s.arch.name}'s parameters to route to",
            "model",
        )
        assert self.small is not None
        _check(
            self.small.total_params < s.arch.total_params,
            f"{self.small.name} is not smaller than {s.arch.name}",
            "model",
        )
        small_s = _fit_from_one(replace(_plain(s), arch=self.small))
        ratio = _equivalent_requests(s, small_s, self.small.name, "model")
        load = s.load_factor * ((1 - self.share) + self.share * ratio)
        return replace(
            s, load_factor=load, extra_ttft_ms=s.extra_ttft_ms + self.router_latency_ms
        ), []


@dataclass(frozen=True, slots=True)
class Distill:
    """Serve ``student`` trained on the deployment model's responses."""

    student: Architecture | None
    examples: int = 100_000
    tokens_per_example: int = 1024
    epochs: int = 2
    order = 10

    def apply(self, s: Scenario) -> tuple[Scenario, list[OneOff]]:
        for name in ("examples", "tokens_per_example", "epochs"):
            _check(getattr(self, name) >= 1, f"{name} must be positive", name)
        _check(
            self.student is not None,
            f"no catalog model with at most half of {s.arch.name}'s parameters to distil into",
            "model",
        )
        assert self.student is not None
        _check(
            self.student.total_params < s.arch.total_params,
            f"{self.student.name} is not smaller than {s.arch.name}",
            "model",
        )
        teacher = evaluate(s)
        _check(teacher.fits, f"the deployment does not fit: {teacher.reason}", "model")
        tokens = float(self.examples * self.tokens_per_example)
        gen = s.output_tokens + s.cot_tokens
        gpu_s_per_token = s.cfg.n_gpus / (teacher.requests_per_s_per_replica * gen)
        price = s.gpu.price_per_hour_usd
        gen_h = tokens * gpu_s_per_token / 3600
        train_h = (
            6.0
            * self.student.active_params
            * tokens
            * self.epochs
            / (s.gpu.peak_flops(Precision.bf16) * DEFAULT_MFU)
            / 3600
        )
        costs = [
            OneOff(
                f"teacher responses ({compact(tokens)} tokens) at the deployment's throughput",
                gen_h,
                None if price is None else gen_h * price,
            ),
            OneOff(
                f"train {self.student.name} ({compact(tokens * self.epochs)} tokens, 6·N, "
                f"MFU {DEFAULT_MFU:g})",
                train_h,
                None if price is None else train_h * price,
            ),
        ]
        return _fit_from_one(replace(s, arch=self.student)), costs


@dataclass(frozen=True, slots=True)
class Guardrail:
    """A safety classifier beside the model: its load in deployment-request equivalents, and
    the prompt check before generation added to TTFT."""

    guard: Architecture | None
    checks: int = GUARD_CHECKS
    order = 96

    def apply(self, s: Scenario) -> tuple[Scenario, list[OneOff]]:
        _check(1 <= self.checks <= 4, "checks must be 1-4", "checks")
        _check(self.guard is not None, "the guard's architecture is not in the catalog", "guard")
        assert self.guard is not None
        conv = replace(
            _plain(s),
            arch=self.guard,
            input_tokens=s.input_tokens + s.output_tokens,
            output_tokens=GUARD_OUTPUT_TOKENS,
        )
        conv = _fit_from_one(conv)
        ratio = _equivalent_requests(s, conv, self.guard.name, "guard")
        prompt_check = evaluate(replace(conv, input_tokens=s.input_tokens))
        check_ms = prompt_check.ttft_ms + (GUARD_OUTPUT_TOKENS - 1) * prompt_check.tpot_ms
        return replace(
            s,
            load_factor=s.load_factor * (1 + self.checks * ratio),
            extra_ttft_ms=s.extra_ttft_ms + check_ms,
        ), []


@dataclass(frozen=True, slots=True)
class PromptWork:
    """Tokens added to every prompt, and a one-off evaluation of the change."""

    added_tokens: int
    judgements: int = 500
    label: str = "prompt"
    order = 5

    def apply(self, s: Scenario) -> tuple[Scenario, list[OneOff]]:
        _check(0 <= self.added_tokens <= 1_000_000, "added tokens must be 0-1000000", "tokens")
        _check(
            0 <= self.judgements <= 10**7, "eval_judgements must be 0-10000000", "eval_judgements"
        )
        cost = self.judgements * JUDGE_USD_PER_1K / 1000
        label = f"check the {self.label} change: {self.judgements} LLM-as-judge judgements"
        return replace(s, input_tokens=s.input_tokens + self.added_tokens), [
            OneOff(label, 0.0, cost)
        ]


# --- parameters, plans, candidates, in-place checks ----------------------------------------

KWON = "Kwon et al. 2023 (doi 10.1145/3600006.3613165): up to 24x HF Transformers' throughput"
KURTIC = "Kurtic et al. 2024 (arXiv 2411.02355); AWQ arXiv 2306.00978; GPTQ arXiv 2210.17323"
ZHENG = "Zheng et al. 2024 (arXiv 2312.07104): 50-99 % cache hits on its workloads"
SARATHI = "vLLM V1 / SGLang defaults on small GPUs; Agrawal et al. 2024 (arXiv 2403.02310)"
MEANCACHE = "Gill et al. 2024 (arXiv 2403.02694): ~31 % of queries repeat; 20 % assumed"
ROUTELLM = "Ong et al. 2024 (RouteLLM, arXiv 2406.18665): over 2x cheaper at equal quality"
GUO = "Guo et al. 2025 (arXiv 2501.12948): 800k teacher samples; 100k assumed for one task"
MSR = "Microsoft Research 2024-11-25: indexing as vector RAG, 0.1 % of GraphRAG (economics §3.4)"
EDGE = "Edge et al. 2024 (arXiv 2404.16130): 600-token chunks"
GUARD = "Llama Guard 3 model cards (8B, 1B); economics.md §3.6"
BROWN = "Brown et al. 2020 (arXiv 2005.14165): few-shot in context; 5 examples assumed"
JUDGE = "AlpacaEval GPT-4 annotator $12.5 per 1,000 (economics.md §3.5); 500 assumed"
ASSUMED = "an assumption; set your own"


def serving_params(make: Callable[..., P]) -> dict[str, tuple[P, ...]]:
    """The parameters of the techniques this module models, built with ``make`` (the
    :class:`app.estimators.techniques.Param` constructor)."""
    gpu_choices = ("", *GPU_KEYS)
    judge = make("eval_judgements", "int", "judgements", 500, JUDGE, 0, 10**7)
    quant = (make("method", "choice", "", "awq", KURTIC, choices=("awq", "gptq")),)
    small = make(
        "model",
        "model",
        "",
        "",
        "empty: the catalog's largest dense model with at most half the parameters",
    )
    return {
        "engine_switch": (make("engine", "choice", "", "vllm", KWON, choices=SERVING_ENGINES),),
        "weight_quant_fp8": (),
        "weight_quant_int8": (),
        "weight_quant_int4": quant,
        "fp8_kv_cache": (),
        "tensor_parallelism": (
            make("n_gpus", "int", "GPUs per replica", 0, "0: twice today's count", 0, MAX_GPUS),
        ),
        "gpu_right_sizing": (
            make(
                "gpu",
                "choice",
                "",
                "",
                "empty: the cheapest catalog GPU that meets the SLOs",
                choices=gpu_choices,
            ),
            make("n_gpus", "int", "GPUs per replica", 0, "0: chosen with the GPU", 0, MAX_GPUS),
        ),
        "prefix_caching": (
            make(
                "share_reused",
                "float",
                "share of prompt tokens",
                0.5,
                ZHENG,
                0,
                1,
                exclusive_maximum=True,
            ),
        ),
        "chunked_prefill": (make("chunk_tokens", "int", "tokens", 2048, SARATHI, 256, 65_536),),
        "response_caching": (
            make(
                "hit_rate",
                "float",
                "share of requests",
                0.2,
                MEANCACHE,
                0,
                1,
                exclusive_maximum=True,
            ),
            make("lookup_latency_ms", "float", "ms", 10.0, ASSUMED, 0, 60_000),
        ),
        "cascade_routing": (
            make("share_routed", "float", "share of requests", 0.5, ROUTELLM, 0, 1),
            small,
            make("router_latency_ms", "float", "ms", 10.0, ASSUMED, 0, 60_000),
        ),
        "distillation": (
            small,
            make("examples", "int", "examples", 100_000, GUO, 1, 10**9),
            make("tokens_per_example", "int", "tokens", 1024, ASSUMED, 1, 1_000_000),
            make("epochs", "int", "epochs", 2, ASSUMED, 1, 1000),
        ),
        "lazygraphrag": (
            make("k", "int", "chunks", 10, EDGE, 1, 1000),
            make("chunk_tokens", "int", "tokens", 600, EDGE, 1, 100_000),
            make("retrieval_latency_ms", "float", "ms", 40.0, ASSUMED, 0, 60_000),
            make("corpus_tokens", "float", "tokens", 0.0, MSR, 0, 1e13),
        ),
        "guardrail_classifier": (
            make("guard", "choice", "", "llama_guard_3_8b", GUARD, choices=tuple(GUARDS)),
            make(
                "checks",
                "int",
                "checks per request",
                GUARD_CHECKS,
                "the prompt and the response (Llama Guard 3 model card)",
                1,
                4,
            ),
        ),
        "policy_prompt": (
            make("prompt_tokens", "int", "tokens", 500, ASSUMED, 0, 1_000_000),
            judge,
        ),
        "few_shot_prompting": (
            make("examples", "int", "examples", 5, BROWN, 0, 1000),
            make("tokens_per_example", "int", "tokens", 200, ASSUMED, 1, 100_000),
            judge,
        ),
    }


def _pick_model(
    v: Mapping[str, Any], s: Scenario, models: Mapping[str, Architecture]
) -> Architecture | None:
    key = v["model"] or smaller_model(s.arch, models)
    if not key:
        return None
    if key not in models:
        raise InterventionError(f"unknown model '{key}'", field="model")
    return models[key]


def plan_serving(
    technique: str, s: Scenario, v: Mapping[str, Any], models: Mapping[str, Architecture]
) -> tuple[tuple[Intervention, ...], tuple[str, ...]] | None:
    """The interventions modelling ``technique`` with resolved parameters ``v``, and the
    assumptions to show; None for a technique this module does not model."""
    if technique == "engine_switch":
        return (EngineSwitch(v["engine"]),), (
            f"served by {v['engine']} instead of {s.engine.name}: paged KV cache, CUDA graphs, "
            "fused kernels (the engine profile); migration engineering time not priced",
        )
    if technique.startswith("weight_quant_"):
        p = technique.removeprefix("weight_quant_")
        method = {"fp8": "dynamic fp8", "int8": "smoothquant"}.get(p) or v["method"]
        calib = (
            "no calibration pass"
            if p == "fp8"
            else (f"{method} calibration at GPTQ's ~4 GPU-hours per 175B parameters")
        )
        return (WeightQuant(p, method),), (
            f"weights at {p} ({method}; KV cache unchanged), {calib}",
            f"quality: {QUALITY[p]}",
        )
    if technique == "fp8_kv_cache":
        return (KvCacheFp8(),), (
            "KV cache at fp8: half the bytes per token of bf16; "
            "small accuracy effect (vLLM quantized KV cache docs)",
        )
    if technique == "tensor_parallelism":
        n = int(v["n_gpus"]) or s.cfg.n_gpus * 2
        return (GpuCount(n),), (
            f"{n} GPUs per replica (tensor parallel) instead of {s.cfg.n_gpus}",
        )
    if technique == "gpu_right_sizing":
        if v["gpu"]:
            gpu = priced_gpus(s)[v["gpu"]]  # a catalog key: the parameter's choices
            n = int(v["n_gpus"]) or s.cfg.n_gpus
            why = "as asked"
        else:
            try:
                gpu, n, why = pick_gpu(s)
            except InterventionError as exc:  # priced as "not priced: <why>" by the caller
                return (GpuCount(1, error=str(exc)),), (f"right-sizing: {exc}",)
            n = int(v["n_gpus"]) or n
        price = price_words(gpu, s)
        return (GpuCount(n, gpu),), (f"{n} × {gpu.name} per replica ({why}); {price}",)
    if technique == "prefix_caching":
        share = float(v["share_reused"])
        return (PrefixCache(share),), (
            f"{share:.0%} of each prompt's tokens served from the prefix cache (shared system "
            "prompt, examples or documents first); vLLM and SGLang cache prefixes by default, so "
            "there it is a prompt-layout change; decode unchanged",
        )
    if technique == "chunked_prefill":
        c = int(v["chunk_tokens"])
        return (ChunkedPrefill(c),), (
            f"prefills in chunks of {c} tokens mixed with decodes: activation memory bounded by "
            "the chunk (more KV cache); idle TTFT modelled as one pass",
        )
    if technique == "response_caching":
        h, ms = float(v["hit_rate"]), float(v["lookup_latency_ms"])
        return (ResponseCache(h, ms),), (
            f"{h:.0%} of requests answered from a response cache ({ms:g} ms lookup on every "
            "request); a semantic cache can return a stale or wrong answer to a similar query",
        )
    if technique in ("cascade_routing", "distillation"):
        small = _pick_model(v, s, models)
        name = small.name if small else "no smaller catalog model"
        if technique == "cascade_routing":
            share = float(v["share_routed"])
            return (Cascade(small, share, float(v["router_latency_ms"])),), (
                f"{share:.0%} of requests (the easy ones) routed to {name} on {s.gpu.name}, its "
                f"load counted in GPU-seconds; {v['router_latency_ms']:g} ms router; quality on "
                "the routed share is the small model's",
            )
        return (
            Distill(small, int(v["examples"]), int(v["tokens_per_example"]), int(v["epochs"])),
        ), (
            f"{name} distilled from {s.arch.name} on {v['examples']:,} responses × "
            f"{v['tokens_per_example']} tokens, {v['epochs']} epoch(s), then served instead "
            "(as few GPUs as fit); the student is weaker off the distilled task",
        )
    if technique == "lazygraphrag":
        r = Retrieval(
            k=v["k"],
            chunk_tokens=v["chunk_tokens"],
            retrieval_latency_ms=v["retrieval_latency_ms"],
            corpus_tokens=v["corpus_tokens"],
            graph_extraction_passes=0,
        )
        corpus = (
            f"index build: the corpus ({compact(v['corpus_tokens'])} tokens) embedded as for "
            "vector RAG, 0.1 % of full GraphRAG's indexing"
            if v["corpus_tokens"]
            else "corpus size not given, so no index-build cost"
        )
        return (r,), (
            f"lazygraphrag: {v['k']} chunks of {v['chunk_tokens']} tokens per prompt, "
            f"{v['retrieval_latency_ms']:g} ms retrieval; {corpus}",
        )
    if technique == "guardrail_classifier":
        arch_key, name = GUARDS[v["guard"]]
        guard = models.get(arch_key)
        if guard is None:
            try:
                guard = catalog_architecture(arch_key)
            except KeyError:
                guard = None
        return (Guardrail(guard, int(v["checks"])),), (
            f"{name} checks {v['checks']} texts per request (prompt before generation, response "
            f"after) on {s.gpu.name}, its load counted in GPU-seconds",
        )
    if technique in ("policy_prompt", "few_shot_prompting"):
        if technique == "policy_prompt":
            tokens, label = int(v["prompt_tokens"]), "policy prompt"
            text = f"{tokens} tokens of policy statement and examples added to every prompt"
        else:
            tokens, label = int(v["examples"]) * int(v["tokens_per_example"]), "few-shot prompt"
            text = (
                f"{v['examples']} examples × {v['tokens_per_example']} tokens added to every prompt"
            )
        return (PromptWork(tokens, int(v["eval_judgements"]), label),), (
            f"{text}; one-off: {v['eval_judgements']} LLM-as-judge judgements at "
            f"${JUDGE_USD_PER_1K:g} per 1,000; the cheap first step",
        )
    return None


# Failure mode key -> the techniques of this module that can address it (each on one of the
# failure mode's axes).
ADDED_CANDIDATES: Mapping[str, tuple[str, ...]] = {
    "serving_cost": (
        "engine_switch",
        "weight_quant_fp8",
        "weight_quant_int8",
        "weight_quant_int4",
        "fp8_kv_cache",
        "tensor_parallelism",
        "gpu_right_sizing",
        "prefix_caching",
        "chunked_prefill",
        "response_caching",
        "cascade_routing",
        "distillation",
    ),
    "policy_noncompliance": ("policy_prompt", "guardrail_classifier"),
    "domain_accuracy_gap": ("few_shot_prompting",),
    "factual_staleness": ("lazygraphrag",),
    "cross_document_synthesis": ("lazygraphrag",),
}


def _pages(s: Scenario) -> str | None:
    paged = s.engine.paged_attention if s.cfg.paged_attention is None else s.cfg.paged_attention
    return f"{s.engine.name} already pages the KV cache" if paged else None


def _weights_at_most(nbytes: float, label: str) -> Callable[[Scenario], str | None]:
    def check(s: Scenario) -> str | None:
        if BYTES[s.cfg.precision] <= nbytes:
            return f"weights are already {s.cfg.precision} ({label} or smaller)"
        return None

    return check


def _quantized(s: Scenario) -> str | None:
    if BYTES[s.cfg.precision] <= 1 and BYTES[s.cfg.kv_cache_precision] <= 1:
        return (
            f"weights ({s.cfg.precision}) and KV cache ({s.cfg.kv_cache_precision}) are "
            "already 8-bit or smaller"
        )
    return None


def _speculating(s: Scenario) -> str | None:
    return "speculative decoding is already configured" if s.speculative is not None else None


def _engine_in(engines: tuple[str, ...], what: str) -> Callable[[Scenario], str | None]:
    def check(s: Scenario) -> str | None:
        return f"{s.engine.name} {what}" if s.engine.name in engines else None

    return check


def _kv_fp8(s: Scenario) -> str | None:
    if BYTES[s.cfg.kv_cache_precision] <= 1:
        return f"the KV cache is already {s.cfg.kv_cache_precision}"
    return None


def _prefix_modelled(s: Scenario) -> str | None:
    if s.cached_prompt_share > 0:
        return f"{s.cached_prompt_share:.0%} of prompt tokens already come from the prefix cache"
    return None


# Technique -> why it is already in place on a deployment (None: not in place).
IN_PLACE: Mapping[str, Callable[[Scenario], str | None]] = {
    "paged_attention": _pages,
    # Half of the pair in place: speculative decoding alone is the remaining option.
    "paged_attention_speculative": lambda s: _pages(s) or _speculating(s),
    "speculative_decoding": _speculating,
    "quantization": _quantized,
    "weight_quant_fp8": _weights_at_most(1.0, "8-bit"),
    "weight_quant_int8": _weights_at_most(1.0, "8-bit"),
    "weight_quant_int4": _weights_at_most(BYTES[Precision.nf4], "4-bit"),
    "fp8_kv_cache": _kv_fp8,
    "engine_switch": _engine_in(SERVING_ENGINES, "is already a paged, CUDA-graph engine"),
    "chunked_prefill": _engine_in(CHUNKING_ENGINES, "chunks prefills by default"),
    "prefix_caching": _prefix_modelled,
}


def in_place(technique: str, s: Scenario) -> str | None:
    check = IN_PLACE.get(technique)
    return check(s) if check else None
