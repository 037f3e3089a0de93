"""Names of the shipped catalog keys (issue 22, item 6): pages show ``Mixtral-8x7B`` and
``NVIDIA H100 SXM 80GB``, never ``mixtral_8x7b`` or ``h100_sxm_80gb``. Read once from the
reference data files (the same ones ``axisboard seed`` loads); registered as Jinja filters in
app/web/templates.py. A key with no catalog name (an organisation's own hosted API, a typo in old
data) is shown as given."""

from __future__ import annotations

import csv
import re
from functools import cache
from importlib import resources
from typing import Any

import yaml

KINDS = ("axes", "techniques", "failure_modes", "gpus", "models")


def _text(name: str) -> str:
    return (resources.files("app.catalog") / "data" / name).read_text(encoding="utf-8")


@cache
def catalog_names() -> dict[str, dict[str, str]]:
    """``{kind: {key: name}}`` for axes, techniques, failure modes, GPUs and models."""
    out: dict[str, dict[str, str]] = {}
    for kind, file in (("gpus", "gpus.csv"), ("models", "models.csv")):
        out[kind] = {r["key"]: r["name"] for r in csv.DictReader(_text(file).splitlines())}
    for kind, file in (
        ("axes", "axes.yaml"),
        ("techniques", "techniques.yaml"),
        ("failure_modes", "failure_modes.yaml"),
    ):
        rows = yaml.safe_load(_text(file))[kind]
        out[kind] = {str(r["key"]): str(r["name"]) for r in rows}
    return out


def name_of(kind: str, key: Any) -> str:
    """The catalog name of ``key`` (kind: one of :data:`KINDS`), else the key as given."""
    if key is None:
        return "not set"
    return catalog_names().get(kind, {}).get(str(key), str(key))


def gpu_name(key: Any) -> str:
    return name_of("gpus", key)


def model_name(key: Any) -> str:
    return name_of("models", key)


def axis_name(key: Any) -> str:
    return name_of("axes", key)


def item_name(key: Any) -> str:
    """``axis/technique`` as "Technique (Axis)"; a bare key as an axis or technique name."""
    axis, _, tech = str(key).partition("/")
    if not tech:
        names = catalog_names()
        return names["techniques"].get(axis) or names["axes"].get(axis) or axis
    return f"{name_of('techniques', tech)} ({axis_name(axis)})"


@cache
def _patterns() -> tuple[tuple[re.Pattern[str], str], ...]:
    names = catalog_names()
    pairs = {k: v for kind in KINDS for k, v in names[kind].items() if "_" in k}
    # longest first, so "paged_attention_speculative" wins over "paged_attention"
    return tuple(
        (re.compile(rf"\b{re.escape(k)}\b"), v)
        for k, v in sorted(pairs.items(), key=lambda kv: -len(kv[0]))
    )


def named(value: Any) -> str:
    """Free text built from keys ("long_context: attention cost grows") with every catalog key
    that has a name replaced by it ("Long context: attention cost grows"). One-word keys
    ("retrieval", "peft") are left alone: they are words already."""
    out = str(value)
    for rx, label in _patterns():
        out = rx.sub(label, out)
    return out
