"""Axis → framework mapping (pure): which OWASP LLM Top 10 (2025, with the v1.1 equivalent),
NIST AI 600-1 risks, NIST AI RMF subcategories and ISO/IEC 42001 Annex A controls an axis brings
into play, each with its rationale (``app/catalog/data/framework_map.yaml``, versioned), checked
against the framework texts in ``frameworks.json``."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

import yaml

FRAMEWORKS = ("owasp_2025", "nist_600_1", "nist_ai_rmf", "iso_42001")
TITLES = {
    "owasp_2025": "OWASP Top 10 for LLM Applications 2025",
    "nist_600_1": "NIST AI 600-1 (Generative AI profile) risks",
    "nist_ai_rmf": "NIST AI RMF 1.0 subcategories",
    "iso_42001": "ISO/IEC 42001:2023 Annex A controls",
}


class MappingError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Entry:
    framework: str
    id: str
    title: str
    axes: tuple[str, ...]
    rationale: tuple[str, ...]
    extra: Mapping[str, str] = field(default_factory=dict)


def _data(name: str) -> Any:
    text = (resources.files("app.catalog") / "data" / name).read_text(encoding="utf-8")
    return json.loads(text) if name.endswith(".json") else yaml.safe_load(text)


@cache
def catalogue() -> dict[str, dict[str, str]]:
    """framework -> entry id -> title, from frameworks.json."""
    fw = _data("frameworks.json")
    out: dict[str, dict[str, str]] = {
        "owasp_2025": dict(fw["owasp_llm_top10_2025"]["items"]),
        "nist_600_1": {r: r for r in fw["nist_ai_600_1_gai_risks"]["risks"]},
        "nist_ai_rmf": {},
        "iso_42001": {},
    }
    for f in fw["nist_ai_rmf_1_0"]["functions"]:
        for c in f["categories"]:
            for s in c["subcategories"]:
                out["nist_ai_rmf"][s["id"]] = s["text"]
    for o in fw["iso_iec_42001_2023_annex_a"]["objectives"]:
        for c in o["controls"]:
            out["iso_42001"][c["id"]] = c["title"]
    return out


@cache
def mapping() -> dict[str, Any]:
    """The mapping file, validated: every entry an [id, rationale] pair naming a real item."""
    doc = _data("framework_map.yaml")
    known = catalogue()
    for axis, frameworks in doc["axes"].items():
        for fw, entries in frameworks.items():
            if fw not in FRAMEWORKS:
                raise MappingError(f"{axis}: unknown framework {fw}")
            for e in entries:
                if not (isinstance(e, list) and len(e) == 2 and all(isinstance(x, str) for x in e)):
                    raise MappingError(f"{axis}.{fw}: {e!r} is not [id, rationale]")
                if e[0] not in known[fw]:
                    raise MappingError(f"{axis}.{fw}: '{e[0]}' is not in {TITLES[fw]}")
    return dict(doc)


def version() -> int:
    return int(mapping()["version"])


def entries_for(axes: Iterable[str]) -> dict[str, list[Entry]]:
    """framework -> the entries the axes bring in, merged across axes (first-seen order)."""
    m, known = mapping(), catalogue()
    merged: dict[str, dict[str, tuple[list[str], list[str]]]] = {f: {} for f in FRAMEWORKS}
    for axis in dict.fromkeys(axes):
        for fw, entries in m["axes"].get(axis, {}).items():
            for ident, why in entries:
                axes_, whys = merged[fw].setdefault(ident, ([], []))
                axes_.append(axis)
                whys.append(f"{axis}: {why}")
    equiv = m.get("owasp_v1_1_equivalent", {})
    return {
        fw: [Entry(fw, i, known[fw][i], tuple(a), tuple(w),
                   {"v1_1": equiv[i]} if fw == "owasp_2025" and i in equiv else {})
             for i, (a, w) in items.items()]
        for fw, items in merged.items()
    }  # fmt: skip


def risk_labels(axis: str) -> tuple[str, ...]:
    """The OWASP 2025 and NIST 600-1 labels one axis brings in (for portfolio evaluations)."""
    got = entries_for([axis])
    return tuple([f"{e.id} {e.title}" for e in got["owasp_2025"]]
                 + [f"NIST AI 600-1: {e.title}" for e in got["nist_600_1"]])  # fmt: skip
