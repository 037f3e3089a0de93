"""The layers (issue 23, item 1): the import contracts hold, no two packages import each other,
and the pages that compose several features load each feature's panel from that feature, with
the page's permissions (a login) and its 404 for another organisation's records."""

from __future__ import annotations

import collections
from typing import Any

import grimp
import pytest
from fastapi.testclient import TestClient
from importlinter.cli import lint_imports
from sqlalchemy.orm import Session

from tests.factories import api_headers, create_deployment, create_user, page_login

HX = {"HX-Request": "true"}
ANSWERS = [{"failure_mode": "factual_staleness", "severity": 3, "traffic_share": 0.4}]


def test_the_import_contracts_are_kept() -> None:
    assert lint_imports(config_filename="pyproject.toml") == 0


def test_no_two_packages_import_each_other_directly_or_round_a_loop() -> None:
    graph = grimp.build_graph("app")  # imports inside functions included

    def top(module: str) -> str:
        return ".".join(module.split(".")[:2])

    edges: dict[str, set[str]] = collections.defaultdict(set)
    for m in graph.modules:
        for imported in graph.find_modules_directly_imported_by(m):
            if imported.startswith("app.") and top(imported) != top(m):
                edges[top(m)].add(top(imported))

    def reaches(start: str, goal: str) -> bool:
        seen, todo = set(), [start]
        while todo:
            package = todo.pop()
            if package == goal:
                return True
            if package not in seen:
                seen.add(package)
                todo.extend(edges.get(package, ()))
        return False

    loops = [(a, b) for a in edges for b in edges[a] if reaches(b, a)]
    assert loops == []


@pytest.fixture
def world(client: TestClient, session: Session) -> dict[str, Any]:
    lead = create_user(session, org="Acme", role="product_lead")
    architect = create_user(session, org="Acme", role="architect")
    outsider = create_user(session, org="Other org", role="admin")
    dep = create_deployment(session, user=lead)
    session.commit()
    a = client.post(
        f"/api/v1/deployments/{dep.id}/assessments",
        json={"answers": ANSWERS},
        headers=api_headers(client, lead.email),
    ).json()
    p = client.post(
        "/api/v1/portfolios",
        json={
            "deployment_id": dep.id,
            "name": "P",
            "items": [{"axis": "retrieval", "technique": "rag"}],
        },
        headers=api_headers(client, architect.email),
    ).json()
    return {
        "dep": dep.id,
        "assessment": a["id"],
        "rec": a["recommendation"]["id"],
        "portfolio": p["id"],
        "lead": lead.email,
        "outsider": outsider.email,
    }


def _panels(w: dict[str, Any]) -> dict[str, list[str]]:
    """Each composing page and the panels it loads."""
    d = w["dep"]
    return {
        f"/deployments/{d}": [
            f"/deployments/{d}/serving-cost",
            f"/deployments/{d}/hosted-alternatives",
            f"/deployments/{d}/assessments-panel",
            f"/deployments/{d}/portfolios-panel",
        ],
        f"/assessments/{w['assessment']}": [f"/recommendations/{w['rec']}/decision"],
        f"/portfolios/{w['portfolio']}": [f"/portfolios/{w['portfolio']}/decision"],
    }


def test_composing_pages_load_each_feature_panel_as_a_fragment(
    client: TestClient, world: dict[str, Any]
) -> None:
    page_login(client, world["lead"])
    for page_url, panels in _panels(world).items():
        page = client.get(page_url)
        assert page.status_code == 200, page_url
        for url in panels:
            assert f'hx-get="{url}" hx-trigger="load"' in page.text, url
            fragment = client.get(url, headers=HX)
            assert fragment.status_code == 200, url
            assert "<html" not in fragment.text, url  # the block, not a page
            assert client.get(url).text.startswith("<!doctype html>"), url  # a page without htmx


def test_a_panel_is_404_for_another_organisation_and_needs_a_login(
    client: TestClient, world: dict[str, Any]
) -> None:
    panels = [u for urls in _panels(world).values() for u in urls]
    for url in panels:  # not logged in: sent to the login page, like the page itself
        r = client.get(url, follow_redirects=False)
        assert r.status_code in (302, 303), url
        assert "/login" in r.headers["location"], url
    page_login(client, world["outsider"])
    for url in [*_panels(world), *panels]:
        assert client.get(url, headers=HX).status_code == 404, url
