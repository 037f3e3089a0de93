"""The approval workflow without gaps (issue 21, item 4): statuses, contributors who may not
decide (re-runs, edits, submissions, copies), approvals bound to a SHA-256 of the content and
voided by a later edit, deployments with governance records archived instead of deleted, the
governance queue and in-app notifications."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.audit.models import AuditEvent
from app.governance.models import Decision, SegmentEvaluation
from app.governance.workflow import content_sha256
from tests.factories import api_headers, create_deployment, create_user, page_login
from tests.rendering import Renders

ANSWERS = [{"failure_mode": "factual_staleness", "severity": 3, "traffic_share": 0.4}]
OK = {"decision": "approved", "comment": "go"}
ITEMS = [{"axis": "retrieval", "technique": "rag"}]


@pytest.fixture
def w(client: TestClient, session: Session) -> dict[str, Any]:
    admin = create_user(session, org="Acme", role="admin")
    dep = create_deployment(session, user=admin)
    session.commit()
    users = {
        r: create_user(session, org="Acme", role=r)
        for r in ("product_lead", "architect", "governance")
    }
    h = {r: api_headers(client, u.email) for r, u in users.items()}
    h["admin"] = api_headers(client, admin.email)
    a = client.post(
        f"/api/v1/deployments/{dep.id}/assessments",
        json={"answers": ANSWERS},
        headers=h["product_lead"],
    ).json()
    p = client.post(
        "/api/v1/portfolios",
        json={"deployment_id": dep.id, "name": "P", "items": ITEMS},
        headers=h["architect"],
    ).json()
    return {
        "h": h,
        "a": a,
        "rec": a["recommendation"]["id"],
        "p": p,
        "dep": dep.id,
        "emails": {r: u.email for r, u in users.items()} | {"admin": admin.email},
    }


def _decisions(session: Session) -> int:
    return session.execute(select(func.count()).select_from(Decision)).scalar_one()


def test_admin_who_reran_an_assessment_cannot_approve_what_the_rerun_produced(
    client: TestClient, session: Session, w: dict[str, Any]
) -> None:
    h = w["h"]
    after = client.post(f"/api/v1/assessments/{w['a']['id']}/rerun", headers=h["admin"]).json()
    new = after["recommendation"]
    assert new["id"] != w["rec"]
    assert new["contributors"] == [w["emails"]["product_lead"], w["emails"]["admin"]]
    r = client.post(f"/api/v1/recommendations/{new['id']}/decision", json=OK, headers=h["admin"])
    assert r.status_code == 403
    assert "re-ran" in r.json()["detail"]
    # nor after someone else re-runs it once more: every re-runner contributed
    arch = client.post(f"/api/v1/assessments/{w['a']['id']}/rerun", headers=h["architect"]).json()
    newer = arch["recommendation"]
    assert (
        client.post(
            f"/api/v1/recommendations/{newer['id']}/decision", json=OK, headers=h["admin"]
        ).status_code
        == 403
    )
    new = newer
    # nor the recommendation it replaced: superseded, no longer decidable by anyone
    r = client.post(
        f"/api/v1/recommendations/{w['rec']}/decision", json=OK, headers=h["governance"]
    )
    assert r.status_code == 409
    assert _decisions(session) == 0
    # someone who contributed nothing decides; both contributors are told
    r = client.post(
        f"/api/v1/recommendations/{new['id']}/decision", json=OK, headers=h["governance"]
    )
    assert r.status_code == 201
    assert r.json()["content_sha256"]
    assert len(r.json()["content_sha256"]) == 64
    got = client.get(f"/api/v1/assessments/{w['a']['id']}", headers=h["admin"]).json()
    assert got["recommendation"]["status"] == "approved"
    for role in ("product_lead", "admin", "architect"):
        notes = client.get("/api/v1/notifications", headers=h[role]).json()
        assert [n["kind"] for n in notes] == ["decision"], role
        assert "approved" in notes[0]["message"]


def test_admin_who_edited_a_portfolio_cannot_approve_it(
    client: TestClient, session: Session, w: dict[str, Any]
) -> None:
    h, pid = w["h"], w["p"]["id"]
    r = client.patch(f"/api/v1/portfolios/{pid}", json={"name": "P edited"}, headers=h["admin"])
    assert r.status_code == 200
    assert r.json()["contributors"] == [w["emails"]["architect"], w["emails"]["admin"]]
    r = client.post(f"/api/v1/portfolios/{pid}/decision", json=OK, headers=h["admin"])
    assert r.status_code == 403
    assert "segregation of duties" in r.json()["detail"]
    assert _decisions(session) == 0


def test_submitting_or_copying_a_portfolio_makes_one_a_contributor(
    client: TestClient, session: Session, w: dict[str, Any]
) -> None:
    h, pid = w["h"], w["p"]["id"]
    r = client.post(f"/api/v1/portfolios/{pid}/submit", headers=h["admin"])
    assert r.status_code == 200
    assert r.json()["status"] == "submitted"
    assert r.json()["submitted_by"] == w["emails"]["admin"]
    assert client.post(f"/api/v1/portfolios/{pid}/submit", headers=h["admin"]).status_code == 409
    assert (
        client.post(f"/api/v1/portfolios/{pid}/decision", json=OK, headers=h["admin"]).status_code
        == 403
    )
    # a copy carries its original's authors: the architect may not approve the admin's copy
    copy = client.post(f"/api/v1/portfolios/{pid}/duplicate", headers=h["admin"]).json()
    assert w["emails"]["architect"] in copy["contributors"]
    assert copy["status"] == "draft"
    assert _decisions(session) == 0


def test_an_edit_after_approval_voids_it_visibly_and_audited(
    client: TestClient, session: Session, w: dict[str, Any]
) -> None:
    h, pid = w["h"], w["p"]["id"]
    client.post(f"/api/v1/portfolios/{pid}/submit", headers=h["architect"])
    d = client.post(f"/api/v1/portfolios/{pid}/decision", json=OK, headers=h["governance"]).json()
    p = client.get(f"/api/v1/portfolios/{pid}", headers=h["architect"]).json()
    assert p["status"] == "approved"
    assert d["content_sha256"] == p["content_sha256"]
    assert p["content_sha256"] == content_sha256(
        {
            "type": "portfolio",
            "id": pid,
            "deployment_id": w["dep"],
            "name": "P",
            "items": p["items"],
        }
    )
    risks = client.get(f"/api/v1/deployments/{w['dep']}/risks", headers=h["architect"]).json()
    assert risks["axes"]["retrieval"] == "adopted"
    # the architect changes the approved portfolio: the approval does not survive it
    r = client.patch(f"/api/v1/portfolios/{pid}", json={"items": []}, headers=h["architect"])
    assert r.status_code == 200
    assert r.json()["status"] == "draft"
    assert r.json()["content_sha256"] != d["content_sha256"]
    listed = client.get(f"/api/v1/portfolios/{pid}/decisions", headers=h["architect"]).json()
    assert listed[0]["voided_by"] == w["emails"]["architect"]
    assert listed[0]["voided_at"] is not None
    assert "edited" in listed[0]["void_reason"]
    event = session.execute(
        select(AuditEvent).where(AuditEvent.action == "decision.void")
    ).scalar_one()
    assert event.before["decision_id"] == d["id"]
    assert event.entity_id == str(pid)
    risks = client.get(f"/api/v1/deployments/{w['dep']}/risks", headers=h["architect"]).json()
    assert risks["axes"].get("retrieval") != "adopted"
    assert [
        n["kind"] for n in client.get("/api/v1/notifications", headers=h["governance"]).json()
    ] == ["void"]
    page_login(client, w["emails"]["architect"])
    html = client.get(f"/portfolios/{pid}").text
    assert f'hx-get="/portfolios/{pid}/decision"' in html  # governance's panel, loaded by htmx
    panel = client.get(f"/portfolios/{pid}/decision", headers={"HX-Request": "true"}).text
    assert "voided" in panel
    assert "Submit for approval" in html
    # a rename alone also changes what was approved
    client.post(f"/api/v1/portfolios/{pid}/submit", headers=h["architect"])
    client.post(f"/api/v1/portfolios/{pid}/decision", json=OK, headers=h["governance"])
    client.patch(f"/api/v1/portfolios/{pid}", json={"name": "P2"}, headers=h["architect"])
    assert client.get(f"/api/v1/portfolios/{pid}", headers=h["architect"]).json()["status"] == (
        "draft"
    )


def test_a_decided_portfolio_is_never_deleted(
    client: TestClient, session: Session, w: dict[str, Any]
) -> None:
    h, pid = w["h"], w["p"]["id"]
    client.post(f"/api/v1/portfolios/{pid}/submit", headers=h["architect"])
    client.post(
        f"/api/v1/portfolios/{pid}/decision",
        json={"decision": "rejected", "comment": "no"},
        headers=h["governance"],
    )
    assert client.delete(f"/api/v1/portfolios/{pid}", headers=h["architect"]).status_code == 409
    assert client.get(f"/api/v1/portfolios/{pid}", headers=h["architect"]).status_code == 200
    assert _decisions(session) == 1


def test_deleting_a_deployment_with_governance_records_archives_it(
    client: TestClient, session: Session, w: dict[str, Any]
) -> None:
    h, dep = w["h"], w["dep"]
    client.post(f"/api/v1/recommendations/{w['rec']}/decision", json=OK, headers=h["governance"])
    r = client.delete(f"/api/v1/deployments/{dep}", headers=h["product_lead"])
    assert r.status_code == 200
    assert r.json()["archived_by"] == w["emails"]["product_lead"]
    assert _decisions(session) == 1
    assert (
        client.get(f"/api/v1/recommendations/{w['rec']}/decisions", headers=h["governance"]).json()[
            0
        ]["decision"]
        == "approved"
    )

    def ids(q: str) -> list[int]:
        got = client.get(f"/api/v1/deployments{q}", headers=h["governance"]).json()
        return [d["id"] for d in got["items"]]

    assert dep not in ids("")
    assert dep in ids("?archived=include")
    assert ids("?archived=only") == [dep]
    assert (
        client.patch(
            f"/api/v1/deployments/{dep}", json={"n_gpus": 2}, headers=h["product_lead"]
        ).status_code
        == 409
    )
    assert (
        client.post(
            f"/api/v1/deployments/{dep}/assessments",
            json={"answers": ANSWERS},
            headers=h["product_lead"],
        ).status_code
        == 409
    )
    assert client.delete(f"/api/v1/deployments/{dep}", headers=h["admin"]).status_code == 200
    assert session.execute(
        select(AuditEvent.action).where(
            AuditEvent.action.like("deployment.%"), AuditEvent.entity_id == str(dep)
        )
    ).scalars().all()[-1:] == ["deployment.archive"]
    page_login(client, w["emails"]["product_lead"])
    assert f'href="/deployments/{dep}"' not in client.get("/deployments").text
    assert f'href="/deployments/{dep}"' in client.get("/deployments?archived=only").text


def test_a_deployment_with_only_an_evaluation_is_archived_and_one_without_records_deleted(
    client: TestClient, session: Session, w: dict[str, Any]
) -> None:
    h = w["h"]
    results = [
        {"segment": "all", "metric": "acc", "phase": p, "value": v}
        for p, v in (("before", 0.8), ("after", 0.82))
    ]
    client.post(
        f"/api/v1/deployments/{w['dep']}/evaluations",
        headers=h["governance"],
        json={"label": "pilot", "results": results},
    )
    assert client.delete(f"/api/v1/deployments/{w['dep']}", headers=h["admin"]).status_code == 200
    assert session.execute(select(func.count()).select_from(SegmentEvaluation)).scalar_one() == 1
    bare = create_deployment(
        session, user=create_user(session, org="Acme", role="architect"), name="Bare"
    )
    session.commit()
    assert client.delete(f"/api/v1/deployments/{bare.id}", headers=h["admin"]).status_code == 204
    assert client.get(f"/api/v1/deployments/{bare.id}", headers=h["admin"]).status_code == 404


def test_the_queue_lists_what_awaits_a_decision(
    client: TestClient, session: Session, w: dict[str, Any], rendered: Renders
) -> None:
    h, pid = w["h"], w["p"]["id"]
    q = client.get("/api/v1/approvals?status=pending", headers=h["governance"]).json()
    assert [(x["target_type"], x["target_id"]) for x in q] == [("recommendation", w["rec"])]
    assert q[0]["submitted_by"] == w["emails"]["product_lead"]
    assert q[0]["since"]
    client.post(f"/api/v1/portfolios/{pid}/submit", headers=h["architect"])
    q = client.get("/api/v1/approvals", headers=h["governance"]).json()
    assert [x["target_type"] for x in q] == ["recommendation", "portfolio"]
    assert q[1]["submitted_by"] == w["emails"]["architect"]
    assert q[1]["link"] == f"/portfolios/{pid}"
    client.post(f"/api/v1/portfolios/{pid}/decision", json=OK, headers=h["governance"])
    q = client.get("/api/v1/approvals?status=pending", headers=h["governance"]).json()
    assert [x["target_type"] for x in q] == ["recommendation"]
    approved = client.get("/api/v1/approvals?status=approved", headers=h["governance"]).json()
    assert [x["target_id"] for x in approved] == [pid]
    assert client.get("/api/v1/approvals?status=maybe", headers=h["governance"]).status_code == 422
    # the queue page and the lists show statuses
    page_login(client, w["emails"]["governance"])
    html = client.get("/governance/queue").text
    queue = rendered.last("governance/queue.html").context
    assert queue["status"] == "pending"
    assert queue["statuses"] == ["pending", "approved", "rejected"]
    assert [(x["target_type"], x["target_id"]) for x in queue["rows"]] == [
        ("recommendation", w["rec"])
    ]
    assert f"Recommendation #{w['rec']}" in html
    assert w["emails"]["product_lead"] in html
    listing = client.get(f"/deployments/{w['dep']}/portfolios").text
    assert "status-approved" in listing
    hub = client.get(f"/deployments/{w['dep']}").text
    panel_url = f"/deployments/{w['dep']}/assessments-panel"  # the assessments' panel, by htmx
    assert f'hx-get="{panel_url}"' in hub
    assert "status-submitted" in client.get(panel_url, headers={"HX-Request": "true"}).text


def test_notifications_badge_and_mark_read(
    client: TestClient, session: Session, w: dict[str, Any]
) -> None:
    h, pid = w["h"], w["p"]["id"]
    client.post(f"/api/v1/portfolios/{pid}/submit", headers=h["architect"])
    client.post(
        f"/api/v1/portfolios/{pid}/decision",
        json={"decision": "rejected", "comment": "too costly"},
        headers=h["governance"],
    )
    notes = client.get("/api/v1/notifications?unread=true", headers=h["architect"]).json()
    assert len(notes) == 1
    assert "too costly" in notes[0]["message"]
    assert client.get("/api/v1/notifications", headers=h["product_lead"]).json() == []
    page_login(client, w["emails"]["architect"])
    assert ">1<" in client.get("/notifications/badge").text
    assert "too costly" in client.get("/notifications").text
    r = client.post("/api/v1/notifications/read", headers=h["architect"])
    assert r.json() == {"marked_read": 1}
    assert client.get("/notifications/badge").text == ""
    assert client.get("/api/v1/notifications?unread=true", headers=h["architect"]).json() == []
