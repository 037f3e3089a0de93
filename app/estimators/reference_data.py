"""Parse the shipped reference CSVs (``app/catalog/data``) into the estimators' types.

Used by the catalog loader (into the database) and by the command-line tools that run without one
(calibration, benchmarks). Pure: standard library only.
"""

from __future__ import annotations

import csv
from importlib import resources
from typing import Any

from app.estimators.architecture import INT_ARCH_FIELDS, Architecture
from app.estimators.hardware import GpuSpec


def read_rows(name: str) -> list[dict[str, str]]:
    text = (resources.files("app.catalog") / "data" / name).read_text(encoding="utf-8")
    return list(csv.DictReader(text.splitlines()))


def opt_float(value: str) -> float | None:
    return float(value) if value.strip() else None


def architecture_from_row(row: dict[str, str]) -> Architecture:
    ints: dict[str, Any] = {k: int(row[k]) for k in INT_ARCH_FIELDS}
    return Architecture(
        **ints,
        tied_embeddings=row["tied_embeddings"].strip().lower() == "true",
        name=row["name"],
    )


def gpu_spec_from_row(row: dict[str, str], price_per_hour_usd: float | None = None) -> GpuSpec:
    return GpuSpec(
        key=row["key"],
        name=row["name"],
        memory_gb=float(row["memory_gb"]),
        bandwidth_tbps=float(row["bandwidth_tbps"]),
        bf16_tflops_dense=float(row["bf16_tflops_dense"]),
        usable_memory_gib=opt_float(row["usable_memory_gib"]),
        fp8_tflops_dense=opt_float(row["fp8_tflops_dense"]),
        int8_tops_dense=opt_float(row["int8_tops_dense"]),
        price_per_hour_usd=price_per_hour_usd,
    )


def catalog_architecture(key: str) -> Architecture:
    for row in read_rows("models.csv"):
        if row["key"] == key:
            return architecture_from_row(row)
    raise KeyError(f"unknown model {key}")


def catalog_gpu(key: str) -> GpuSpec:
    for row in read_rows("gpus.csv"):
        if row["key"] == key:
            return gpu_spec_from_row(row)
    raise KeyError(f"unknown gpu {key}")
