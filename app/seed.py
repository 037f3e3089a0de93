"""Load the reference data files into the database (idempotent; keeps admin edits).

Run by ``axisboard seed``. The catalog (axes, GPUs with their shipped default prices, models,
frameworks) is shared by every organisation; a GPU's default price is written only when the GPU
is new, so a platform operator's change survives a re-seed. Each organisation gets its own matrix
(version 1 from Table 1) and rule set (version 1 from ``app/rules/data/ruleset.yaml``) when it has
none (:func:`ensure_org_defaults`); later versions are published by its admins. Top layer: it
loads what the catalog and the rule sets own.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.auth.models import Organization
from app.catalog.models import (
    Axis,
    Dimension,
    Evidence,
    FailureMode,
    Framework,
    Gpu,
    ModelArch,
    Profile,
    Technique,
)
from app.catalog.org_reference import ensure_matrix
from app.estimators.quality import figures_from_rows
from app.estimators.reference_data import (
    architecture_from_row,
    gpu_spec_from_row,
    opt_float,
    read_rows,
)
from app.rulesets.defaults import ensure_ruleset, refresh_shipped_ruleset

DATA = resources.files("app.catalog") / "data"


def _yaml(name: str) -> Any:
    return yaml.safe_load((DATA / name).read_text(encoding="utf-8"))


def shipped_default_prices() -> dict[str, tuple[float, str]]:
    """The shipped default on-demand $/GPU-hour of each catalog GPU with its source (the offer,
    the date it was observed, where it was read), from ``gpu_prices.yaml``."""
    doc = _yaml("gpu_prices.yaml")
    out: dict[str, tuple[float, str]] = {}
    for key, p in doc["prices"].items():
        hyperscaler = (
            f"; hyperscaler list price: {p['hyperscaler']}" if p.get("hyperscaler") else ""
        )
        source = (
            f"on-demand, {p['offer']}; observed {p['observed']}; {p['url']}{hyperscaler} "
            f"({doc['reference']}, compiled {doc['compiled']})"
        )
        out[key] = (float(p["price"]), source)
    return out


def ensure_org_defaults(session: Session, org_id: int) -> None:
    """A new organisation starts from the shipped matrix and rule set (its version 1 of each)."""
    ensure_matrix(session, org_id)
    ensure_ruleset(session, org_id)


FRAMEWORK_NAMES = {
    "nist_ai_rmf_1_0": "NIST AI RMF 1.0",
    "iso_iec_42001_2023_annex_a": "ISO/IEC 42001:2023 Annex A",
    "nist_ai_600_1_gai_risks": "NIST AI 600-1 (Generative AI profile) risks",
    "owasp_llm_top10_v1_1": "OWASP Top 10 for LLM Applications v1.1",
    "owasp_llm_top10_2025": "OWASP Top 10 for LLM Applications 2025",
}


def _load_axes(session: Session) -> dict[str, Any]:
    """Dimensions, axes and profiles (``axes.yaml``); returns the document."""
    axes_doc: dict[str, Any] = _yaml("axes.yaml")
    for i, d in enumerate(axes_doc["dimensions"]):
        session.merge(
            Dimension(key=d["key"], name=d["name"], description=d["description"], position=i)
        )
    for i, a in enumerate(axes_doc["axes"]):
        session.merge(
            Axis(
                key=a["key"],
                name=a["name"],
                stage=a["stage"],
                description=a["description"],
                position=i,
            )
        )
    for p in axes_doc["profiles"]:
        session.merge(
            Profile(
                key=p["key"], name=p["name"], description=p["description"], weights=p["weights"]
            )
        )
    session.flush()
    return axes_doc


def _load_failure_modes_and_techniques(session: Session) -> None:
    for i, fm in enumerate(_yaml("failure_modes.yaml")["failure_modes"]):
        session.merge(FailureMode(position=i, **fm))
    for t in _yaml("techniques.yaml")["techniques"]:
        session.merge(
            Technique(
                key=t["key"],
                axis_key=t["axis"],
                name=t["name"],
                description=t["description"],
                citation=t["citation"],
            )
        )


def _load_evidence(session: Session) -> None:
    """Milestones and methods (``evidence.yaml``), once: an empty table only."""
    ev = _yaml("evidence.yaml")
    if session.execute(select(func.count(Evidence.id))).scalar_one() != 0:
        return
    for m in ev["milestones"]:
        session.add(
            Evidence(
                kind="milestone",
                axis_key=m["axis"],
                year=m["year"],
                title=m["work"],
                detail={"contribution": m["contribution"]},
                citation=m["citation"],
            )
        )
    for m in ev["methods"]:
        session.add(
            Evidence(
                kind="method",
                axis_key=m["axis"],
                year=None,
                title=m["method"],
                detail={k: m[k] for k in ("signal", "rl_stage", "relative_cost", "result")},
                citation=m["citation"],
            )
        )


def _load_gpus(session: Session) -> None:
    """GPU specifications (``gpus.csv``); a new GPU gets the shipped price, an existing one keeps
    its price (an organisation may have set it)."""
    prices = shipped_default_prices()
    for r in read_rows("gpus.csv"):
        existing = session.get(Gpu, r["key"])
        price, price_source = prices.get(r["key"], (None, ""))
        spec = gpu_spec_from_row(r)
        fields = {
            "name": spec.name,
            "memory_gb": spec.memory_gb,
            "usable_memory_gib": spec.usable_memory_gib,
            "bandwidth_tbps": spec.bandwidth_tbps,
            "bf16_tflops_dense": spec.bf16_tflops_dense,
            "fp8_tflops_dense": spec.fp8_tflops_dense,
            "int8_tops_dense": spec.int8_tops_dense,
            "fp4_tflops_dense": opt_float(r["fp4_tflops_dense"]),
            "tdp_w": opt_float(r["tdp_w"]),
            "notes": r["notes"],
            "source": r["source"],
        }
        if existing is None:
            session.add(
                Gpu(
                    key=r["key"],
                    price_per_hour_usd=price,
                    price_source=price_source,
                    **fields,
                )
            )
        else:
            for k, v in fields.items():
                setattr(existing, k, v)


def _load_models(session: Session) -> None:
    quality = figures_from_rows(read_rows("model_quality.csv"))
    for r in read_rows("models.csv"):
        arch = architecture_from_row(r)
        session.merge(
            ModelArch(
                key=r["key"],
                name=arch.name,
                **arch.as_dict(),
                published_total_params=int(r["total_params"])
                if r["total_params"].strip()
                else None,
                source=r["source"],
                quality=[f.as_dict() for f in quality.get(r["key"], ())],
            )
        )


def _load_frameworks(session: Session) -> dict[str, Any]:
    fw: dict[str, Any] = json.loads((DATA / "frameworks.json").read_text(encoding="utf-8"))
    for key, body in fw.items():
        session.merge(
            Framework(
                key=key,
                name=FRAMEWORK_NAMES.get(key, key),
                source=str(body.get("source", "")),
                data=body,
            )
        )
    return fw


def load_reference_data(session: Session) -> dict[str, int]:
    """Upsert every reference table; returns counts per table."""
    axes_doc = _load_axes(session)
    _load_failure_modes_and_techniques(session)
    _load_evidence(session)
    _load_gpus(session)
    _load_models(session)
    fw = _load_frameworks(session)
    session.flush()
    # Each organisation's own matrix and rule set start from the shipped files (idempotent); an
    # unedited shipped rule set is brought to today's shipped wording.
    for org_id in session.execute(select(Organization.id)).scalars().all():
        ensure_org_defaults(session, org_id)
        refresh_shipped_ruleset(session, org_id)
    return {
        "axes": len(axes_doc["axes"]),
        "failure_modes": session.execute(
            select(func.count()).select_from(FailureMode)
        ).scalar_one(),
        "techniques": session.execute(select(func.count()).select_from(Technique)).scalar_one(),
        "gpus": session.execute(select(func.count()).select_from(Gpu)).scalar_one(),
        "models": session.execute(select(func.count()).select_from(ModelArch)).scalar_one(),
        "frameworks": len(fw),
        "organisations": session.execute(
            select(func.count()).select_from(Organization)
        ).scalar_one(),
    }
