"""The authorisation matrix, generated from the route table: every route × every role × its own
and another organisation, plus anonymous callers.

``POLICY`` is the specification: for each route, the permission it needs (or that it is public)
and a valid request. A route the app serves that is not in ``POLICY`` fails the suite, so a new
route cannot ship without a decision about who may call it. For each route:

* anonymous: 401 from the API, a redirect to /login from a page;
* each role of the owning organisation: refused with 403 exactly when the role table
  (``app/auth/permissions.py``) lacks the permission, otherwise served (< 400); writes are undone
  after each role (a savepoint), so every role meets the same data;
* a page POST without its CSRF token, even from an admin: 403;
* an admin of another organisation: 404 for anything addressing the first organisation's
  deployments, assessments, recommendations, portfolios, evaluations or jobs (existence is not
  disclosed), and no response of theirs ever contains the first organisation's data.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy import Connection
from sqlalchemy.orm import Session

from app.assessments.service import clear_reference_cache
from app.auth.permissions import Permission, Role, has_permission
from app.jobs import service as jobs
from app.rulesets import service as rulesets_service
from tests.factories import (
    api_headers,
    create_deployment,
    create_user,
    csrf,
    deployment_payload,
    page_login,
)

P = Permission
PUBLIC = "public"
OPERATOR = "platform operator"  # not a permission of any organisation role
MARKER = "OrgAMarker"  # in the names of the first organisation's data


@dataclass(frozen=True)
class Spec:
    """Who may call a route and a valid request for it (path parameters come from the world)."""

    need: Permission | str
    json: dict[str, Any] | None = None
    form: dict[str, str] | None = None
    query: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    # Object-addressing routes whose ids are in the query (``ids=``) rather than the path.
    scoped_query: bool = False
    files: dict[str, Any] | None = None  # a multipart upload (API routes)
    # the world's portfolio submitted for approval first: only what awaits a decision is decided
    submitted: bool = False


TINY = {
    "n_layers": 2,
    "d_model": 128,
    "d_ff": 384,
    "n_heads": 4,
    "n_kv_heads": 2,
    "d_head": 32,
    "vocab": 500,
    "tied_embeddings": True,
}
DESIGNS = [
    {"label": "a", "architecture": TINY},
    {"label": "b", "architecture": {**TINY, "n_kv_heads": 1}},
]
ESTIMATE = {
    "model": "llama_3_1_8b",
    "gpu": "h100_sxm_80gb",
    "input_tokens": 1000,
    "output_tokens": 200,
}
ANSWERS = [
    {"failure_mode": "factual_staleness", "severity": 3, "traffic_share": 0.4},
    {"failure_mode": "policy_noncompliance", "severity": 2},
]
PORTFOLIO_ITEMS = [{"axis": "retrieval", "technique": "rag"}]
SEARCH_FM = {"failure_mode": "policy_noncompliance", "severity": 2}
EVAL_RESULTS = [
    {"segment": "EU", "metric": "accuracy", "phase": "before", "value": 0.85},
    {"segment": "EU", "metric": "accuracy", "phase": "after", "value": 0.80},
    {"segment": "US", "metric": "accuracy", "phase": "before", "value": 0.80},
    {"segment": "US", "metric": "accuracy", "phase": "after", "value": 0.92},
]
EVAL_CSV = "segment,metric,phase,value\n" + "".join(
    f"{r['segment']},{r['metric']},{r['phase']},{r['value']}\n" for r in EVAL_RESULTS
)
CHINCHILLA_RUNS = [
    {"params": n, "tokens": d, "loss": 1.8 + 400 / n**0.34 + 410 / d**0.28}
    for n in (1e8, 3e8, 1e9)
    for d in (2e9, 2e10, 2e11)
]
BENCH = {
    "completed": 10,
    "total_input_tokens": 1000,
    "total_output_tokens": 1000,
    "median_ttft_ms": 30,
    "median_tpot_ms": 8,
    "request_rate": 1,
}
DEPLOYMENT_FORM = {**deployment_payload(name="Support bot"), "segments": "EU: high"}
QUESTIONNAIRE = {
    "fm.factual_staleness.severity": "3",
    "fm.factual_staleness.share": "35",
    "fm.policy_noncompliance.severity": "2",
}


def _rules_yaml() -> str:
    """The default rule set with one recommendation changed (publishing it unchanged is a 422)."""
    import yaml

    from app.rules.reference import default_ruleset_text

    body = yaml.safe_load(default_ruleset_text())
    for rule in body["rules"]:
        if rule["id"] == "staleness_local_rag":
            rule["then"]["recommend"]["technique"] = "graphrag"
    return str(yaml.safe_dump(body, sort_keys=False))


POLICY: dict[str, Spec] = {
    # public
    "GET /api/v1/health": Spec(PUBLIC),
    "POST /api/v1/auth/token": Spec(PUBLIC),
    "GET /api/v1/audit/public-key": Spec(PUBLIC),
    "GET /api/v1/schemas/report.json": Spec(PUBLIC),
    "GET /login": Spec(PUBLIC),
    "POST /login": Spec(PUBLIC),
    "POST /logout": Spec(PUBLIC),
    "GET /favicon.ico": Spec(PUBLIC),
    # API: reads
    "GET /api/v1/auth/me": Spec(P.read),
    "POST /api/v1/auth/revoke": Spec(P.read),
    "GET /api/v1/axes": Spec(P.read),
    "GET /api/v1/failure-modes": Spec(P.read),
    "GET /api/v1/techniques": Spec(P.read),
    "GET /api/v1/gpus": Spec(P.read),
    "GET /api/v1/hosted-models": Spec(P.read),
    "GET /api/v1/deployments/{deployment_id}/hosted-alternatives": Spec(P.read),
    "GET /api/v1/models": Spec(P.read),
    "GET /api/v1/deployments": Spec(P.read),
    "GET /api/v1/deployments/{deployment_id}": Spec(P.read),
    "GET /api/v1/deployments/{deployment_id}/assessments": Spec(P.read),
    "GET /api/v1/deployments/{deployment_id}/economics": Spec(P.read),
    "GET /api/v1/assessments/{assessment_id}": Spec(P.read),
    "GET /api/v1/rules": Spec(P.read),
    "GET /api/v1/rules/versions": Spec(P.read),
    "GET /api/v1/calibrations": Spec(P.read),
    "GET /api/v1/jobs/{job_id}": Spec(P.read),
    "GET /api/v1/jobs/{report_job_id}/download": Spec(P.report_export),
    "POST /api/v1/deployments/{deployment_id}/report/jobs": Spec(P.report_export),
    "GET /api/v1/portfolios": Spec(P.read),
    "GET /api/v1/portfolios/compare": Spec(P.read, scoped_query=True),
    "GET /api/v1/portfolios/{portfolio_id}": Spec(P.read),
    "GET /api/v1/portfolios/{portfolio_id}/evaluation": Spec(P.read),
    "GET /api/v1/recommendations/{recommendation_id}/decisions": Spec(P.read),
    "GET /api/v1/portfolios/{portfolio_id}/decisions": Spec(P.read),
    "GET /api/v1/deployments/{deployment_id}/evaluations": Spec(P.read),
    "GET /api/v1/evaluations/{evaluation_id}": Spec(P.read),
    "GET /api/v1/deployments/{deployment_id}/risks": Spec(P.read),
    "GET /api/v1/deployments/{deployment_id}/report": Spec(P.report_export, query="format=json"),
    "GET /api/v1/approvals": Spec(P.read, query="status=pending"),
    "GET /api/v1/notifications": Spec(P.read),
    "GET /api/v1/audit/events": Spec(P.audit_read),
    "GET /api/v1/audit/verify": Spec(P.audit_read),
    # API: writes
    "POST /api/v1/deployments": Spec(P.deployment_write, json={"__deployment__": True}),
    "PATCH /api/v1/deployments/{deployment_id}": Spec(P.deployment_write, json={"n_gpus": 2}),
    "DELETE /api/v1/deployments/{deployment_id}": Spec(P.deployment_write),
    "POST /api/v1/estimates/inference": Spec(P.estimate_run, json=ESTIMATE),
    "POST /api/v1/estimates/inference/compare-gpus": Spec(
        P.estimate_run, json={k: v for k, v in ESTIMATE.items() if k != "gpu"}
    ),
    "POST /api/v1/estimates/training": Spec(
        P.estimate_run,
        json={"params": 7e9, "tokens": 2e12, "gpu": "h100_sxm_80gb", "n_gpus": 512, "mfu": 0.4},
    ),
    "POST /api/v1/estimates/finetune": Spec(
        P.estimate_run, json={"model": "llama_3_1_8b", "method": "qlora", "gpu": "a100_sxm_80gb"}
    ),
    "POST /api/v1/models/parse-hf-config": Spec(
        P.estimate_run,
        json={
            "config": {
                "model_type": "llama",
                "hidden_size": 2048,
                "intermediate_size": 8192,
                "num_hidden_layers": 16,
                "num_attention_heads": 32,
                "num_key_value_heads": 8,
                "vocab_size": 128256,
            }
        },
    ),
    "POST /api/v1/calibrations": Spec(
        P.calibration_run,
        json={"model": "llama_3_2_1b", "gpu": "h100_sxm_80gb", "max_layers": 1, "matmul_n": 64},
    ),
    "POST /api/v1/calibrations/vllm-import": Spec(
        P.calibration_run, json={"model": "llama_3_1_8b", "gpu": "h100_sxm_80gb", "bench": BENCH}
    ),
    "POST /api/v1/scaling/chinchilla": Spec(P.estimate_run, json={"compute_flops": 1e23}),
    "POST /api/v1/scaling/inference-aware": Spec(
        P.estimate_run, json={"target_loss": 1.947, "inference_tokens": 2e12, "fit": "sardana_code"}
    ),
    "POST /api/v1/scaling/chinchilla/fit": Spec(P.estimate_run, json={"runs": CHINCHILLA_RUNS}),
    "POST /api/v1/scaling/conditional-law/fit": Spec(
        P.estimate_run, json={"__conditional__": True}
    ),
    "POST /api/v1/scaling/architecture": Spec(P.estimate_run, json={"model": "llama_3_2_1b"}),
    "POST /api/v1/scaling/architecture-search": Spec(
        P.estimate_run,
        json={
            "n_non_embed": 973146112,
            "n_layers": 16,
            "d_head": 64,
            "training_tokens": 9.73e10,
            "coefficients": "bian_task3",
            "baseline": "llama_3_2_1b",
            "tolerance": 0.01,
        },
    ),
    "POST /api/v1/scaling/architecture-search/measure": Spec(
        P.torch_run,
        json={"designs": DESIGNS, "gpu": "a100_sxm_80gb", "batch": 2, "context": 64},
    ),
    "POST /api/v1/deployments/{deployment_id}/assessments": Spec(
        P.assessment_submit, json={"answers": ANSWERS}
    ),
    "POST /api/v1/assessments/{assessment_id}/rerun": Spec(P.assessment_submit),
    "POST /api/v1/assessments/{assessment_id}/portfolio": Spec(P.portfolio_write),
    "POST /api/v1/deployments/{deployment_id}/portfolio-search": Spec(
        P.portfolio_write, json={"failure_modes": [SEARCH_FM]}
    ),
    "POST /api/v1/rules/validate": Spec(P.rules_edit, json={"__rules__": True}),
    "POST /api/v1/rules/dry-run": Spec(P.rules_edit, json={"__rules__": True}),
    "POST /api/v1/rules": Spec(P.rules_edit, json={"__rules__": True, "note": "same rules"}),
    "PUT /api/v1/gpus/{key}/price": Spec(
        P.catalog_edit, json={"price_per_hour_usd": 0.8, "kind": "reserved", "note": "1 year"}
    ),
    "DELETE /api/v1/gpus/{key}/price": Spec(P.catalog_edit),
    "PUT /api/v1/hosted-models/{model_key}/price": Spec(
        P.catalog_edit, json={"input_per_m_usd": 0.04, "output_per_m_usd": 0.3, "note": "deal"}
    ),
    "DELETE /api/v1/hosted-models/{model_key}/price": Spec(P.catalog_edit),
    # platform operators only: no organisation role, not even admin (403 for every role)
    "PUT /api/v1/operator/gpus/{key}/default-price": Spec(
        OPERATOR, json={"price_per_hour_usd": 0.9, "source": "test offer"}
    ),
    "POST /api/v1/portfolios": Spec(
        P.portfolio_write, json={"__deployment_id__": True, "name": "P3", "items": PORTFOLIO_ITEMS}
    ),
    "PATCH /api/v1/portfolios/{portfolio_id}": Spec(P.portfolio_write, json={"name": "renamed"}),
    "DELETE /api/v1/portfolios/{portfolio_id}": Spec(P.portfolio_write),
    "POST /api/v1/portfolios/{portfolio_id}/duplicate": Spec(P.portfolio_write),
    "POST /api/v1/portfolios/{portfolio_id}/submit": Spec(P.portfolio_write),
    "POST /api/v1/notifications/read": Spec(P.read),
    "POST /api/v1/recommendations/{recommendation_id}/decision": Spec(
        P.decision_make, json={"decision": "rejected", "comment": "not now"}
    ),
    "POST /api/v1/portfolios/{portfolio_id}/decision": Spec(
        P.decision_make, json={"decision": "rejected", "comment": "not now"}, submitted=True
    ),
    "POST /api/v1/deployments/{deployment_id}/evaluations": Spec(
        P.evaluation_write, json={"label": "pilot", "results": EVAL_RESULTS}
    ),
    # the statement of applicability (issue 21, item 1)
    "GET /api/v1/deployments/{deployment_id}/soa": Spec(P.read),
    "POST /api/v1/deployments/{deployment_id}/soa": Spec(P.soa_write),
    "GET /api/v1/soa/{soa_id}": Spec(P.read),
    "GET /api/v1/soa/{soa_id}/history": Spec(P.read),
    "GET /api/v1/soa/files/{file_id}": Spec(P.read),
    "PATCH /api/v1/soa/{soa_id}/controls/{control}": Spec(
        P.soa_write, json={"owner": "SRE lead", "status": "implemented"}
    ),
    "POST /api/v1/soa/{soa_id}/controls/{control}/links": Spec(
        P.soa_write, json={"url": "https://wiki.example/logs", "title": "runbook"}
    ),
    "POST /api/v1/soa/{soa_id}/controls/{control}/files": Spec(
        P.soa_write, files={"file": ("review.txt", b"reviewed", "text/plain")}
    ),
    "POST /api/v1/soa/{soa_id}/submit": Spec(P.soa_write),
    "POST /api/v1/soa/{soa_id}/decision": Spec(
        P.decision_make, json={"decision": "rejected", "comment": "not now"}
    ),
    "GET /deployments/{deployment_id}/soa": Spec(P.read),
    "POST /deployments/{deployment_id}/soa": Spec(P.soa_write, form={}),
    "POST /soa/{soa_id}/controls/{control}": Spec(
        P.soa_write, form={"applicable": "yes", "status": "implemented", "owner": "SRE lead"}
    ),
    "POST /soa/{soa_id}/controls/{control}/evidence": Spec(
        P.soa_write, form={"url": "https://wiki.example/logs", "title": "runbook"}
    ),
    "POST /soa/{soa_id}/submit": Spec(P.soa_write, form={}),
    "POST /soa/{soa_id}/decision": Spec(
        P.decision_make, form={"decision": "rejected", "comment": "not now"}
    ),
    # pages: reads
    "GET /": Spec(P.read),
    "GET /matrix": Spec(P.read),
    "GET /axes/{key}": Spec(P.read),
    "GET /profiles": Spec(P.read),
    "GET /catalog/failure-modes": Spec(P.read),
    "GET /catalog/gpus": Spec(P.read),
    "GET /catalog/models": Spec(P.read),
    "GET /catalog/frameworks": Spec(P.read),
    "GET /catalog/hosted-models": Spec(P.read),
    "GET /deployments/{deployment_id}/hosted-alternatives": Spec(P.read),
    # the panels the deployment, assessment and portfolio pages load from their features (htmx)
    "GET /deployments/{deployment_id}/serving-cost": Spec(P.read),
    "GET /deployments/{deployment_id}/assessments-panel": Spec(P.read),
    "GET /deployments/{deployment_id}/portfolios-panel": Spec(P.read),
    "GET /recommendations/{recommendation_id}/decision": Spec(P.read),
    "GET /portfolios/{portfolio_id}/decision": Spec(P.read),
    "GET /deployments": Spec(P.read),
    "GET /deployments/{deployment_id}": Spec(P.read),
    "GET /deployments/{deployment_id}/assessment/follow-ups/{fm}": Spec(
        P.assessment_submit, query="fm.factual_staleness.severity=3"
    ),
    "GET /assessments/{assessment_id}": Spec(P.read),
    "GET /rules": Spec(P.read),
    "GET /deployments/{deployment_id}/portfolios": Spec(P.read),
    "GET /portfolios/compare.csv": Spec(P.read, scoped_query=True),
    "GET /portfolios/compare.json": Spec(P.read, scoped_query=True),
    "GET /portfolios/compare": Spec(P.read, scoped_query=True),
    "GET /portfolios/{portfolio_id}": Spec(P.read),
    "GET /deployments/{deployment_id}/evaluations": Spec(P.read),
    "GET /evaluations/{evaluation_id}": Spec(P.read),
    "GET /deployments/{deployment_id}/risks": Spec(P.read),
    "GET /deployments/{deployment_id}/report": Spec(P.report_export),
    "GET /estimates": Spec(P.read),
    "GET /estimates/compare": Spec(P.read),
    "GET /estimates/training": Spec(P.read),
    "GET /calibrations": Spec(P.read),
    "GET /calibrations/jobs/{job_id}": Spec(P.read),
    "GET /jobs/{job_id}": Spec(P.read),
    "GET /jobs/{report_job_id}/download": Spec(P.report_export),
    "GET /scaling/jobs/{fit_job_id}": Spec(P.read),
    "GET /deployments/{deployment_id}/portfolio-search": Spec(P.portfolio_write),
    "GET /deployments/{deployment_id}/portfolio-search/jobs/{search_job_id}": Spec(P.read),
    "POST /deployments/{deployment_id}/report/jobs": Spec(P.report_export, form={}),
    "GET /scaling": Spec(P.read),
    "GET /scaling/compute": Spec(P.read),
    "GET /scaling/inference-aware": Spec(P.read),
    "GET /scaling/fit": Spec(P.read),
    "GET /scaling/conditional-fit": Spec(P.read),
    "GET /scaling/architecture": Spec(P.read),
    "GET /scaling/search": Spec(P.read),
    "GET /audit": Spec(P.audit_read),
    "GET /governance/queue": Spec(P.read),
    "GET /notifications": Spec(P.read),
    "GET /notifications/badge": Spec(P.read),
    # pages: forms of writers
    "GET /matrix/edit": Spec(P.matrix_edit),
    "GET /deployments/new": Spec(P.deployment_write),
    "GET /deployments/{deployment_id}/edit": Spec(P.deployment_write),
    "GET /deployments/{deployment_id}/assessment": Spec(P.assessment_submit),
    "GET /rules/edit": Spec(P.rules_edit),
    "GET /deployments/{deployment_id}/portfolios/new": Spec(P.portfolio_write),
    "GET /portfolios/{portfolio_id}/edit": Spec(P.portfolio_write),
    # pages: writes
    "POST /matrix/edit": Spec(
        P.matrix_edit, form={"retrieval.cost.level": "3", "retrieval.cost.wording": "Medium"}
    ),
    "POST /catalog/gpus/{key}/price": Spec(
        P.catalog_edit, form={"price_per_hour_usd": "0.8", "kind": "spot"}
    ),
    "POST /catalog/gpus/{key}/price/remove": Spec(P.catalog_edit, form={}),
    "POST /catalog/hosted-models/{model_key}/price": Spec(
        P.catalog_edit, form={"input_per_m_usd": "0.04", "output_per_m_usd": "0.3"}
    ),
    "POST /catalog/hosted-models/{model_key}/price/remove": Spec(P.catalog_edit, form={}),
    "POST /deployments/new": Spec(P.deployment_write, form=DEPLOYMENT_FORM),
    "POST /deployments/{deployment_id}/edit": Spec(P.deployment_write, form=DEPLOYMENT_FORM),
    "POST /deployments/{deployment_id}/delete": Spec(P.deployment_write, form={}),
    "POST /deployments/{deployment_id}/assessment/draft": Spec(
        P.assessment_submit, form=QUESTIONNAIRE, headers={"HX-Request": "true"}
    ),
    "POST /deployments/{deployment_id}/assessment": Spec(P.assessment_submit, form=QUESTIONNAIRE),
    "POST /assessments/{assessment_id}/rerun": Spec(P.assessment_submit, form={}),
    "POST /rules/edit": Spec(P.rules_edit, form={"__rules__": "yaml", "action": "check"}),
    "POST /deployments/{deployment_id}/portfolios/new": Spec(
        P.portfolio_write, form={"name": "P3"}
    ),
    "POST /portfolios/{portfolio_id}/edit": Spec(P.portfolio_write, form={"name": "renamed"}),
    "POST /portfolios/{portfolio_id}/duplicate": Spec(P.portfolio_write, form={}),
    "POST /portfolios/{portfolio_id}/delete": Spec(P.portfolio_write, form={}),
    "POST /portfolios/{portfolio_id}/submit": Spec(P.portfolio_write, form={}),
    "POST /deployments/{deployment_id}/portfolio-search": Spec(
        P.portfolio_write, form={"fm.policy_noncompliance.severity": "2"}
    ),
    "POST /notifications/read": Spec(P.read, form={}),
    "POST /assessments/{assessment_id}/portfolio": Spec(P.portfolio_write, form={}),
    "POST /recommendations/{recommendation_id}/decision": Spec(
        P.decision_make,
        form={"decision": "rejected", "comment": "not now"},
        headers={"HX-Request": "true"},
    ),
    "POST /portfolios/{portfolio_id}/decision": Spec(
        P.decision_make,
        form={"decision": "rejected", "comment": "not now"},
        headers={"HX-Request": "true"},
        submitted=True,
    ),
    "POST /deployments/{deployment_id}/evaluations": Spec(
        P.evaluation_write, form={"label": "pilot", "tolerance": "0", "results_csv": EVAL_CSV}
    ),
    "POST /calibrations/run": Spec(
        P.calibration_run,
        form={
            "model": "llama_3_2_1b",
            "gpu": "h100_sxm_80gb",
            "engine": "hf-transformers",
            "max_layers": "1",
        },
        headers={"HX-Request": "true"},
    ),
    "POST /calibrations/import": Spec(
        P.calibration_run,
        form={
            "model": "llama_3_1_8b",
            "gpu": "h100_sxm_80gb",
            "n_gpus": "1",
            "precision": "bf16",
            "kv_cache_precision": "bf16",
            "engine": "vllm",
            "bench_file": json.dumps(BENCH),
        },
        headers={"HX-Request": "true"},
    ),
    "POST /scaling/fit": Spec(
        P.estimate_run,
        form={
            "runs_csv": "params,tokens,loss\n"
            + "".join(f"{r['params']},{r['tokens']},{r['loss']}\n" for r in CHINCHILLA_RUNS)
        },
    ),
    "POST /scaling/conditional-fit": Spec(P.estimate_run, form={"__conditional_csv__": "1"}),
    "POST /scaling/search/measure": Spec(
        P.torch_run,
        form={
            "designs": json.dumps(DESIGNS),
            "gpu": "a100_sxm_80gb",
            "engine": "vllm",
            "batch": "2",
            "context": "64",
        },
    ),
    "POST /audit/verify": Spec(P.audit_read, form={}),
}

# Which path parameter names an object of one organisation, and the world's id for it.
SCOPED_PARAMS = (
    "deployment_id",
    "assessment_id",
    "recommendation_id",
    "portfolio_id",
    "evaluation_id",
    "job_id",
    "report_job_id",
    "fit_job_id",
    "soa_id",
    "file_id",
    "search_job_id",
)
OTHER_PARAMS = {"key": None, "fm": "factual_staleness"}  # key depends on the route


def _route_table(app: FastAPI) -> dict[str, APIRoute | None]:
    """``"METHOD /path"`` for every route the app serves (int convertors dropped)."""
    out: dict[str, APIRoute | None] = {}

    def walk(routes: list[Any], prefix: str) -> None:
        for r in routes:
            if isinstance(r, APIRoute):
                for m in r.methods:
                    out[f"{m} {re.sub(r':int}', '}', prefix + r.path)}"] = r
            elif hasattr(r, "original_router"):  # an included router (FastAPI >= 0.120)
                walk(r.original_router.routes, prefix + r.include_context.prefix)
            elif getattr(r, "routes", None):
                walk(r.routes, prefix + getattr(r, "path", ""))

    walk(app.router.routes, "")
    return out


# Framework routes that are not the product's: documentation and the schema, served to anyone.
FRAMEWORK = {"/openapi.json", "/api/docs", "/docs/oauth2-redirect"}


def test_every_route_has_a_policy(asgi: Any) -> None:
    served = set(_route_table(asgi.fastapi_app))
    assert served - POLICY.keys() == set(), "routes without an authorisation policy"
    assert POLICY.keys() - served == set(), "policy for routes the app no longer serves"
    others = {getattr(r, "path", "") for r in asgi.fastapi_app.routes} - {
        re.sub(r":int}", "}", p.split(" ", 1)[1]) for p in served
    }
    assert others <= FRAMEWORK | {"/static", "/api/v1", ""}, others


@dataclass
class World:
    """Two organisations; the first owns one of everything, written by users outside the matrix."""

    ids: dict[str, int]
    portfolios: tuple[int, int]
    users: dict[Role, str]  # email of each role in the first organisation
    outsider: str  # an admin of the other organisation
    outsider_portfolios: tuple[int, int]


@pytest.fixture
def world(client: TestClient, session: Session, asgi: Any) -> Iterator[World]:
    started: list[int] = []
    asgi.fastapi_app.state.job_runner = started.append  # jobs are queued, not run
    lead = create_user(session, org="OrgA", role="product_lead")
    architect = create_user(session, org="OrgA", role="architect")
    gov = create_user(session, org="OrgA", role="governance")
    admin_a = create_user(session, org="OrgA", role="admin")
    dep = create_deployment(
        session,
        user=lead,
        name=f"{MARKER} deployment",
        segments=[{"name": "EU", "risk": "high"}, {"name": "US", "risk": "low"}],
    )
    session.commit()
    h_lead, h_arch = api_headers(client, lead.email), api_headers(client, architect.email)
    a = client.post(
        f"/api/v1/deployments/{dep.id}/assessments", json={"answers": ANSWERS}, headers=h_lead
    ).json()
    p1, p2 = (
        client.post(
            "/api/v1/portfolios",
            json={"deployment_id": dep.id, "name": f"{MARKER} {n}", "items": PORTFOLIO_ITEMS},
            headers=h_arch,
        ).json()["id"]
        for n in ("one", "two")
    )
    h_gov = api_headers(client, gov.email)
    ev = client.post(
        f"/api/v1/deployments/{dep.id}/evaluations",
        headers=h_gov,
        json={"label": f"{MARKER} eval", "results": EVAL_RESULTS},
    ).json()
    job = jobs.create(
        session, org_id=dep.org_id, kind="calibration", params={}, created_by=admin_a.email
    )
    # finished jobs of the kinds with pages of their own: a report (with its file) and a fit
    report_job = jobs.create(
        session, org_id=dep.org_id, kind="report_pdf", params={}, created_by=lead.email
    )
    report_job.status, report_job.result = (
        "succeeded",
        {
            "filename": "r.pdf",
            "media_type": "application/pdf",
            "size_bytes": 8,
            "content_b64": "JVBERi0xLjcK",
        },
    )
    fit_job = jobs.create(
        session, org_id=dep.org_id, kind="chinchilla_fit", params={}, created_by=architect.email
    )
    fit_job.status, fit_job.result = (
        "succeeded",
        client.post(
            "/api/v1/scaling/chinchilla/fit",
            json={"runs": CHINCHILLA_RUNS, "bootstrap": 0},
            headers=h_arch,
        ).json(),
    )
    soa = client.post(f"/api/v1/deployments/{dep.id}/soa", headers=h_gov).json()
    evidence = client.post(
        f"/api/v1/soa/{soa['id']}/controls/A.6.2.8/files",
        headers=h_gov,
        files={"file": (f"{MARKER}.txt", b"log review", "text/plain")},
    ).json()
    soa_file = evidence["controls"][[c["control"] for c in evidence["controls"]].index("A.6.2.8")][
        "evidence"
    ][0]["file_id"]
    search_job = jobs.create(
        session,
        org_id=dep.org_id,
        kind="portfolio_search",
        params={"deployment_id": dep.id},
        created_by=architect.email,
    )
    search_job.status, search_job.result = (
        "succeeded",
        client.post(
            f"/api/v1/deployments/{dep.id}/portfolio-search",
            headers=h_arch,
            json={"failure_modes": [SEARCH_FM]},
        ).json(),
    )
    outsider = create_user(session, org="OrgB", role="admin")
    dep_b = create_deployment(session, user=outsider, name="OrgB deployment")
    session.commit()
    h_b = api_headers(client, outsider.email)
    qb = [
        client.post(
            "/api/v1/portfolios",
            headers=h_b,
            json={"deployment_id": dep_b.id, "name": f"B{n}", "items": PORTFOLIO_ITEMS},
        ).json()["id"]
        for n in (1, 2)
    ]
    users = {role: create_user(session, org="OrgA", role=role.value).email for role in Role}
    session.commit()
    yield World(
        ids={
            "deployment_id": dep.id,
            "assessment_id": a["id"],
            "recommendation_id": a["recommendation"]["id"],
            "portfolio_id": p1,
            "evaluation_id": ev["id"],
            "job_id": job.id,
            "report_job_id": report_job.id,
            "fit_job_id": fit_job.id,
            "soa_id": soa["id"],
            "file_id": soa_file,
            "search_job_id": search_job.id,
        },
        portfolios=(p1, p2),
        users=users,
        outsider=outsider.email,
        outsider_portfolios=(qb[0], qb[1]),
    )
    asgi.fastapi_app.state.job_runner = None


def _conditional_runs() -> list[dict[str, float]]:
    from app.scaling.conditional import PUBLISHED, synthetic_runs

    c = synthetic_runs(
        PUBLISHED["bian_task3"], [(8e7, 3.6), (1.45e8, 3.4), (2.97e8, 3.2)], per_scale=20
    )
    return [
        {
            "n_non_embed": float(n),
            "d_model": round(float(x) * float(n) ** 0.5),
            "r": float(r),
            "loss": float(loss),
            "reference_loss": float(ref),
        }
        for n, x, r, loss, ref in zip(
            c.n_non_embed, c.x, c.r, c.loss, c.reference_loss, strict=True
        )
    ]


def _fill(value: dict[str, Any] | None, ids: dict[str, int]) -> dict[str, Any] | None:
    if value is None:
        return None
    out = {k: v for k, v in value.items() if not k.startswith("__")}
    if "__deployment__" in value:
        out.update(deployment_payload(name="New one"))
    if "__deployment_id__" in value:
        out["deployment_id"] = ids["deployment_id"]
    if "__rules__" in value:
        out["yaml"] = _rules_yaml()
    if "__conditional__" in value:
        out["runs"] = _conditional_runs()
    if "__conditional_csv__" in value:
        rows = _conditional_runs()
        out["runs_csv"] = "n_non_embed,d_model,r,loss,reference_loss\n" + "".join(
            f"{r['n_non_embed']},{r['d_model']},{r['r']},{r['loss']},{r['reference_loss']}\n"
            for r in rows
        )
    return out


def _url(route: str, ids: dict[str, int], portfolios: tuple[int, int], spec: Spec) -> str:
    path = route.split(" ", 1)[1]
    for name in SCOPED_PARAMS:
        path = path.replace("{" + name + "}", str(ids[name]))
    gpu = path.startswith(("/catalog/gpus", "/api/v1/gpus", "/api/v1/operator/gpus"))
    key = "l4" if gpu else "retrieval"
    path = path.replace("{key}", key).replace("{fm}", "factual_staleness")
    path = path.replace("{control}", "A.6.2.8")
    path = path.replace("{model_key}", "openai_gpt_5_nano")
    query = spec.query
    if spec.scoped_query:
        query = "&".join(q for q in (f"ids={portfolios[0]},{portfolios[1]}", query) if q)
    return f"{path}?{query}" if query else path


class Matrix:
    def __init__(
        self, client: TestClient, session: Session, connection: Connection, emails: list[str]
    ) -> None:
        self.client, self.session, self.connection = client, session, connection
        # Tokens issued before any savepoint: one issued inside would be rolled back with it.
        self._tokens = {email: api_headers(client, email) for email in emails}

    def as_user(self, email: str | None, api: bool) -> dict[str, str]:
        """Sign the client in (page session) or return bearer headers; None: anonymous."""
        self.client.cookies.clear()
        if email is None:
            return {}
        if api:
            return self._tokens[email]
        page_login(self.client, email)
        return {}

    def call(
        self, route: str, spec: Spec, url: str, email: str | None, ids: dict[str, int]
    ) -> Response:
        method = route.split(" ", 1)[0]
        api = route.split(" ", 1)[1].startswith("/api/")
        headers = {**self.as_user(email, api), **spec.headers}
        kwargs: dict[str, Any] = {"headers": headers, "follow_redirects": False}
        if spec.files is not None:
            kwargs["files"] = spec.files
        elif spec.json is not None or (api and method in ("POST", "PATCH")):
            kwargs["json"] = _fill(spec.json or {}, ids)
        if spec.form is not None:
            token = csrf(self.client, "/login" if email is None else "/")
            kwargs["data"] = {"csrftoken": token, **(_fill(spec.form, ids) or {})}
        return self.client.request(method, url, **kwargs)

    def submit_portfolio(self, portfolio_id: int, email: str) -> None:
        r = self.client.post(
            f"/api/v1/portfolios/{portfolio_id}/submit", headers=self._tokens[email]
        )
        assert r.status_code == 200, r.text

    @contextmanager
    def undone(self) -> Iterator[None]:
        """Whatever the request writes is rolled back afterwards (and caches forgotten)."""
        self.session.commit()
        savepoint = self.connection.begin_nested()
        try:
            yield
        finally:
            if savepoint.is_active:
                savepoint.rollback()
            self.session.expire_all()
            clear_reference_cache()
            rulesets_service.clear_cache()


def _is_login_redirect(r: Response) -> bool:
    """A redirect to /login: a 303 for a browser, a 204 with ``HX-Redirect`` for htmx."""
    if r.status_code == 204:
        return r.headers.get("HX-Redirect", "").startswith("/login")
    return r.status_code in (302, 303) and r.headers["location"].startswith("/login")


@pytest.mark.parametrize("route", sorted(k for k, v in POLICY.items() if v.need != PUBLIC))
@pytest.mark.slow
def test_authorisation_matrix(
    route: str, client: TestClient, session: Session, connection: Connection, world: World
) -> None:
    spec = POLICY[route]
    api = route.split(" ", 1)[1].startswith("/api/")
    matrix = Matrix(client, session, connection, [*world.users.values(), world.outsider])
    url = _url(route, world.ids, world.portfolios, spec)
    outcome: dict[str, int] = {}

    anon = matrix.call(route, spec, url, None, world.ids)
    if api:
        assert anon.status_code == 401, (route, "anonymous", anon.status_code, anon.text[:300])
    else:
        assert _is_login_redirect(anon), (route, "anonymous", anon.status_code, anon.text[:300])

    for role in Role:
        with matrix.undone():
            if spec.submitted:
                matrix.submit_portfolio(world.ids["portfolio_id"], world.users[Role.architect])
            r = matrix.call(route, spec, url, world.users[role], world.ids)
        outcome[role.value] = r.status_code
        if has_permission(role, spec.need):  # type: ignore[arg-type]
            assert r.status_code < 400, (route, role.value, r.status_code, r.text[:500])
        else:
            assert r.status_code == 403, (route, role.value, r.status_code, r.text[:300])

    # Every state-changing page request needs the CSRF token (form field or htmx header).
    if not api and route.startswith("POST "):
        with matrix.undone():
            matrix.as_user(world.users[Role.admin], api=False)
            forged = client.post(
                url, data=_fill(spec.form, world.ids), headers=spec.headers, follow_redirects=False
            )
        assert forged.status_code == 403, (route, "no CSRF token", forged.status_code)

    # Another organisation's admin: the first organisation's objects do not exist for them.
    scoped = spec.scoped_query or any("{" + p + "}" in route for p in SCOPED_PARAMS)
    with matrix.undone():
        r = matrix.call(route, spec, url, world.outsider, world.ids)
    if scoped:
        assert r.status_code == 404, (route, "other organisation", r.status_code, r.text[:300])
    assert MARKER not in r.text, (route, "other organisation sees the first one's data")
    if spec.scoped_query:  # the same request with their own ids is served
        own = _url(route, world.ids, world.outsider_portfolios, spec)
        with matrix.undone():
            mine = matrix.call(route, spec, own, world.outsider, world.ids)
        assert mine.status_code == 200, (route, mine.status_code, mine.text[:300])
