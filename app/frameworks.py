"""Axis and deployment → framework mapping (pure): which OWASP LLM Top 10 (2025, with the v1.1
equivalent), NIST AI 600-1 risks, NIST AI RMF subcategories and ISO/IEC 42001 Annex A controls an
axis, or a fact about the whole deployment (data flags, intended use, human oversight, outputs
feeding other systems, tools/agents), brings into play, each with its rationale
(``app/catalog/data/framework_map.yaml``, versioned), checked against the framework texts in
``frameworks.json``."""

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
    sources: tuple[str, ...] = ()  # deployment facts that bring it in (keys of `deployment:`)


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


def _check(where: str, fw: str, entries: Any, known: dict[str, dict[str, str]]) -> None:
    if fw not in FRAMEWORKS:
        raise MappingError(f"{where}: unknown framework {fw}")
    for e in entries:
        if not (isinstance(e, list) and len(e) == 2 and all(isinstance(x, str) for x in e)):
            raise MappingError(f"{where}.{fw}: {e!r} is not [id, rationale]")
        if not e[1].strip():
            raise MappingError(f"{where}.{fw}: '{e[0]}' has no rationale")
        if e[0] not in known[fw]:
            raise MappingError(f"{where}.{fw}: '{e[0]}' is not in {TITLES[fw]}")


@cache
def mapping() -> dict[str, Any]:
    """The mapping file, validated: every entry an [id, rationale] pair naming a real item."""
    doc = _data("framework_map.yaml")
    known = catalogue()
    for axis, frameworks in doc["axes"].items():
        for fw, entries in frameworks.items():
            _check(axis, fw, entries, known)
    for source, body in doc.get("deployment", {}).items():
        if source not in DEPLOYMENT_SOURCES:
            raise MappingError(f"deployment.{source}: not a deployment fact Axisboard derives")
        if not str(body.get("label", "")).strip():
            raise MappingError(f"deployment.{source}: no label")
        for fw, entries in body.items():
            if fw != "label":
                _check(f"deployment.{source}", fw, entries, known)
    return dict(doc)


# Deployment facts (keys of the mapping's `deployment:` section), in the order they are listed.
DEPLOYMENT_SOURCES = (
    "use_case",
    "pii",
    "phi",
    "financial",
    "minors",
    "regulated_sector",
    "oversight_none",
    "oversight_human",
    "oversight_unstated",
    "outputs_feed_systems",
    "can_act",
)


def deployment_sources(
    *,
    regulatory_flags: Iterable[str],
    human_oversight: str | None,
    outputs_feed_systems: bool,
    can_act: bool,
) -> list[str]:
    """The facts of a deployment that bring framework entries in, besides its axes. Every
    deployment has an intended use; oversight is none, human (monitored or each output
    reviewed) or not stated."""
    flags = set(regulatory_flags)
    out = ["use_case"]
    out += [f for f in ("pii", "phi", "financial", "minors", "regulated_sector") if f in flags]
    out.append(
        {None: "oversight_unstated", "none": "oversight_none"}.get(
            human_oversight, "oversight_human"
        )
    )
    if outputs_feed_systems:
        out.append("outputs_feed_systems")
    if can_act:
        out.append("can_act")
    return out


def source_label(source: str) -> str:
    return str(mapping().get("deployment", {}).get(source, {}).get("label", source))


def version() -> int:
    return int(mapping()["version"])


def entries_for(axes: Iterable[str], sources: Iterable[str] = ()) -> dict[str, list[Entry]]:
    """framework -> the entries the axes and the deployment's facts (``deployment_sources``)
    bring in, merged (first-seen order: axes first), each rationale prefixed by what brings it."""
    m, known = mapping(), catalogue()
    merged: dict[str, dict[str, tuple[list[str], list[str], list[str]]]] = {
        f: {} for f in FRAMEWORKS
    }
    for axis in dict.fromkeys(axes):
        for fw, entries in m["axes"].get(axis, {}).items():
            for ident, why in entries:
                axes_, srcs, whys = merged[fw].setdefault(ident, ([], [], []))
                axes_.append(axis)
                whys.append(f"{axis}: {why}")
    for src in dict.fromkeys(sources):
        body = m.get("deployment", {}).get(src, {})
        for fw, entries in body.items():
            if fw == "label":
                continue
            for ident, why in entries:
                axes_, srcs, whys = merged[fw].setdefault(ident, ([], [], []))
                srcs.append(src)
                whys.append(f"{body['label']}: {why}")
    equiv = m.get("owasp_v1_1_equivalent", {})
    return {
        fw: [
            Entry(
                fw,
                i,
                known[fw][i],
                tuple(a),
                tuple(w),
                {"v1_1": equiv[i]} if fw == "owasp_2025" and i in equiv else {},
                tuple(s),
            )
            for i, (a, s, w) in items.items()
        ]
        for fw, items in merged.items()
    }


def risk_labels(axis: str) -> tuple[str, ...]:
    """The OWASP 2025 and NIST 600-1 labels one axis brings in (for portfolio evaluations)."""
    got = entries_for([axis])
    return tuple(
        [f"{e.id} {e.title}" for e in got["owasp_2025"]]
        + [f"NIST AI 600-1: {e.title}" for e in got["nist_600_1"]]
    )
