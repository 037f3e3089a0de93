"""The demo organisation: one user per role, three realistic deployments, a submitted
assessment for each so a first run shows real recommendations, and portfolios to compare."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.assessments import service as assessment_service
from app.assessments.schemas import AssessmentIn
from app.auth import service as auth_service
from app.auth.context import Caller
from app.auth.models import User
from app.auth.permissions import Role
from app.deployments import service as deployment_service
from app.deployments.repository import DeploymentRepository
from app.deployments.schemas import DeploymentCreate
from app.errors import Conflict, InvalidInput
from app.estimators.errors import FieldError
from app.portfolios import service as portfolio_service
from app.portfolios.schemas import PortfolioCreate
from app.seed import ensure_org_defaults

log = logging.getLogger(__name__)

DEMO_ORG = "Demo Org"
DEMO_PASSWORD = "axisboard-demo"  # noqa: S105 - printed to the person who asked for demo data
DEMO_USERS = {role: f"{role.value.replace('_', '-')}@demo.axisboard.test" for role in Role}

DEMO_DEPLOYMENTS = [
    {
        "name": "Support chatbot",
        "use_case": "Customer-support assistant answering product and billing questions from the "
        "help centre; must cite current policy pages.",
        "model": "llama_3_1_8b",
        "gpu": "a100_sxm_80gb",
        "n_gpus": 2,
        "engine": "vllm",
        "requests_per_day": 120_000,
        "mean_input_tokens": 1_800,
        "mean_output_tokens": 250,
        "ttft_slo_ms": 800,
        "tpot_slo_ms": 50,
        "monthly_budget_usd": 6_000,
        "profile": "startup",
        "regulatory_flags": ["pii"],
        "segments": [
            {"name": "English", "risk": "low"},
            {"name": "German", "risk": "medium"},
            {"name": "Billing disputes", "risk": "high"},
        ],
    },
    {
        "name": "Contract analysis",
        "use_case": "Clause extraction and risk review of supplier contracts (40-120 pages) for "
        "the legal team; answers must be traceable to clauses.",
        "model": "llama_3_1_70b",
        "gpu": "h100_sxm_80gb",
        "n_gpus": 4,
        "engine": "tensorrt-llm",
        "requests_per_day": 4_000,
        "mean_input_tokens": 24_000,
        "mean_output_tokens": 900,
        "ttft_slo_ms": 6_000,
        "tpot_slo_ms": 60,
        "monthly_budget_usd": 25_000,
        "profile": "enterprise",
        "regulatory_flags": ["pii", "regulated_sector"],
        "segments": [
            {"name": "EU contracts", "risk": "high"},
            {"name": "US contracts", "risk": "medium"},
            {"name": "NDAs", "risk": "low"},
        ],
    },
    {
        "name": "Code assistant",
        "use_case": "In-IDE code completion and refactoring suggestions for 600 engineers.",
        "model": "mixtral_8x7b",
        "gpu": "h100_sxm_80gb",
        "n_gpus": 2,
        "engine": "sglang",
        "requests_per_day": 900_000,
        "mean_input_tokens": 2_500,
        "mean_output_tokens": 120,
        "ttft_slo_ms": 300,
        "tpot_slo_ms": 25,
        "monthly_budget_usd": 18_000,
        "profile": "research",
        "regulatory_flags": [],
        "segments": [
            {"name": "Python", "risk": "low"},
            {"name": "Rust", "risk": "medium"},
            {"name": "Security-sensitive modules", "risk": "high"},
        ],
    },
]


# What each demo deployment gets wrong (answers as a product lead would give them).
DEMO_ASSESSMENTS: dict[str, dict[str, Any]] = {
    "Support chatbot": {
        "answers": [
            {
                "failure_mode": "factual_staleness",
                "severity": 3,
                "traffic_share": 0.35,
                "segments": ["Billing disputes", "English"],
                "corpus_tokens": 4e7,
                "cross_document": False,
            },
            {
                "failure_mode": "policy_noncompliance",
                "severity": 2,
                "traffic_share": 0.08,
                "segments": ["Billing disputes"],
                "control_need": "simplicity_cost",
            },
            {
                "failure_mode": "domain_accuracy_gap",
                "severity": 1,
                "traffic_share": 0.1,
                "segments": ["German"],
                "labelled_data": False,
            },
        ],
        "governance_capacity": 12,
    },
    "Contract analysis": {
        "answers": [
            {
                "failure_mode": "cross_document_synthesis",
                "severity": 3,
                "traffic_share": 0.4,
                "segments": ["EU contracts"],
                "corpus_tokens": 6e8,
            },
            {
                "failure_mode": "long_input_loss",
                "severity": 3,
                "traffic_share": 0.5,
                "segments": ["EU contracts", "US contracts"],
            },
            {
                "failure_mode": "policy_noncompliance",
                "severity": 2,
                "traffic_share": 0.05,
                "control_need": "principled",
            },
            {
                "failure_mode": "complex_task_errors",
                "severity": 2,
                "traffic_share": 0.2,
                "segments": ["EU contracts"],
            },
        ],
        "governance_capacity": 10,
    },
    "Code assistant": {
        "answers": [
            {"failure_mode": "serving_cost", "severity": 3, "traffic_share": 1.0},
            {
                "failure_mode": "complex_task_errors",
                "severity": 2,
                "traffic_share": 0.15,
                "segments": ["Security-sensitive modules"],
            },
            {
                "failure_mode": "domain_accuracy_gap",
                "severity": 2,
                "traffic_share": 0.2,
                "segments": ["Rust"],
                "labelled_data": True,
                "distribution": "stable",
            },
        ],
        "observed_tpot_ms": 22.0,
    },
}


# Portfolios an architect would put side by side for the demo deployments.
DEMO_PORTFOLIOS: dict[str, list[tuple[str, list[dict[str, Any]]]]] = {
    "Code assistant": [
        ("As is", []),
        (
            "Serving first",
            [
                {
                    "axis": "serving_optimization",
                    "technique": "paged_attention_speculative",
                    "params": {"alpha": 0.75, "gamma": 4, "c": 0.05},
                },
                {
                    "axis": "serving_optimization",
                    "technique": "quantization",
                    "params": {"precision": "fp8"},
                },
            ],
        ),
        (
            "Serving + PEFT for Rust",
            [
                {"axis": "serving_optimization", "technique": "paged_attention_speculative"},
                {"axis": "peft", "technique": "qlora", "params": {"rank": 16, "examples": 40_000}},
            ],
        ),
    ],
    "Support chatbot": [
        ("As is", []),
        (
            "RAG + DPO",
            [
                {
                    "axis": "retrieval",
                    "technique": "rag",
                    "params": {"k": 5, "chunk_tokens": 512, "corpus_tokens": 4e7},
                },
                {"axis": "alignment", "technique": "dpo"},
            ],
        ),
    ],
}


def load_demo(session: Session, *, audit_key: bytes) -> dict[str, str]:
    """Create the demo org, users and deployments if missing; returns e-mail per role."""
    for role, email in DEMO_USERS.items():
        if session.execute(select(User.id).where(User.email == email)).first() is None:
            auth_service.create_user(
                session,
                org_name=DEMO_ORG,
                email=email,
                role=role.value,
                password=DEMO_PASSWORD,
                audit_key=audit_key,
            )
    admin = session.execute(select(User).where(User.email == DEMO_USERS[Role.admin])).scalar_one()
    org = auth_service.get_or_create_org(session, DEMO_ORG)
    ensure_org_defaults(session, org.id)  # its matrix and rule set, version 1 of each
    caller = Caller(
        user_id=admin.id,
        email=admin.email,
        org_id=org.id,
        org_name=org.name,
        role=Role.admin,
        token_id=0,
    )
    repo = DeploymentRepository(session, org.id)
    for spec in DEMO_DEPLOYMENTS:
        if not repo.name_taken(str(spec["name"])):
            deployment_service.create(
                session, caller, DeploymentCreate.model_validate(spec), audit_key=audit_key
            )
    lead_user = session.execute(
        select(User).where(User.email == DEMO_USERS[Role.product_lead])
    ).scalar_one()
    lead = replace(caller, user_id=lead_user.id, email=lead_user.email, role=Role.product_lead)
    deployments, _ = repo.list(limit=100)
    for dep in deployments:
        body = DEMO_ASSESSMENTS.get(dep.name)
        if body is None:
            continue
        try:  # the key makes this idempotent: a second seed replays, it does not add
            assessment_service.submit(
                session,
                lead,
                dep.id,
                AssessmentIn.model_validate(body),
                audit_key=audit_key,
                idempotency_key=f"demo-{dep.name}",
            )
        # the deployment was edited since: leave it
        except (Conflict, InvalidInput, FieldError) as exc:
            log.warning("demo assessment for %r not added: %s", dep.name, exc.message)
    architect_user = session.execute(
        select(User).where(User.email == DEMO_USERS[Role.architect])
    ).scalar_one()
    architect = replace(
        caller, user_id=architect_user.id, email=architect_user.email, role=Role.architect
    )
    for dep in deployments:
        existing = {p.name for p in portfolio_service.list_(session, architect, dep.id)}
        for name, items in DEMO_PORTFOLIOS.get(dep.name, []):
            if name in existing:
                continue
            data = PortfolioCreate.model_validate(
                {"deployment_id": dep.id, "name": name, "items": items}
            )
            try:
                portfolio_service.create(session, architect, data, audit_key=audit_key)
            except (Conflict, InvalidInput, FieldError) as exc:
                log.warning("demo portfolio %r not added: %s", name, exc.message)
    return {role.value: email for role, email in DEMO_USERS.items()}
