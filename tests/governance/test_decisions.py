"""Decisions on recommendations and portfolios: who may decide (governance, admin), segregation
of duties, overrides need a reason, every decision is an audit event, bad input writes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.audit.models import AuditEvent
from app.governance.models import Decision
from tests.factories import api_headers, create_deployment, create_user
from tests.rendering import Renders

ANSWERS = [
    {"failure_mode": "factual_staleness", "severity": 3, "traffic_share": 0.4},
    {"failure_mode": "policy_noncompliance", "severity": 2},
]


@pytest.fixture
def setup(client: TestClient, session: Session) -> dict[str, Any]:
    admin = create_user(session, role="admin")
    dep = create_deployment(session, user=admin)
    session.commit()
    users = {
        r: create_user(session, org="Acme", role=r)
        for r in ("product_lead", "architect", "governance", "viewer")
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
        json={
            "deployment_id": dep.id,
            "name": "P",
            "items": [{"axis": "retrieval", "technique": "rag"}],
        },
        headers=h["architect"],
    ).json()
    return {"h": h, "rec": a["recommendation"], "portfolio": p["id"], "dep": dep.id}


def _count(session: Session) -> int:
    return session.execute(select(func.count()).select_from(Decision)).scalar_one()


def test_governance_approves_with_conditions_and_it_is_audited(
    client: TestClient, session: Session, setup: dict
) -> None:
    rec = setup["rec"]
    r = client.post(
        f"/api/v1/recommendations/{rec['id']}/decision",
        json={
            "decision": "approved",
            "comment": "Go, behind the PII controls.",
            "conditions": ["PII redaction before indexing", "re-evaluate the EU segment"],
        },
        headers=setup["h"]["governance"],
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["decision"] == "approved"
    assert body["conditions"] == ["PII redaction before indexing", "re-evaluate the EU segment"]
    assert body["override_reason"] is None
    listed = client.get(
        f"/api/v1/recommendations/{rec['id']}/decisions", headers=setup["h"]["viewer"]
    ).json()
    assert [d["id"] for d in listed] == [body["id"]]
    event = session.execute(
        select(AuditEvent).where(AuditEvent.action == "decision.record")
    ).scalar_one()
    assert event.entity_type == "recommendation"
    assert event.after["conditions"][0] == "PII redaction before indexing"


def test_only_governance_and_admin_decide_and_never_on_their_own_work(
    client: TestClient, session: Session, setup: dict
) -> None:
    rec, h = setup["rec"], setup["h"]
    body = {"decision": "approved", "comment": "ok"}
    for role in ("product_lead", "architect", "viewer"):
        r = client.post(f"/api/v1/recommendations/{rec['id']}/decision", json=body, headers=h[role])
        assert r.status_code == 403, role
    # the admin submits an assessment: the admin may not approve it, governance may
    own = client.post(
        f"/api/v1/deployments/{setup['dep']}/assessments",
        json={"answers": ANSWERS},
        headers=h["admin"],
    ).json()
    r = client.post(
        f"/api/v1/recommendations/{own['recommendation']['id']}/decision",
        json=body,
        headers=h["admin"],
    )
    assert r.status_code == 403
    assert "segregation of duties" in r.json()["detail"]
    # portfolios: the author may not decide either
    arch_admin = create_user(session, org="Acme", role="admin")
    ha = api_headers(client, arch_admin.email)
    mine = client.post(
        "/api/v1/portfolios",
        json={"deployment_id": setup["dep"], "name": "Mine", "items": []},
        headers=ha,
    ).json()
    assert (
        client.post(f"/api/v1/portfolios/{mine['id']}/decision", json=body, headers=ha).status_code
        == 403
    )
    r = client.post(
        f"/api/v1/portfolios/{setup['portfolio']}/decision",
        json={"decision": "rejected", "comment": "too costly"},
        headers=ha,
    )
    assert r.status_code == 201
    assert r.json()["target_type"] == "portfolio"
    assert _count(session) == 1


def test_overriding_the_ranking_needs_a_reason(
    client: TestClient, session: Session, setup: dict
) -> None:
    rec, h = setup["rec"], setup["h"]
    url = f"/api/v1/recommendations/{rec['id']}/decision"
    ranked = [f"{i['axis']}/{i['technique']}" for i in rec["items"]]
    r = client.post(
        url,
        json={"decision": "approved", "comment": "as ranked", "adopted": ranked[:1]},
        headers=h["governance"],
    )
    assert r.status_code == 201
    assert r.json()["override_reason"] is None
    other = ["retrieval/graphrag"]
    r = client.post(
        url,
        json={"decision": "approved", "comment": "x", "adopted": other},
        headers=h["governance"],
    )
    assert r.status_code == 422
    assert r.json()["field"] == "override_reason"
    r = client.post(
        url,
        json={
            "decision": "approved",
            "comment": "x",
            "adopted": other,
            "override_reason": "our questions are global",
        },
        headers=h["governance"],
    )
    assert r.status_code == 201
    assert r.json()["override_reason"] == "our questions are global"
    assert _count(session) == 2


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"decision": "maybe", "comment": "x"}, 422),
        ({"decision": "approved"}, 422),
        ({"decision": "approved", "comment": "   "}, 422),
        (
            {
                "decision": "approved",
                "comment": "x",
                "adopted": ["peft/rag"],
                "override_reason": "r",
            },
            422,
        ),
        ({"decision": "approved", "comment": "x", "colour": "red"}, 422),
    ],
)
def test_bad_decisions_write_nothing(
    client: TestClient, session: Session, setup: dict, body: dict, status: int
) -> None:
    r = client.post(
        f"/api/v1/recommendations/{setup['rec']['id']}/decision",
        json=body,
        headers=setup["h"]["governance"],
    )
    assert r.status_code == status
    assert _count(session) == 0


def test_other_organisations_get_404(client: TestClient, session: Session, setup: dict) -> None:
    outsider = api_headers(client, create_user(session, org="Elsewhere", role="governance").email)
    body = {"decision": "approved", "comment": "x"}
    assert (
        client.post(
            f"/api/v1/recommendations/{setup['rec']['id']}/decision", json=body, headers=outsider
        ).status_code
        == 404
    )
    assert (
        client.post(
            f"/api/v1/portfolios/{setup['portfolio']}/decision", json=body, headers=outsider
        ).status_code
        == 404
    )
    assert _count(session) == 0


def test_decision_form_on_the_recommendation_page(
    client: TestClient,
    session: Session,
    setup: dict,
    rendered: Renders,
) -> None:
    from tests.factories import csrf_from, page_login

    gov = create_user(session, org="Acme", role="governance")
    page_login(client, gov.email)
    rec = setup["rec"]
    aid = client.get(
        f"/api/v1/recommendations/{rec['id']}/decisions", headers=setup["h"]["viewer"]
    ).status_code
    assert aid == 200
    assessments = client.get(
        f"/api/v1/deployments/{setup['dep']}/assessments", headers=setup["h"]["viewer"]
    ).json()
    page = client.get(f"/assessments/{assessments[0]['id']}")
    url = f"/recommendations/{rec['id']}/decision"
    assert f'hx-get="{url}" hx-trigger="load"' in page.text  # governance's panel, loaded by htmx
    panel = client.get(url, headers={"HX-Request": "true"})
    assert panel.status_code == 200
    assert "<html" not in panel.text
    assert "Record the decision" in panel.text
    ctx = rendered.last("governance/decision.html").context
    assert ctx["action"] == url
    assert (ctx["target_type"], ctx["target_id"]) == ("recommendation", rec["id"])
    assert ctx["ranked"] == [f"{i['axis']}/{i['technique']}" for i in rec["items"]]
    assert not ctx["own_work"]
    assert list(ctx["decisions"]) == []
    token = csrf_from(page.text)
    r = client.post(
        url,
        data={
            "csrftoken": token,
            "decision": "approved",
            "comment": "x",
            "adopted": "retrieval/rag",
            "override_reason": "",
        },
        headers={"HX-Request": "true"},
    )
    first = rec["items"][0]
    override = f"{first['axis']}/{first['technique']}" != "retrieval/rag"
    if override:  # an override: needs a reason
        assert r.status_code == 422
        refused = rendered.last()
        assert (refused.template, refused.status_code) == ("governance/decision.html", 422)
        assert list(refused.context["decision_errors"]) == ["override_reason"]
        assert refused.context["decision_values"]["adopted"] == ["retrieval/rag"]
    r = client.post(
        url,
        data={
            "csrftoken": token,
            "decision": "rejected",
            "comment": "<b>no</b>",
            "conditions": "a\nb",
        },
        headers={"HX-Request": "true"},
    )
    assert r.status_code == 200
    decided = rendered.last()
    assert (decided.template, decided.block) == ("governance/decision.html", "decision")
    expected = ["rejected"] if override else ["approved", "rejected"]
    assert [d.decision for d in decided.context["decisions"]] == expected
    assert decided.context["decision_errors"] == {}
    assert "<html" not in r.text
    assert "&lt;b&gt;no&lt;/b&gt;" in r.text
    assert "a; b" in r.text
    r = client.post(url, data={"csrftoken": token, "comment": "x"}, headers={"HX-Request": "true"})
    assert r.status_code == 422
    assert 'role="alert"' in r.text
