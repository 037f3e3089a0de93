"""The assumptions of an inference estimate for a reader (issue 22, item 6): a label for every key
(``interconnect_gb_s`` -> "GPU interconnect"), units, "not set" instead of None, counts with a
prefix (``8,030,261,248`` -> ``8.03B``) and the 10-90% range note as sentences, not JSON. The
API keeps the raw assumptions; only the page changes. Pure: no web or database imports."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from app import formatting as f

NOT_SET = "not set"


def _count(v: Any) -> str:
    x = f.as_float(v)
    return NOT_SET if x is None else f"{int(x):,}" if x.is_integer() else f.number(x)


def _unit(unit: str) -> Callable[[Any], str]:
    return lambda v: NOT_SET if f.as_float(v) is None else f.number(v, unit)


def _interconnect(v: Any) -> str:
    return "not used (one GPU per replica)" if v is None else f.number(v, "GB/s")


def _price(v: Any) -> str:
    return "not priced" if f.as_float(v) is None else f"{f.money(v, 2)} per GPU-hour"


def _calibration(v: Any) -> str:
    if not isinstance(v, Mapping):
        return "none: the engine profile's published efficiencies"
    replaces = v.get("replaces") or {}
    return (
        f"calibration #{v.get('id')} on {v.get('device') or 'an unnamed device'} "
        f"({v.get('source')}, {f.when(v.get('created_at'))}): prefill efficiency "
        f"{f.number(v.get('prefill_efficiency'))} (was {f.number(replaces.get('prefill'))}), "
        f"decode efficiency {f.number(v.get('decode_efficiency'))} "
        f"(was {f.number(replaces.get('decode'))})"
    )


def _range(v: Any) -> str:
    if not isinstance(v, Mapping):
        return text(v)
    bands = [str(b) for b in v.get("bands") or [] if b]
    out = f"{str(v.get('method', '')).rstrip('.')}."
    out += f" Bands: {'; '.join(bands)}." if bands else " No band applies."
    missing = v.get("missing") or {}
    if missing:
        out += (
            " No range for "
            + "; ".join(f"{k.replace('_', ' ')} ({why})" for k, why in missing.items())
            + "."
        )
    return out


# key -> (label, how its value is written)
LABELS: dict[str, tuple[str, Callable[[Any], str]]] = {
    "engine": ("Engine", lambda v: text(v)),
    "engine_source": ("Engine settings and efficiencies, source", lambda v: text(v)),
    "prefill_efficiency": ("Prefill efficiency (MFU)", f.number),
    "decode_efficiency": ("Decode efficiency (MBU)", f.number),
    "gpu_memory_utilization": ("GPU memory the engine may use", f.pct),
    "runtime_overhead_gb": ("Runtime overhead", _unit("GB")),
    "activation_profile_tokens": ("Tokens in the activation profiling pass", _count),
    "kv_allocator": ("KV-cache allocator", lambda v: text(v)),
    "tensor_parallel": ("Tensor-parallel GPUs per replica", _count),
    "allreduce_latency_us": ("All-reduce latency per layer", _unit("µs")),
    "interconnect_gb_s": ("GPU interconnect", _interconnect),
    "peak_tflops": ("Peak compute at this precision", _unit("TFLOP/s")),
    "bandwidth_tb_s": ("Memory bandwidth", _unit("TB/s")),
    "decode_context_tokens": ("Mean context length while decoding", _unit("tokens")),
    "moe_experts_touched_per_layer_decode": ("Experts read per layer per decode step", _count),
    "price_per_gpu_hour_usd": ("GPU price", _price),
    "throughput_model": ("Throughput model", lambda v: text(v)),
    "model": ("Model", lambda v: text(v)),
    "gpu": ("GPU", lambda v: text(v)),
    "total_params": ("Total parameters", lambda v: f.compact(v)),
    "active_params": ("Parameters active per token", lambda v: f.compact(v)),
    "calibration": ("Calibration", _calibration),
    "load_model": ("Latency under load", lambda v: text(v)),
    "range": ("Range of the figures", _range),
}


def text(v: Any) -> str:
    """Any other value: "not set" for None, yes/no, numbers rounded, mappings as "key: value"."""
    if v is None or v == "":
        return NOT_SET
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int | float):
        return f.number(v)
    if isinstance(v, Mapping):
        return "; ".join(f"{str(k).replace('_', ' ')}: {text(x)}" for k, x in v.items())
    if isinstance(v, list | tuple):
        return ", ".join(text(x) for x in v) or "none"
    return str(v)


def assumption_rows(assumptions: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(label, value)`` for each assumption, in the estimate's order."""
    rows = []
    for key, value in assumptions.items():
        label, write = LABELS.get(key, (str(key).replace("_", " ").capitalize(), text))
        rows.append((label, write(value)))
    return rows
