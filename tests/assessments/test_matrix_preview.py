"""Matrix edit (issue 22, item 13): the favourable end of each scale is stated, and a publish is
the second step after a preview of how the submitted assessments' rankings would change."""

from __future__ import annotations

import html
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.audit.models import AuditEvent
from tests.factories import api_headers, create_deployment, create_user, csrf, page_login


def _version(client: TestClient, email: str) -> int:
    v: int = client.get("/api/v1/axes", headers=api_headers(client, email)).json()["matrix_version"]
    return v


def _cells(level: int, axis: str) -> dict[str, str]:
    return {
        f"{axis}.{d}.level": str(level) for d in ("capability", "cost", "latency", "governance")
    }


def _assess(client: TestClient, session: Session, admin: Any) -> int:
    dep = create_deployment(session, user=admin, profile="startup", name="Support bot")
    page = client.get(f"/deployments/{dep.id}/assessment")
    assert page.status_code == 200
    form = {
        "csrftoken": csrf(client, f"/deployments/{dep.id}/assessment"),
        "fm.factual_staleness.severity": "3",
        "fm.policy_noncompliance.severity": "3",
    }
    r = client.post(f"/deployments/{dep.id}/assessment", data=form, follow_redirects=False)
    assert r.status_code == 303, r.text[:500]
    return dep.id


def test_edit_page_says_which_end_is_favourable(client: TestClient, session: Session) -> None:
    admin = create_user(session, role="admin")
    page_login(client, admin.email)
    text = html.unescape(client.get("/matrix/edit").text)
    assert "5 = cheapest" in text
    assert "1 = most expensive" in text
    assert "5 = lightest burden" in text
    assert "5 = highest capability gain" in text
    assert "5 = cuts latency most" in text
    # a publish button appears only after a preview
    assert "Preview ranking changes" in text
    assert 'value="publish"' not in text


def test_preview_shows_ranking_changes_then_publish_saves(
    client: TestClient, session: Session
) -> None:
    admin = create_user(session, role="admin")
    page_login(client, admin.email)
    _assess(client, session, admin)
    token = csrf(client, "/matrix/edit")
    edit = {
        "csrftoken": token,
        "note": "RAG hosting got dear",
        **_cells(1, "retrieval"),
        **_cells(5, "alignment"),
        "action": "preview",
    }
    r = client.post("/matrix/edit", data=edit)
    assert r.status_code == 200, r.text[:500]
    text = html.unescape(r.text)
    assert "nothing saved yet" in text
    assert "1 ranking would change" in text
    assert "Support bot" in text
    assert "top item changes" in text
    assert "→ #" in text
    assert _version(client, admin.email) == 1  # nothing saved
    assert 'name="preview_of"' in r.text
    digest = r.text.split('name="preview_of" value="', 1)[1].split('"', 1)[0]
    # publishing the previewed change saves version 2
    r = client.post(
        "/matrix/edit",
        data={**edit, "action": "publish", "preview_of": digest},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text[:500]
    assert _version(client, admin.email) == 2
    events = session.execute(
        select(AuditEvent).where(AuditEvent.action == "matrix.version.create")
    ).all()
    assert len(events) == 1


def test_publish_without_or_after_a_changed_preview_previews_first(
    client: TestClient, session: Session
) -> None:
    admin = create_user(session, role="admin")
    page_login(client, admin.email)
    token = csrf(client, "/matrix/edit")
    edit = {
        "csrftoken": token,
        "retrieval.cost.level": "5",
        "retrieval.cost.wording": "Very low",
        "action": "publish",
    }
    r = client.post("/matrix/edit", data=edit)
    assert r.status_code == 200
    assert "no preview was made" in html.unescape(r.text)
    assert _version(client, admin.email) == 1
    digest = r.text.split('name="preview_of" value="', 1)[1].split('"', 1)[0]
    # the previewed values were changed before publishing: preview again, nothing saved
    r = client.post(
        "/matrix/edit", data={**edit, "retrieval.cost.level": "4", "preview_of": digest}
    )
    assert r.status_code == 200
    assert "nothing saved yet" in r.text
    assert _version(client, admin.email) == 1
    r = client.post("/matrix/edit", data={**edit, "preview_of": digest}, follow_redirects=False)
    assert r.status_code == 303
    assert _version(client, admin.email) == 2


def test_preview_with_no_assessment_or_no_change(client: TestClient, session: Session) -> None:
    admin = create_user(session, role="admin")
    page_login(client, admin.email)
    token = csrf(client, "/matrix/edit")
    r = client.post(
        "/matrix/edit", data={"csrftoken": token, "retrieval.cost.level": "5", "action": "preview"}
    )
    assert r.status_code == 200
    assert "No assessment's ranking would change." in html.unescape(r.text)
    r = client.post(
        "/matrix/edit", data={"csrftoken": token, "retrieval.cost.level": "4", "action": "preview"}
    )
    assert r.status_code == 422
    assert "no cell changed" in r.text
    r = client.post(
        "/matrix/edit", data={"csrftoken": token, "retrieval.cost.level": "x", "action": "preview"}
    )
    assert r.status_code == 422
    assert "whole number 1-5" in r.text
    assert 'value="x"' in r.text
