"""Permission checks live in one place: each route's dependency (issue 23 item 4).

Every route that needs more than ``read`` declares it with ``page_requires``/``api_requires``,
and the permission it declares is the one the authorisation policy (tests/test_authz_matrix.py,
which exercises every route for every role) says it needs. Services do not check again.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

from fastapi.dependencies.models import Dependant

from app.auth.guards import ApiRequires, PageRequires
from tests.auth.test_authz_matrix import OPERATOR, POLICY, PUBLIC, _route_table

APP = Path(__file__).resolve().parents[2] / "app"

# Routes whose permission is checked by a function they share with a background job, which
# re-checks the role of the user who asked when it runs (the report PDF): the check stays there.
CHECKED_INSIDE = {
    "GET /api/v1/deployments/{deployment_id}/report",
    "GET /deployments/{deployment_id}/report",
    "GET /api/v1/jobs/{report_job_id}/download",
    "GET /jobs/{report_job_id}/download",
    "POST /api/v1/deployments/{deployment_id}/report/jobs",
    "POST /deployments/{deployment_id}/report/jobs",
}


def _guards(dep: Dependant) -> set[Any]:
    found = set()
    for d in dep.dependencies:
        if isinstance(d.call, PageRequires | ApiRequires):
            found.add(d.call.permission)
        found |= _guards(d)
    return found


def test_each_route_declares_the_permission_the_policy_gives_it(asgi: Any) -> None:
    wrong = {}
    for key, route in _route_table(asgi.fastapi_app).items():
        spec = POLICY.get(key)
        if route is None or spec is None or key in CHECKED_INSIDE:
            continue
        declared = _guards(route.dependant)
        expected = set() if spec.need in (PUBLIC, OPERATOR, "read") else {spec.need}
        if declared != expected:
            wrong[key] = (sorted(declared), sorted(expected))
    assert not wrong, f"route: (declared, policy): {wrong}"


def test_services_do_not_check_permissions() -> None:
    """``caller.require`` appears only in the guards, the Caller itself, the report export shared
    with its background job, and the calibration start (torch:run is needed for one kind of
    calibration only, which the route knows once it has parsed the request)."""
    allowed = {
        "auth/guards.py",
        "auth/context.py",
        "governance/reports_api.py",
        "governance/report_jobs.py",
        "estimates/calibrations.py",
    }
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
