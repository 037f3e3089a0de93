"""Keyword-only factories that flush (never commit)."""

from __future__ import annotations

import itertools
import json
import re
from typing import Any

from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy.orm import Session

from app.auth import service as auth_service
from app.auth.context import Caller
from app.auth.models import User
from app.auth.permissions import Role
from app.config import Environment, Settings
from app.deployments import service as deployment_service
from app.deployments.models import Deployment
from app.deployments.schemas import DeploymentCreate
from app.seed import ensure_org_defaults

PASSWORD = "correct-horse-battery"
TEST_SECRET = "test-secret-key-that-is-long-enough-0123456789"
AUDIT_KEY = Settings(environment=Environment.test, secret_key=TEST_SECRET).audit_hmac_key
_seq = itertools.count(1)


def create_user(
    session: Session,
    *,
    org: str = "Acme",
    role: str = "admin",
    email: str | None = None,
    audit_key: bytes = AUDIT_KEY,
) -> User:
    email = email or f"user{next(_seq)}-{role}@{org.lower().replace(' ', '')}.test"
    user = auth_service.create_user(
        session, org_name=org, email=email, role=role, password=PASSWORD, audit_key=audit_key
    )
    ensure_org_defaults(session, user.org_id)  # as `axisboard users create` does
    return user


def caller_for(session: Session, user: User) -> Caller:
    org = auth_service.get_or_create_org(session, _org_name(session, user))
    return Caller(
        user_id=user.id,
        email=user.email,
        org_id=org.id,
        org_name=org.name,
        role=Role(user.role),
        token_id=0,
    )


def _org_name(session: Session, user: User) -> str:
    from app.auth.models import Organization

    org = session.get(Organization, user.org_id)
    assert org is not None
    return org.name


def deployment_payload(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": f"Deployment {next(_seq)}",
        "use_case": "Answer support questions",
        "model": "llama_3_1_8b",
        "gpu": "h100_sxm_80gb",
        "n_gpus": 1,
        "engine": "vllm",
        "requests_per_day": 10_000,
        "mean_input_tokens": 1000,
        "mean_output_tokens": 200,
        "ttft_slo_ms": 500,
        "tpot_slo_ms": 40,
        "monthly_budget_usd": 5000,
        "profile": "enterprise",
        "regulatory_flags": ["pii"],
        "segments": [{"name": "EU", "risk": "high"}, {"name": "US", "risk": "low"}],
    }
    base.update(overrides)
    return base


def create_deployment(
    session: Session, *, user: User, audit_key: bytes = AUDIT_KEY, **overrides: Any
) -> Deployment:
    return deployment_service.create(
        session,
        caller_for(session, user),
        DeploymentCreate.model_validate(deployment_payload(**overrides)),
        audit_key=audit_key,
    )


def api_headers(client: TestClient, email: str, password: str = PASSWORD) -> dict[str, str]:
    r = client.post("/api/v1/auth/token", data={"username": email, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def csrf_from(html: str) -> str:
    m = re.search(r'name="csrftoken" value="([^"]+)"', html)
    assert m, "no csrf token in page"
    return m.group(1)


def post_login(
    client: TestClient, email: str, password: str = PASSWORD, next_url: str = "/"
) -> Response:
    """Submit the login form as a browser would (fresh CSRF token from the login page)."""
    page = client.get("/login")
    return client.post(
        "/login",
        data={
            "csrftoken": csrf_from(page.text),
            "email": email,
            "password": password,
            "next": next_url,
        },
        follow_redirects=False,
    )


def page_login(client: TestClient, email: str, password: str = PASSWORD) -> None:
    r = post_login(client, email, password)
    assert r.status_code == 303, r.text


def csrf(client: TestClient, path: str = "/") -> str:
    return csrf_from(client.get(path).text)


def figures_in(html: str) -> list[dict]:  # type: ignore[type-arg]
    """The Plotly figures a page embeds (data-figure attributes)."""
    out = []
    for raw in re.findall(r'data-figure="([^"]+)"', html):
        out.append(
            json.loads(
                raw.replace("&#34;", '"')
                .replace("&quot;", '"')
                .replace("&amp;", "&")
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&#39;", "'")
            )
        )
    return out
