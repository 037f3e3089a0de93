"""The audit report of a deployment: one data structure (validated by :class:`Report`, whose JSON
Schema is published), rendered as JSON, HTML (print-ready), PDF (WeasyPrint, from the same
HTML) and CSV (the risk register). Sections follow reference/governance.md's report outline."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from app import __version__, frameworks, report_format
from app.assessments import service as assessments
from app.assessments.repository import AssessmentRepository
from app.audit.repository import AuditRepository
from app.auth.context import Caller
from app.catalog import service as catalog_service
from app.catalog.repository import CatalogRepository
from app.csv_export import write_rows
from app.deployments import service as deployments
from app.estimates.service import (
    PlanUnavailable,
    deployment_scenario,
    deployment_serving_plan,
)
from app.estimators import ESTIMATOR_VERSION
from app.governance import service
from app.portfolios import service as portfolios
from app.rulesets import service as rulesets

SCHEMA_VERSION = 2  # 2: statement_of_applicability_version, eu_ai_act (issue 21)
FRAMEWORK_VERSIONS = [
    {"key": "nist_ai_rmf_1_0", "name": "NIST AI Risk Management Framework", "version": "1.0"},
    {"key": "nist_ai_600_1", "name": "NIST AI 600-1 Generative AI Profile", "version": "2024"},
    {"key": "iso_iec_42001", "name": "ISO/IEC 42001 Annex A", "version": "2023"},
    {
        "key": "eu_ai_act",
        "name": "EU AI Act, Regulation (EU) 2024/1689",
        "version": "OJ L 12.7.2024, as amended by Regulation (EU) 2026/1744",
    },
    {
        "key": "owasp_llm_top10",
        "name": "OWASP Top 10 for LLM Applications",
        "version": "2025 (with v1.1 equivalents)",
    },
]


class Report(BaseModel):
    """The machine-readable audit report (``GET /api/v1/schemas/report.json``)."""

    model_config = ConfigDict(extra="forbid")

    schema_version: int = Field(description="Bumped when the structure changes")
    generated_at: str
    generated_by: str
    organisation: str
    application_version: str
    scope: dict[str, Any] = Field(description="Deployment, criteria and framework versions")
    method: list[str]
    inventory: dict[str, Any] = Field(description="System inventory (NIST AI 600-1 fields)")
    assessments: list[dict[str, Any]]
    recommendations: list[dict[str, Any]] = Field(description="Decision records")
    portfolios: list[dict[str, Any]]
    economics: dict[str, Any] = Field(description="Cost and latency evidence with assumptions")
    axes_in_play: dict[str, str] = Field(description="axis -> recommended | adopted")
    frameworks: dict[str, list[dict[str, Any]]]
    statement_of_applicability: list[dict[str, Any]]
    statement_of_applicability_version: dict[str, Any] | None = Field(
        description="The written version shown (status, SHA-256), or null: none written yet"
    )
    eu_ai_act: dict[str, Any] = Field(
        description="EU AI Act classification and obligations with statuses and evidence held"
    )
    evaluations: list[dict[str, Any]]
    findings: list[dict[str, Any]]
    action_plan: list[dict[str, Any]]
    limitations: list[str]
    integrity: dict[str, Any]


def _iso(ts: datetime | None) -> str | None:
    return None if ts is None else ts.astimezone(UTC).isoformat()


def _decisions_by_target(
    session: Session, caller: Caller, deployment_id: int
) -> dict[tuple[str, int], list[dict[str, Any]]]:
    """Every decision on the deployment's recommendations and portfolios, in one query."""
    out: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for d in service.decisions(session, caller, deployment_id=deployment_id):
        out.setdefault((d.target_type, d.target_id), []).append(
            {
                "id": d.id,
                "decision": d.decision,
                "comment": d.comment,
                "conditions": list(d.conditions),
                "adopted": list(d.adopted),
                "override_reason": d.override_reason,
                "decided_by": d.decided_by,
                "decided_at": _iso(d.created_at),
                "content_sha256": d.content_sha256,
                "voided_at": _iso(d.voided_at),
                "voided_by": d.voided_by,
                "void_reason": d.void_reason,
            }
        )
    return out


REPORT_ITEM_KEYS = (
    "rank",
    "axis",
    "technique",
    "technique_name",
    "score",
    "expected_outcome",
    "rationale",
    "impact",
    "impact_assumptions",
    "warnings",
    "citations",
    "waiting_on",
)
PORTFOLIO_SUMMARY_KEYS = (
    "monthly_cost_usd",
    "one_off_cost_usd",
    "ttft_ms_p95",
    "tpot_ms_p95",
    "meets_slo",
    "governance_burden",
    "risks",
    "warnings",
    "assumptions",
)
METHOD = [
    "Failure-mode questionnaire per deployment; the rules engine maps answers and "
    "deployment context to ranked scaling axes and techniques (rule set versioned).",
    "Costs and latencies from the GPU-backed estimators (roofline with engine "
    "efficiencies, calibrated where a calibration exists) and a load simulation.",
    "Governance decisions recorded with segregation of duties; every change and decision "
    "is an event in an append-only, HMAC-chained audit trail.",
    "Disaggregated evaluation per segment; regressions flagged against the aggregate.",
]
LIMITATIONS = [
    "Estimates are physical models with fitted efficiencies, not measurements of this "
    "deployment, unless a calibration is listed under economics.",
    "The axis → framework mapping is an editorial mapping (reference/governance.md §7.4), "
    "not one published by OWASP, NIST or ISO.",
    "Capability is the axis matrix's ordinal rating (Table 1 of seed 000), not a "
    "measured quality gain.",
]


def _assessment_and_recommendation_rows(
    session: Session, caller: Caller, dep_id: int, decided: dict[tuple[str, int], list[Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Section 4: the submitted assessments (newest first) and each one's recommendations."""
    repo = AssessmentRepository(session, caller.org_id)
    submitted = list(repo.for_deployment(dep_id))
    recs_of: dict[int, list[Any]] = {}
    for rec in repo.recommendations_of([a.id for a in submitted]):
        recs_of.setdefault(rec.assessment_id, []).append(rec)
    assessment_rows, recommendation_rows = [], []
    for a in reversed(submitted):
        assessment_rows.append(
            {
                "id": a.id,
                "submitted_at": _iso(a.submitted_at),
                "submitted_by": a.created_by,
                "answers": a.answers,
                "serving": a.serving,
            }
        )
        for rec in recs_of.get(a.id, []):
            recommendation_rows.append(
                _recommendation_row(rec, a.id, decided.get(("recommendation", rec.id), []))
            )
    return assessment_rows, recommendation_rows


def _recommendation_row(rec: Any, assessment_id: int, decisions: list[Any]) -> dict[str, Any]:
    r = rec.result
    return {
        "id": rec.id,
        "assessment_id": assessment_id,
        "previous_id": rec.previous_id,
        "created_at": _iso(rec.created_at),
        "versions": {
            "matrix": rec.matrix_version,
            "rules": rec.rules_version,
            "estimator": rec.estimator_version,
        },
        "no_intervention": r["no_intervention"],
        "notes": r["notes"],
        "warnings": r["warnings"],
        "governance_burden": r["governance_burden"],
        "items": [{k: i[k] for k in REPORT_ITEM_KEYS} for i in r["items"]],
        "rules_fired": r["rules_fired"],
        "decisions": decisions,
    }


def _portfolio_rows(
    session: Session, caller: Caller, dep_id: int, decided: dict[tuple[str, int], list[Any]]
) -> list[dict[str, Any]]:
    """The deployment's portfolios, each with its evaluation's summary (or why there is none)."""
    rows = []
    for p in portfolios.list_(session, caller, dep_id):
        try:
            ev = portfolios.evaluation(session, caller, p)
            summary = {k: getattr(ev, k) for k in PORTFOLIO_SUMMARY_KEYS}
        except Exception as exc:
            summary = {"error": str(exc)}
        rows.append(
            {
                "id": p.id,
                "name": p.name,
                "items": p.items,
                "created_by": p.created_by,
                "evaluation": summary,
                "decisions": decided.get(("portfolio", p.id), []),
            }
        )
    return rows


def _evaluation_rows(session: Session, caller: Caller, dep_id: int) -> list[dict[str, Any]]:
    return [
        {
            "id": e.id,
            "label": e.label,
            "recorded_by": e.created_by,
            "recorded_at": _iso(e.created_at),
            "tolerance": e.tolerance,
            "aggregate": e.analysis["aggregate"],
            "regressions": e.analysis["regressions"],
        }
        for e in service.evaluations(session, caller, dep_id)
    ]


def _inventory(dep: Any) -> dict[str, Any]:
    """The system inventory (NIST AI 600-1 fields)."""
    return {
        "system_name": dep.name,
        "intended_use": dep.use_case,
        "model": dep.model_key,
        "hardware": f"{dep.n_gpus} x {dep.gpu_key}",
        "serving_engine": dep.engine,
        "requests_per_day": dep.requests_per_day,
        "mean_input_tokens": dep.mean_input_tokens,
        "mean_output_tokens": dep.mean_output_tokens,
        "slo": {"ttft_ms": dep.ttft_slo_ms, "tpot_ms": dep.tpot_slo_ms},
        "monthly_budget_usd": dep.monthly_budget_usd,
        "deployment_profile": dep.profile,
        "data_categories": list(dep.regulatory_flags),
        "human_oversight": dep.human_oversight,
        "outputs_feed_other_systems": dep.outputs_feed_systems,
        "calls_tools_or_acts": dep.can_act,
        "evaluation_segments": list(dep.segments),
        "registered_at": _iso(dep.created_at),
        "last_changed_at": _iso(dep.updated_at),
    }


def _integrity(session: Session, caller: Caller, matrix_version: Any) -> dict[str, Any]:
    # the organisation's newest event in the shared chain (another's would reveal its activity)
    head = AuditRepository(session).head_for_org(caller.org_id)
    return {
        "audit_chain_head": None if head is None else {"event_id": head.id, "hash": head.hash},
        "versions": {
            "matrix": matrix_version,
            "rules": rulesets.current_ruleset(session, caller.org_id).version,
            "estimator": ESTIMATOR_VERSION,
            "framework_mapping": frameworks.version(),
        },
    }


def build(session: Session, caller: Caller, deployment_id: int) -> dict[str, Any]:
    dep = deployments.get(session, caller, deployment_id)
    cat = assessments.catalog(session, caller.org_id)
    decided = _decisions_by_target(session, caller, dep.id)
    assessment_rows, recommendation_rows = _assessment_and_recommendation_rows(
        session, caller, dep.id, decided
    )
    portfolio_rows = _portfolio_rows(session, caller, dep.id, decided)
    economics = report_economics(session, dep)
    risk = service.risk_picture(session, caller, dep.id)
    evals = _evaluation_rows(session, caller, dep.id)
    findings, actions = _findings(recommendation_rows, portfolio_rows, evals, economics)
    names = _glossary(session, dep, cat, assessment_rows, recommendation_rows, portfolio_rows)
    data = {
        "schema_version": SCHEMA_VERSION,
        "generated_at": datetime.now(UTC).isoformat(),
        "generated_by": caller.email,
        "organisation": caller.org_name,
        "application_version": __version__,
        "scope": {
            "deployment": {"id": dep.id, "name": dep.name, "use_case": dep.use_case},
            "criteria": "Seed 000 §6 decision framework; NIST AI RMF lifecycle; NIST AI 600-1 "
            "risks; ISO/IEC 42001 Annex A; OWASP LLM Top 10",
            "frameworks": FRAMEWORK_VERSIONS,
            "framework_mapping_version": frameworks.version(),
            "deployment_facts": risk.deployment_sources,
            "names": names,
        },
        "method": METHOD,
        "inventory": _inventory(dep),
        "assessments": assessment_rows,
        "recommendations": recommendation_rows,
        "portfolios": portfolio_rows,
        "economics": economics,
        "axes_in_play": risk.axes,
        "frameworks": risk.frameworks,
        "statement_of_applicability": risk.statement_of_applicability,
        "statement_of_applicability_version": risk.statement_of_applicability_version,
        "eu_ai_act": risk.eu_ai_act,
        "evaluations": evals,
        "findings": findings,
        "action_plan": actions,
        "limitations": LIMITATIONS,
        "integrity": _integrity(session, caller, cat.matrix_version),
    }
    return Report.model_validate(data).model_dump(mode="json")


ECONOMICS_FIGURES = (
    "requests_per_s_average",
    "requests_per_s_peak",
    "peak_to_average",
    "replicas",
    "gpus_per_replica",
    "max_requests_per_s_per_replica",
    "gpu_hours_per_month",
    "monthly_cost_usd",
    "cost_per_1k_requests_usd",
    "ttft_p95_ms",
    "tpot_p95_ms",
    "time_to_answer_p95_ms",
    "meets_slos",
    "within_budget",
    "price_per_gpu_hour_usd",
    "price_source",
    "reasons",
)


def report_economics(session: Session, dep: Any) -> dict[str, Any]:
    """Section 6: the deployment page's serving economics, the same computation as
    ``GET /api/v1/deployments/{id}/economics`` (:func:`deployment_serving_plan`: capacity
    planned for the peak at the p95 SLOs), with its figures under the endpoint's names, the
    older names kept (``ttft_ms``, ``tpot_ms``, ``meets_slo``) and the assumptions as sentences."""
    serving = deployment_serving_plan(session, dep)
    if isinstance(serving, PlanUnavailable):
        return {"error": serving.error}
    plan = serving.model_dump()
    found = deployment_scenario(session, dep)
    calibration = found.calibration if not isinstance(found, str) else None
    out = {k: plan[k] for k in ECONOMICS_FIGURES}
    out.update(
        ttft_ms=plan["ttft_p95_ms"],
        tpot_ms=plan["tpot_p95_ms"],
        meets_slo=plan["meets_slos"],
        calibration=calibration,
        assumptions=[f"{k.replace('_', ' ')}: {v}" for k, v in plan["assumptions"].items()]
        + _price_line(session, dep.org_id, dep.gpu_key),
    )
    return out


def _price_line(session: Session, org_id: int, gpu_key: str) -> list[str]:
    g = CatalogRepository(session).gpu(gpu_key)
    if g is None:
        return []
    p = catalog_service.gpu_price(session, org_id, g)
    shown = "unpriced" if p.price_per_hour_usd is None else f"${p.price_per_hour_usd:.2f}/GPU-hour"
    return [f"{g.name}: {shown} ({p.source})"]


def _glossary(
    session: Session,
    dep: Any,
    cat: Any,
    assessments_: list[dict[str, Any]],
    recs: list[dict[str, Any]],
    ports: list[dict[str, Any]],
) -> dict[str, dict[str, str]]:
    """Names of the catalog keys the report mentions, so the document shows names, not keys."""
    repo = CatalogRepository(session)
    techniques = {i["technique"] for r in recs for i in r["items"]}
    techniques |= {i["technique"] for p in ports for i in p["items"]}
    for d in [d for r in recs for d in r["decisions"]]:
        techniques |= {k.partition("/")[2] for k in d["adopted"]}
    fms = {a["failure_mode"] for row in assessments_ for a in row["answers"]}
    model, gpu = repo.model(dep.model_key), repo.gpu(dep.gpu_key)
    return {
        "axes": {a.key: a.name for a in repo.axes()},
        "techniques": {
            t: cat.technique_names[t] for t in sorted(techniques) if t in cat.technique_names
        },
        "failure_modes": {
            f: cat.failure_modes[f].name for f in sorted(fms) if f in cat.failure_modes
        },
        "models": {dep.model_key: model.name} if model else {},
        "gpus": {dep.gpu_key: gpu.name} if gpu else {},
    }


def _findings(
    recs: list[dict[str, Any]],
    ports: list[dict[str, Any]],
    evals: list[dict[str, Any]],
    economics: dict[str, Any],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    findings: list[dict[str, Any]] = []
    actions: list[dict[str, Any]] = []
    if economics.get("within_budget") is False or economics.get("meets_slo") is False:
        findings.append(
            {
                "severity": "high",
                "finding": "serving economics fail (budget or "
                "SLO): serving optimisation precedes every other axis (seed 000 §6)",
            }
        )
    for e in evals:
        for r in e["regressions"]:
            sev = "high" if r["risk"] == "high" else "medium"
            findings.append(
                {
                    "severity": sev,
                    "finding": f"{r['segment']} regressed on "
                    f"{r['metric']} ({report_format.num(r['before'])} → "
                    f"{report_format.num(r['after'])}) in '{e['label']}'"
                    + (" while the aggregate improved" if r["hidden"] else ""),
                }
            )
            actions.append(
                {
                    "action": f"investigate {r['segment']} / {r['metric']} before "
                    "rolling out further",
                    "source": f"evaluation #{e['id']}",
                }
            )
    latest_recs = {r["assessment_id"]: r for r in recs}
    for r in latest_recs.values():
        in_force = [d for d in r["decisions"] if d["voided_at"] is None]
        if r["items"] and not in_force:
            actions.append(
                {
                    "action": f"governance decision pending on recommendation #{r['id']}",
                    "source": f"assessment #{r['assessment_id']}",
                }
            )
        for d in in_force:
            for c in d["conditions"] if d["decision"] == "approved" else []:
                actions.append({"action": c, "source": f"decision #{d['id']}"})
            if d["override_reason"]:
                findings.append(
                    {
                        "severity": "info",
                        "finding": f"decision #{d['id']} departs "
                        f"from the engine's ranking: {d['override_reason']}",
                    }
                )
    for p in ports:
        for d in [d for d in p["decisions"] if d["voided_at"] is None]:
            for c in d["conditions"] if d["decision"] == "approved" else []:
                actions.append({"action": c, "source": f"decision #{d['id']}"})
    return findings, actions


def schema() -> dict[str, Any]:
    out = Report.model_json_schema()
    out["$id"] = "/api/v1/schemas/report.json"
    out["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return out


# ---- renderers -----------------------------------------------------------------------------
RISK_REGISTER_HEADER = (
    "framework",
    "id",
    "title",
    "axes",
    "axis status",
    "deployment facts",
    "rationale",
    "owasp v1.1",
)


def risk_register_csv(data: dict[str, Any]) -> str:
    rows: list[tuple[object, ...]] = []
    labels = data["scope"].get("deployment_facts", {})
    for fw, entries in data["frameworks"].items():
        for e in entries:
            rows.append(
                (
                    frameworks.TITLES[fw],
                    e["id"],
                    e["title"],
                    "; ".join(e["axes"]),
                    "; ".join(sorted({data["axes_in_play"].get(a, "") for a in e["axes"]})),
                    "; ".join(labels.get(x, x) for x in e.get("sources", [])),
                    " | ".join(e["rationale"]),
                    e.get("v1_1", ""),
                )
            )
    for row in data["statement_of_applicability"]:
        if not row["applicable"]:
            rows.append(
                (
                    frameworks.TITLES["iso_42001"],
                    row["control"],
                    row["title"],
                    "",
                    "not applicable",
                    "",
                    row["justification"],
                    "",
                )
            )
    return write_rows(RISK_REGISTER_HEADER, rows)


def render_html(data: dict[str, Any], *, for_pdf: bool = False) -> str:
    from app.web.templates import templates  # the one Jinja environment (autoescaping on)

    return templates.get_template("reports/report.html").render(
        report=data,
        titles=frameworks.TITLES,
        for_pdf=for_pdf,
        report_format=report_format,
        names=data["scope"].get("names", {}),
    )


def render_pdf(data: dict[str, Any], finisher: Any = None) -> bytes:
    """The report as PDF; ``finisher(document, pdf)`` may add objects before it is written (the
    signature slot, :mod:`app.governance.export`).

    The contents page gets its page numbers without a second layout of the whole document (CSS
    ``target-counter`` nearly doubled WeasyPrint's time): the document is laid out once, each
    section's page read from its anchor, and only the contents page laid out again with the
    numbers (one page: its lines do not depend on the numbers) and put in place."""
    from weasyprint import CSS, HTML, Attachment

    from app.config import PROJECT_ROOT
    from app.governance.export import ATTACHMENT
    from app.web.templates import templates

    css = CSS(filename=str(PROJECT_ROOT / "static" / "css" / "report.css"))
    attach = Attachment(
        string=json.dumps(data),
        base_url=None,
        name=ATTACHMENT,
        description="Axisboard report data (the whole PDF is signed)",
    )
    doc = HTML(string=render_html(data, for_pdf=True)).render(stylesheets=[css])
    page_of: dict[str, int] = {}
    for n, page in enumerate(doc.pages, 1):
        for a in page.anchors:  # a box split over pages names its anchor on each: the first
            page_of.setdefault(a, n)
    at = page_of.get("contents")
    if at is not None:
        numbers = {a[2:]: n for a, n in page_of.items() if a.startswith("s-")}
        toc_html = templates.get_template("reports/toc_page.html").render(toc_pages=numbers)
        of = f"page {at} of {len(doc.pages)}"
        footer = CSS(
            string='@page :first { @bottom-left { content: "Axisboard audit report"; } '
            f'@bottom-right {{ content: "{of}"; }} }}'
        )
        toc = HTML(string=toc_html).render(stylesheets=[css, footer])
        if len(toc.pages) == 1:
            doc = doc.copy([*doc.pages[: at - 1], toc.pages[0], *doc.pages[at:]])
    pdf: bytes = doc.write_pdf(attachments=[attach], finisher=finisher)
    return pdf
