"""Permission checks live in one place: each route's dependency (issue 23 item 4).

Every route that needs more than ``read`` declares it with ``page_requires``/``api_requires``,
and the permission it declares is the one the authorisation policy (tests/test_authz_matrix.py,
which exercises every route for every role) says it needs. Services do not check again.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest
from fastapi.dependencies.models import Dependant

from app.auth.guards import ApiRequires, PageRequires
from app.auth.permissions import Permission
from tests.auth.test_authz_matrix import OPERATOR, POLICY, PUBLIC, _route_table

APP = Path(__file__).resolve().parents[2] / "app"

# Routes that need a second permission besides the policy's: a calibration runs torch on this
# machine, so its routes need torch:run as well as calibration:run (today only admins hold
# calibration:run, and they hold every permission, so the policy's role matrix cannot tell).
ALSO_NEEDS = {
    "POST /api/v1/calibrations": {Permission.torch_run},
    "POST /calibrations/run": {Permission.torch_run},
}


def _guards(dep: Dependant) -> set[Any]:
    found = set()
    for d in dep.dependencies:
        if isinstance(d.call, PageRequires | ApiRequires):
            found |= set(d.call.permissions)
        found |= _guards(d)
    return found


def test_each_route_declares_the_permission_the_policy_gives_it(asgi: Any) -> None:
    wrong = {}
    for key, route in _route_table(asgi.fastapi_app).items():
        spec = POLICY.get(key)
        if route is None or spec is None:
            continue
        declared = _guards(route.dependant)
        expected = set() if spec.need in (PUBLIC, OPERATOR, "read") else {spec.need}
        expected |= ALSO_NEEDS.get(key, set())
        if declared != expected:
            wrong[key] = (sorted(declared), sorted(expected))
    assert not wrong, f"route: (declared, policy): {wrong}"


def test_services_do_not_check_permissions() -> None:
    """``caller.require`` appears only in the guards and the Caller itself: no service, job or
    shared helper checks a role (the report job trusts the route that queued it)."""
    allowed = {"auth/guards.py", "auth/context.py"}
    found = []
    for p in APP.rglob("*.py"):
        rel = p.relative_to(APP).as_posix()
        if rel in allowed:
            continue
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                if node.func.attr == "require" and getattr(node.func.value, "id", "") == "caller":
                    found.append(f"{rel}:{node.lineno}")
    assert not found, f"permission checks outside the route dependencies: {found}"


def test_checks_also_see_role_and_permission_reads() -> None:
    """No module outside the guards, the Caller and the role table reads a role's permissions
    (``caller.can``, ``has_permission``) or compares a role to decide what a caller may do."""
    allowed = {"auth/guards.py", "auth/context.py", "auth/permissions.py", "auth/deps.py"}
    found = []
    for p in APP.rglob("*.py"):
        rel = p.relative_to(APP).as_posix()
        if rel in allowed:
            continue
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                f = node.func
                name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
                if name in ("can", "has_permission"):
                    found.append(f"{rel}:{node.lineno}")
            elif isinstance(node, ast.Compare) and any(
                isinstance(x, ast.Attribute) and x.attr == "role"
                for x in (node.left, *node.comparators)
            ):
                found.append(f"{rel}:{node.lineno}")
    assert not found, f"role checks outside the route dependencies: {found}"


def test_a_calibration_needs_torch_run_as_well(
    client: Any, session: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A role given calibration:run but not torch:run may import a vLLM benchmark but not start a
    torch calibration: the route refuses with 403 before anything is queued."""
    from app.auth import permissions
    from app.auth.permissions import Role
    from tests.factories import api_headers, create_user, csrf, page_login

    table = dict(permissions.ROLE_PERMISSIONS)
    table[Role.viewer] = table[Role.viewer] | {Permission.calibration_run}
    monkeypatch.setattr(permissions, "ROLE_PERMISSIONS", table)
    viewer = create_user(session, org="OrgT", role="viewer")
    session.commit()
    headers = api_headers(client, viewer.email)
    r = client.post(
        "/api/v1/calibrations",
        json={"model": "llama_3_2_1b", "gpu": "h100_sxm_80gb", "max_layers": 1},
        headers=headers,
    )
    assert r.status_code == 403, r.text
    assert "torch:run" in r.text
    imported = client.post(
        "/api/v1/calibrations/vllm-import",
        json={"model": "llama_3_1_8b", "gpu": "h100_sxm_80gb", "bench": {}},
        headers=headers,
    )
    assert imported.status_code != 403, imported.text  # calibration:run is enough for an import
    page_login(client, viewer.email)
    token = csrf(client, "/calibrations")
    page = client.post(
        "/calibrations/run",
        data={"model": "llama_3_2_1b", "gpu": "h100_sxm_80gb", "csrftoken": token},
        headers={"HX-Request": "true"},
    )
    assert page.status_code == 403, page.text
