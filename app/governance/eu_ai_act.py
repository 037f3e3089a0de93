"""EU AI Act obligations of a deployment (issue 21, item 3). Pure: no web or database imports.

Source: Regulation (EU) 2024/1689 as amended by Regulation (EU) 2026/1744, compiled in
``app/catalog/data/eu_ai_act.json`` (a copy of reference/eu_ai_act.json: articles, summaries,
Annex III points and application dates, each with the text it was read from).

What brings the high-risk obligations in (Arts. 9-15, 17, 26, 27, 72, 73):

* the deployment's ``eu_ai_act_high_risk`` flag (the organisation's own classification), or
* its use case matching an Annex III point (the point's keywords from the compiled file, plus
  the few listed in ``EXTRA_KEYWORDS``; whole words, case-insensitive). A match without the flag
  is shown as such: the classification is to be confirmed (Art. 6(3)-(4)).

The FRIA (Art. 27) applies to every deployer of Annex III points 5(b) and 5(c) systems, and to
bodies governed by public law and private providers of public services otherwise (Axisboard
does not know which the organisation is: shown "to confirm"); not to point 2.

An organisation that trains its own model (a pretraining-stage axis in play) sees Art. 53.

Each obligation carries a status from the evidence Axisboard holds: the audit trail (record
keeping, Art. 12 — governance events, not the system's runtime logs), disaggregated evaluations
(accuracy and bias, Arts. 10 and 15), governance decisions and the declared human oversight
(Art. 14), the risk picture and the statement of applicability (Arts. 9 and 17).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

HIGH_RISK_ARTICLES: tuple[str, ...] = (
    "art9",
    "art10",
    "art11",
    "art12",
    "art13",
    "art14",
    "art15",
    "art17",
    "art26",
    "art27",
    "art72",
    "art73",
)
GPAI_ARTICLES: tuple[str, ...] = ("art53",)
PRETRAINING_AXES = frozenset({"dense_pretraining", "compute_optimality", "sparse_moe"})
FRIA_POINTS = frozenset({"5(b)", "5(c)"})
# Words the compiled keywords miss for common phrasings (Axisboard's, not the Regulation's).
EXTRA_KEYWORDS: dict[str, tuple[str, ...]] = {
    "4(a)": (
        "hiring",
        "job applicants",
        "applicant screening",
        "resume screening",
        "résumé screening",
        "candidate screening",
        "screening candidates",
    ),
    "5(b)": ("credit score", "loan applications", "credit decisions"),
    "3(b)": ("grading essays", "exam grading"),
}
# Compiled keywords too general to signal an Annex III use on their own in an LLM use case.
IGNORED_KEYWORDS = frozenset(
    {
        "inference",
        "tracking",
        "streaming",
        "identification",
        "112",
        "dispatch",
        "triage",
        "profiling",
        "migration",
        "lending",
    }
)

EVIDENCE_HELD = "evidence held"
PARTLY = "partly evidenced"
NONE_HELD = "no evidence held"
GAP = "gap"
TO_CONFIRM = "to confirm"


@cache
def source() -> dict[str, Any]:
    text = (resources.files("app.catalog") / "data" / "eu_ai_act.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def regulation() -> dict[str, Any]:
    """Title, CELEX, OJ reference, URL and amendments of the text used."""
    s = source()["source"]
    return {
        "title": s["title"],
        "celex": s["celex"],
        "oj": s["oj"],
        "url": s["url"],
        "compiled": s["compiled"],
        "amended_by": [
            {
                "title": a["title"],
                "celex": a["celex"],
                "url": a["url"],
                "entry_into_force": a["entry_into_force"],
            }
            for a in s.get("amended_by", [])
        ],
    }


@dataclass(frozen=True)
class Facts:
    """What the deployment says about itself."""

    high_risk_flag: bool
    use_case: str
    axes: dict[str, str] = field(default_factory=dict)  # axis -> recommended | adopted
    human_oversight: str | None = None


@dataclass(frozen=True)
class Held:
    """The evidence Axisboard holds for the deployment (ids, counts)."""

    audit_events: int = 0
    evaluations: list[int] = field(default_factory=list)
    segmented_evaluations: list[int] = field(default_factory=list)
    oversight_decisions: list[int] = field(default_factory=list)
    risk_picture: bool = True
    soa_version: int | None = None
    soa_status: str | None = None


def annex_iii_matches(use_case: str) -> list[dict[str, str]]:
    """Annex III points whose keywords occur in the use case (whole words)."""
    text = use_case.lower()
    out = []
    for p in source()["annex_iii"]:
        words = [k for k in p["keywords"] if k.lower() not in IGNORED_KEYWORDS]
        words += list(EXTRA_KEYWORDS.get(p["point"], ()))
        hit = next(
            (k for k in words if re.search(rf"(?<!\w){re.escape(k.lower())}(?!\w)", text)), None
        )
        if hit is not None:
            out.append({"point": p["point"], "area": p["area"], "text": p["text"], "keyword": hit})
    return out


def _dates(ids: list[str]) -> list[dict[str, Any]]:
    by = {d["id"]: d for d in source()["application_dates"]}
    return [
        {
            "what": by[i]["what"],
            "date": by[i]["date"],
            "date_as_amended": by[i].get("date_as_amended"),
            "article": by[i]["article"],
            "amended_by": by[i].get("amended_by"),
        }
        for i in ids
        if i in by
    ]


def assess(facts: Facts, held: Held) -> dict[str, Any]:
    """Whether the deployment is high-risk (and why), and each obligation it brings in with a
    status and the evidence held."""
    matches = annex_iii_matches(facts.use_case)
    high = facts.high_risk_flag or bool(matches)
    trains = sorted(PRETRAINING_AXES & set(facts.axes))
    why: list[str] = []
    if facts.high_risk_flag:
        why.append("the deployment is flagged EU AI Act high-risk")
    for m in matches:
        why.append(
            f"the use case matches Annex III point {m['point']} ({m['area']}): '{m['keyword']}'"
        )
    obligations_by_id = {o["id"]: o for o in source()["obligations"]}
    wanted = [*(HIGH_RISK_ARTICLES if high else ()), *(GPAI_ARTICLES if trains else ())]
    rows = []
    for oid in wanted:
        o = obligations_by_id[oid]
        st, ev, note = _status(oid, facts, held, matches)
        rows.append(
            {
                "id": oid,
                "article": o["article"],
                "title": o["title"],
                "applies_to": o["applies_to"],
                "summary": o["summary"],
                "brought_in_by": (
                    ["pretraining axes in play: " + ", ".join(trains)]
                    if oid in GPAI_ARTICLES
                    else why
                ),
                "applies_from": _dates(o.get("applies_from_ids", [])),
                "status": st,
                "evidence_held": ev,
                "note": note,
                "evidence_examples": list(o.get("evidence_examples", [])),
            }
        )
    return {
        "regulation": regulation(),
        "high_risk": high,
        "classification": (
            "flagged high-risk"
            if facts.high_risk_flag
            else "Annex III match: confirm the classification (Art. 6(3)-(4))"
            if matches
            else "not high-risk on what the deployment declares"
        ),
        "annex_iii_matches": matches,
        "why": why,
        "trains_own_model": bool(trains),
        "obligations": rows,
    }


def _status(
    oid: str, facts: Facts, held: Held, matches: list[dict[str, str]]
) -> tuple[str, list[str], str]:
    """(status, evidence held, note) of one obligation."""
    soa = (
        f"ISO/IEC 42001 statement of applicability v{held.soa_version} ({held.soa_status})"
        if held.soa_version is not None
        else None
    )
    evals = [f"evaluation #{i}" for i in held.evaluations]
    seg = [f"disaggregated evaluation #{i}" for i in held.segmented_evaluations]
    if oid == "art9":
        ev = [
            "risk picture (frameworks mapped from the deployment and its axes)",
            *([soa] if soa else []),
        ]
        return (
            EVIDENCE_HELD if held.soa_status == "approved" else PARTLY,
            ev,
            "an approved statement of applicability completes the record"
            if held.soa_status != "approved"
            else "",
        )
    if oid == "art10":
        return (
            (PARTLY, seg, "bias examination per segment; datasheets are not held")
            if seg
            else (NONE_HELD, [], "record a disaggregated evaluation per segment")
        )
    if oid == "art11":
        return (
            PARTLY,
            ["this report (system description, versions, evaluations, decisions)"],
            "Annex IV needs more than Axisboard holds (design, data, instructions for use)",
        )
    if oid == "art12":
        if held.audit_events:
            return (
                PARTLY,
                [f"audit trail: {held.audit_events} HMAC-chained events"],
                "Axisboard's audit trail records governance events; the system's own "
                "runtime event logs are kept outside Axisboard",
            )
        return NONE_HELD, [], "no audit event recorded yet"
    if oid == "art14":
        if facts.human_oversight == "none":
            return (
                GAP,
                [f"decision #{i}" for i in held.oversight_decisions],
                "the deployment declares that outputs take effect without a person",
            )
        ev = [f"governance decision #{i}" for i in held.oversight_decisions]
        if facts.human_oversight in ("monitored", "reviews_each"):
            ev.append(
                "declared human oversight: "
                + (
                    "a person reviews each output"
                    if facts.human_oversight == "reviews_each"
                    else "people monitor and can intervene"
                )
            )
        return (
            (PARTLY, ev, "oversight measures and training are documented outside Axisboard")
            if ev
            else (NONE_HELD, [], "declare the human oversight of the deployment")
        )
    if oid == "art15":
        return (
            (PARTLY, evals, "robustness and cybersecurity testing are not held")
            if evals
            else (NONE_HELD, [], "record an evaluation with accuracy metrics")
        )
    if oid == "art17":
        ev = [soa] if soa else []
        return (
            PARTLY if ev else NONE_HELD,
            ev,
            "the quality management system is documented outside Axisboard",
        )
    if oid == "art26":
        ok = facts.human_oversight in ("monitored", "reviews_each")
        return (
            (
                PARTLY,
                ["declared human oversight", *evals],
                "monitoring and log retention (at least six months) to evidence",
            )
            if ok
            else (
                GAP if facts.human_oversight == "none" else NONE_HELD,
                [],
                "assign human oversight (Art. 26(2))",
            )
        )
    if oid == "art27":
        points = sorted(FRIA_POINTS & {m["point"] for m in matches})
        if points:
            return (
                NONE_HELD,
                [],
                f"required: every deployer of Annex III point "
                f"{', '.join(points)} systems carries out a FRIA before first use",
            )
        if {m["point"] for m in matches} == {"2"}:
            return "not applicable", [], "Annex III point 2 is excluded from the FRIA duty"
        return (
            TO_CONFIRM,
            [],
            "required if the organisation is a body governed by public law "
            "or a private entity providing public services (Art. 27(1))",
        )
    if oid == "art72":
        return (
            (PARTLY, evals, "a post-market monitoring plan is not held")
            if len(held.evaluations) >= 2
            else (NONE_HELD, evals, "repeat evaluations after release")
        )
    return NONE_HELD, [], ""  # art13, art73, art53: nothing Axisboard records evidences them
