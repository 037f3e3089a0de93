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
    # submitted for approval: only what awaits a decision is decided on
    r = client.post(f"/api/v1/portfolios/{p['id']}/submit", headers=h["architect"])
    assert r.status_code == 200, r.text
    return {
        "h": h,
        "rec": a["recommendation"],
        "assessment": a["id"],
        "portfolio": p["id"],
        "dep": dep.id,
    }


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
    assert _count(session) == 1
    # adopting the ranking needs no reason (a re-run: the first is decided)
    rerun = client.post(
        f"/api/v1/assessments/{setup['assessment']}/rerun", headers=h["product_lead"]
    )
    assert rerun.status_code == 201, rerun.text
    r = client.post(
        f"/api/v1/recommendations/{rerun.json()['recommendation']['id']}/decision",
        json={"decision": "approved", "comment": "as ranked", "adopted": ranked[:1]},
        headers=h["governance"],
    )
    assert r.status_code == 201, r.text
    assert r.json()["override_reason"] is None
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
    hx = {"HX-Request": "true"}
    r = client.post(url, data={"csrftoken": token, "comment": "x"}, headers=hx)  # no decision
    assert r.status_code == 422
    assert 'role="alert"' in r.text
    assert len(ctx["ranked"]) > 1
    other = ctx["ranked"][-1]  # not the engine's first: an override
    r = client.post(
        url,
        data={
            "csrftoken": token,
            "decision": "approved",
            "comment": "x",
            "adopted": other,
            "override_reason": "",
        },
        headers=hx,
    )
    assert r.status_code == 422  # an override needs a reason
    refused = rendered.last()
    assert (refused.template, refused.status_code) == ("governance/decision.html", 422)
    assert list(refused.context["decision_errors"]) == ["override_reason"]
    assert refused.context["decision_values"]["adopted"] == [other]
    r = client.post(
        url,
        data={
            "csrftoken": token,
            "decision": "rejected",
            "comment": "<b>no</b>",
            "conditions": "a\nb",
        },
        headers=hx,
    )
    assert r.status_code == 200
    decided = rendered.last()
    assert (decided.template, decided.block) == ("governance/decision.html", "decision")
    assert [d.decision for d in decided.context["decisions"]] == ["rejected"]
    assert decided.context["decision_errors"] == {}
    assert "<html" not in r.text
    assert "&lt;b&gt;no&lt;/b&gt;" in r.text
    assert "a; b" in r.text
    # decided: the form is gone, and a second decision is refused (409), nothing written
    assert "Record the decision" not in r.text
    assert "A new decision is made on a re-run of the assessment" in r.text
    r = client.post(
        url, data={"csrftoken": token, "decision": "approved", "comment": "x"}, headers=hx
    )
    assert r.status_code == 409
    assert 'role="alert"' in r.text
    assert f"recommendation {rec['id']} is already rejected" in r.text
    assert _count(session) == 1


def test_a_portfolio_is_decided_only_while_it_awaits_a_decision(
    client: TestClient, session: Session, setup: dict
) -> None:
    """Walk-through: governance could decide on a draft never submitted (draft → rejected), and
    after a decision the form stayed open (approved → rejected)."""
    from tests.factories import csrf_from, page_login

    h = setup["h"]
    draft = client.post(
        "/api/v1/portfolios",
        json={"deployment_id": setup["dep"], "name": "D", "items": []},
        headers=h["architect"],
    ).json()["id"]
    ok = {"decision": "approved", "comment": "fine"}
    url = f"/api/v1/portfolios/{draft}/decision"
    r = client.post(url, json=ok, headers=h["governance"])
    assert r.status_code == 409, r.text
    assert (
        r.json()["detail"]
        == f"portfolio {draft} is a draft: its author submits it for approval first"
    )
    assert _count(session) == 0
    status = client.get(f"/api/v1/portfolios/{draft}", headers=h["viewer"]).json()["status"]
    assert status == "draft"
    # the page: no form on a draft, and a forged post is refused inline with 409
    gov = create_user(session, org="Acme", role="governance")
    page_login(client, gov.email)
    panel = client.get(f"/portfolios/{draft}/decision", headers={"HX-Request": "true"})
    assert "Record the decision" not in panel.text
    assert "decided on once its author submits it for approval" in panel.text
    token = csrf_from(client.get(f"/portfolios/{draft}").text)
    r = client.post(
        f"/portfolios/{draft}/decision",
        data={"csrftoken": token, **ok},
        headers={"HX-Request": "true"},
    )
    assert r.status_code == 409
    assert "its author submits it for approval first" in r.text
    assert _count(session) == 0
    # submitted: decided once; then the form is gone and a second decision is a 409
    assert (
        client.post(f"/api/v1/portfolios/{draft}/submit", headers=h["architect"]).status_code == 200
    )
    assert (
        "Record the decision"
        in client.get(f"/portfolios/{draft}/decision", headers={"HX-Request": "true"}).text
    )
    assert client.post(url, json=ok, headers=h["governance"]).status_code == 201
    panel = client.get(f"/portfolios/{draft}/decision", headers={"HX-Request": "true"})
    assert "Record the decision" not in panel.text
    assert "a new version: an edit, then submitted for approval again" in panel.text
    r = client.post(url, json={"decision": "rejected", "comment": "no"}, headers=h["governance"])
    assert r.status_code == 409
    assert "is already approved" in r.json()["detail"]
    assert client.get(f"/api/v1/portfolios/{draft}", headers=h["viewer"]).json()["status"] == (
        "approved"
    )
    # a new version (edit, submit) is decided again
    client.patch(f"/api/v1/portfolios/{draft}", json={"name": "D2"}, headers=h["architect"])
    assert client.post(url, json=ok, headers=h["governance"]).status_code == 409  # a draft again
    assert (
        client.post(f"/api/v1/portfolios/{draft}/submit", headers=h["architect"]).status_code == 200
    )
    r = client.post(url, json={"decision": "rejected", "comment": "no"}, headers=h["governance"])
    assert r.status_code == 201, r.text
    assert _count(session) == 2


def test_a_recommendation_is_decided_once(
    client: TestClient, session: Session, setup: dict
) -> None:
    """The recommendations' panel had the same bug: approved, then rejected on the same run."""
    h, rec = setup["h"], setup["rec"]
    url = f"/api/v1/recommendations/{rec['id']}/decision"
    ok = {"decision": "approved", "comment": "fine"}
    assert client.post(url, json=ok, headers=h["governance"]).status_code == 201
    r = client.post(url, json={"decision": "rejected", "comment": "no"}, headers=h["governance"])
    assert r.status_code == 409
    assert r.json()["detail"] == (
        f"recommendation {rec['id']} is already approved; re-run the assessment for a new "
        "recommendation to decide on"
    )
    assert _count(session) == 1
    rerun = client.post(
        f"/api/v1/assessments/{setup['assessment']}/rerun", headers=h["product_lead"]
    )
    new = rerun.json()["recommendation"]["id"]
    assert new != rec["id"]
    r = client.post(
        f"/api/v1/recommendations/{new}/decision",
        json={"decision": "rejected", "comment": "no"},
        headers=h["governance"],
    )
    assert r.status_code == 201, r.text
