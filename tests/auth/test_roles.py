"""Each role against each state-changing route: allowed exactly when the role table says so."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.auth.permissions import Permission, Role, has_permission
from tests.factories import (
    api_headers,
    create_deployment,
    create_user,
    csrf,
    deployment_payload,
    page_login,
)

Call = Callable[[TestClient, dict[str, str], int], Any]

API_ROUTES: list[tuple[str, Permission, Call]] = [
    (
        "POST /api/v1/deployments",
        Permission.deployment_write,
        lambda c, h, d: c.post("/api/v1/deployments", json=deployment_payload(), headers=h),
    ),
    (
        "PATCH /api/v1/deployments/{id}",
        Permission.deployment_write,
        lambda c, h, d: c.patch(f"/api/v1/deployments/{d}", json={"n_gpus": 2}, headers=h),
    ),
    (
        "DELETE /api/v1/deployments/{id}",
        Permission.deployment_write,
        lambda c, h, d: c.delete(f"/api/v1/deployments/{d}", headers=h),
    ),
    (
        "GET /api/v1/audit/events",
        Permission.audit_read,
        lambda c, h, d: c.get("/api/v1/audit/events", headers=h),
    ),
    (
        "GET /api/v1/audit/verify",
        Permission.audit_read,
        lambda c, h, d: c.get("/api/v1/audit/verify", headers=h),
    ),
]


def _form(**kw: Any) -> dict[str, Any]:
    p = deployment_payload(**kw)
    p["segments"] = ""
    return p


PAGE_ROUTES: list[tuple[str, Permission, Call]] = [
    (
        "POST /deployments/new",
        Permission.deployment_write,
        lambda c, t, d: c.post(
            "/deployments/new", data={"csrftoken": t["csrf"], **_form()}, follow_redirects=False
        ),
    ),
    (
        "POST /deployments/{id}/edit",
        Permission.deployment_write,
        lambda c, t, d: c.post(
            f"/deployments/{d}/edit",
            data={"csrftoken": t["csrf"], **_form()},
            follow_redirects=False,
        ),
    ),
    (
        "POST /deployments/{id}/delete",
        Permission.deployment_write,
        lambda c, t, d: c.post(
            f"/deployments/{d}/delete", data={"csrftoken": t["csrf"]}, follow_redirects=False
        ),
    ),
    (
        "POST /matrix/edit",
        Permission.matrix_edit,
        lambda c, t, d: c.post(
            "/matrix/edit",
            data={
                "csrftoken": t["csrf"],
                "retrieval.cost.level": "3",
                "retrieval.cost.wording": "Medium",
            },
            follow_redirects=False,
        ),
    ),
    (
        "POST /catalog/gpus/{key}/price",
        Permission.catalog_edit,
        lambda c, t, d: c.post(
            "/catalog/gpus/l4/price",
            data={"csrftoken": t["csrf"], "price_per_hour_usd": "0.8", "kind": "spot"},
            follow_redirects=False,
        ),
    ),
    (
        "POST /audit/verify",
        Permission.audit_read,
        lambda c, t, d: c.post("/audit/verify", data={"csrftoken": t["csrf"]}),
    ),
    ("GET /matrix/edit", Permission.matrix_edit, lambda c, t, d: c.get("/matrix/edit")),
    (
        "GET /deployments/new",
        Permission.deployment_write,
        lambda c, t, d: c.get("/deployments/new"),
    ),
]


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize(
    ("label", "permission", "call"), API_ROUTES, ids=[r[0] for r in API_ROUTES]
)
def test_api_role_table(
    client: TestClient, session: Session, role: Role, label: str, permission: Permission, call: Call
) -> None:
    user = create_user(session, role=role.value)
    dep = create_deployment(session, user=create_user(session, role="admin"))
    r = call(client, api_headers(client, user.email), dep.id)
    if has_permission(role, permission):
        assert r.status_code < 400, (label, role, r.status_code, r.text)
    else:
        assert r.status_code == 403, (label, role, r.status_code, r.text)


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize(
    ("label", "permission", "call"), PAGE_ROUTES, ids=[r[0] for r in PAGE_ROUTES]
)
def test_page_role_table(
    client: TestClient, session: Session, role: Role, label: str, permission: Permission, call: Call
) -> None:
    user = create_user(session, role=role.value)
    dep = create_deployment(session, user=create_user(session, role="admin"))
    page_login(client, user.email)
    r = call(client, {"csrf": csrf(client)}, dep.id)
    if has_permission(role, permission):
        assert r.status_code < 400, (label, role, r.status_code, r.text[:500])
    else:
        assert r.status_code == 403, (label, role, r.status_code)


def test_every_role_has_read() -> None:
    assert all(has_permission(r, Permission.read) for r in Role)
    assert not has_permission("nobody", Permission.read)
