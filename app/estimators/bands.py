"""Honest ranges: every timing figure with the 10-90% band of its family's held-out errors.

``axisboard fit-engines`` predicts each published measurement with engines fitted without any row
of its own publication (:func:`app.estimators.validation.leave_one_source_out`) and stores, per
metric family and GPU generation, the Student-t 10-90% prediction interval of
log(measured speed / predicted speed) in ``data/engine_profiles.json`` (a GPU generation with
fewer than 3 held-out rows uses its family's band). A figure's range is the estimate scaled by
those two factors: speeds (tokens/s) multiply by exp(p10) and exp(p90), times (ms, hours, days)
divide by them. ``validate-estimator`` reports the share of held-out rows inside their band.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from importlib import resources
from typing import Any

# GPU generations the bands are kept for: key prefixes of the catalog.
GPU_CLASS_PREFIXES: tuple[tuple[str, str], ...] = (
    ("h100", "hopper"),
    ("h200", "hopper"),
    ("b200", "blackwell"),
    ("a100", "ampere"),
    ("a10", "ampere"),
    ("l40s", "ada"),
    ("l4", "ada"),
    ("rtx_4090", "ada"),
    ("mi300x", "cdna3"),
)


def gpu_class(gpu_key: str) -> str:
    """The GPU generation of a catalog key ("other" when unknown: the family's band applies)."""
    for prefix, cls in GPU_CLASS_PREFIXES:
        if gpu_key.startswith(prefix):
            return cls
    return "other"


@dataclass(frozen=True, slots=True)
class Band:
    p10: float  # log(measured / predicted speed), 10th percentile
    p90: float
    n: int  # held-out rows behind it
    scope: str  # the GPU generation, or "*" for the family's

    def speed(self, value: float) -> dict[str, float]:
        return {"p10": value * math.exp(self.p10), "p90": value * math.exp(self.p90)}

    def time(self, value: float) -> dict[str, float]:
        return {"p10": value / math.exp(self.p90), "p90": value / math.exp(self.p10)}


def _load() -> dict[str, Any]:
    try:
        text = (resources.files("app.estimators") / "data" / "engine_profiles.json").read_text(
            encoding="utf-8"
        )
    except FileNotFoundError:
        return {}
    bands: dict[str, Any] = json.loads(text).get("bands", {})
    return bands


BANDS: dict[str, Any] = _load()


def band(family: str, gpu_key: str, table: dict[str, Any] | None = None) -> Band | None:
    """The band of ``family`` on ``gpu_key``'s generation, else the family's, else None."""
    fam = (BANDS if table is None else table).get(family, {})
    cls = gpu_class(gpu_key)
    entry, scope = (fam[cls], cls) if cls in fam else (fam.get("*"), "*")
    if entry is None:
        return None
    return Band(float(entry["p10"]), float(entry["p90"]), int(entry["n"]), scope)


def ranges(
    figures: dict[str, tuple[float | None, str, bool]], gpu_key: str
) -> tuple[dict[str, dict[str, float]], dict[str, str]]:
    """``figures``: name -> (value, family, is_speed). Returns the ranges and, for the figures
    without one, why."""
    out: dict[str, dict[str, float]] = {}
    why: dict[str, str] = {}
    for name, (value, family, is_speed) in figures.items():
        if value is None or not math.isfinite(value):
            continue
        b = band(family, gpu_key)
        if b is None:
            why[name] = f"no held-out {family} rows to build a band from"
            continue
        out[name] = b.speed(value) if is_speed else b.time(value)
    return out, why


# The metric families as a reader names them (pages show these, not the keys).
FAMILY_LABELS = {
    "batch1_decode": "single-request decode",
    "prefill_ttft_unloaded": "TTFT without load",
    "static_batch_throughput": "static-batch throughput",
    "max_load_throughput": "throughput at maximum load",
}


def describe(family: str, gpu_key: str) -> str | None:
    b = band(family, gpu_key)
    if b is None:
        return None
    where = "all GPUs" if b.scope == "*" else f"{b.scope} GPUs"
    lo, hi = math.exp(b.p10), math.exp(b.p90)
    label = FAMILY_LABELS.get(family, family.replace("_", " "))
    return f"{label}: {b.n} held-out rows ({where}), measured/estimated speed {lo:.2f}-{hi:.2f}"
