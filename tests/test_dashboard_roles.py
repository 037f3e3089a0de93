"""The dashboard by role (issue 22, item 12): each role's own section, its context and content."""

from __future__ import annotations

import html
import re
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app import dashboard
from app.assessments import service as assessments
from app.assessments.schemas import AssessmentIn
from app.governance import service as governance
from app.governance.schemas import DecisionIn
from app.portfolios import service as portfolios
from app.portfolios.schemas import PortfolioCreate
from tests.factories import AUDIT_KEY, caller_for, create_deployment, create_user, page_login


def _assess(session: Session, user: Any, dep_id: int) -> Any:
    data = AssessmentIn.model_validate(
        {"answers": [{"failure_mode": "factual_staleness", "severity": 3}]}
    )
    a, _ = assessments.submit(session, caller_for(session, user), dep_id, data, audit_key=AUDIT_KEY)
    return a


def _page(client: TestClient, user: Any) -> str:
    page_login(client, user.email)
    r = client.get("/")
    assert r.status_code == 200, r.text[:500]
    return html.unescape(r.text)


def test_product_lead_sees_their_deployments_and_assessment_status(
    client: TestClient, session: Session
) -> None:
    lead = create_user(session, role="product_lead")
    other = create_user(session, role="product_lead")
    mine = create_deployment(session, user=lead, name="Lead's bot")
    waiting = create_deployment(session, user=lead, name="Lead's search")
    create_deployment(session, user=other, name="Someone else's")
    _assess(session, lead, waiting.id)
    ctx = dashboard.for_role(session, caller_for(session, lead))
    rows = {r["deployment"].name: r for r in ctx["my_deployments"]}
    assert set(rows) == {"Lead's bot", "Lead's search"}
    assert rows["Lead's bot"]["status"] == "none"
    assert rows["Lead's search"]["status"] == "submitted"
    assert ctx["status_counts"] == {"none": 1, "submitted": 1}
    text = _page(client, lead)
    assert "Your deployments and their assessments" in text
    assert "awaiting a decision" in text
    assert "not assessed yet" in text
    assert f'href="/deployments/{mine.id}/assessment"' in text
    section = text.split('id="role-product-lead"', 1)[1].split("</section>", 1)[0]
    assert "Someone else's" not in section
    assert "Awaiting your decision" not in text  # governance's section is not shown


def test_architect_sees_their_portfolios_and_estimates(
    client: TestClient, session: Session
) -> None:
    arch = create_user(session, role="architect")
    dep = create_deployment(session, user=arch, name="Architect's RAG")
    portfolios.create(
        session,
        caller_for(session, arch),
        PortfolioCreate.model_validate(
            {
                "deployment_id": dep.id,
                "name": "Cheap and fast",
                "items": [{"axis": "retrieval", "technique": "rag"}],
            }
        ),
        audit_key=AUDIT_KEY,
    )
    ctx = dashboard.for_role(session, caller_for(session, arch))
    assert [r["portfolio"].name for r in ctx["my_portfolios"]] == ["Cheap and fast"]
    assert ctx["my_portfolios"][0]["status"] == "draft"
    assert ctx["my_portfolios"][0]["deployment"] == "Architect's RAG"
    assert list(ctx["my_jobs"]) == []
    text = _page(client, arch)
    assert "Your portfolios" in text
    assert "Cheap and fast" in text
    assert "Your estimates and fits" in text
    assert "No estimator job of yours yet" in text


def test_governance_sees_the_queue_and_recent_decisions(
    client: TestClient, session: Session
) -> None:
    lead = create_user(session, role="product_lead")
    gov = create_user(session, role="governance")
    dep = create_deployment(session, user=lead, name="Claims triage")
    first = _assess(session, lead, dep.id)
    dep2 = create_deployment(session, user=lead, name="HR assistant")
    _assess(session, lead, dep2.id)
    rec = assessments.recommendations(session, caller_for(session, gov), first.id)[-1]
    governance.decide_recommendation(
        session,
        caller_for(session, gov),
        rec.id,
        DecisionIn(decision="approved", comment="fine for staleness"),
        audit_key=AUDIT_KEY,
    )
    ctx = dashboard.for_role(session, caller_for(session, gov))
    assert [r["deployment"] for r in ctx["awaiting"]] == ["HR assistant"]
    assert [r["decision"].decision for r in ctx["recent_decisions"]] == ["approved"]
    text = _page(client, gov)
    assert "Awaiting your decision" in text
    assert "HR assistant" in text
    assert "Recent decisions" in text
    assert "Claims triage" in text
    assert "approved" in text


def test_admin_sees_users_prices_and_versions(client: TestClient, session: Session) -> None:
    admin = create_user(session, role="admin")
    create_user(session, role="viewer", email="watcher@acme.test")
    ctx = dashboard.for_role(session, caller_for(session, admin))
    assert {u.email for u in ctx["users"]} >= {admin.email, "watcher@acme.test"}
    assert [v["what"] for v in ctx["versions"]] == ["Axis matrix", "Rule set", "Estimators"]
    assert ctx["versions"][0]["version"] == "v1"
    assert ctx["prices"]
    text = _page(client, admin)
    assert "watcher@acme.test" in text
    assert "Reference data versions" in text
    assert "GPU prices" in text
    assert "$/GPU-hour" in text


def test_viewer_sees_only_the_overview(client: TestClient, session: Session) -> None:
    viewer = create_user(session, role="viewer")
    assert dashboard.for_role(session, caller_for(session, viewer)) == {}
    text = _page(client, viewer)
    assert "Your organisation" in text
    assert 'class="card role-section"' not in text


def test_a_draft_links_to_the_questionnaire_and_does_not_hide_the_submitted_one(
    client: TestClient, session: Session
) -> None:
    """Walk-through: a draft started after a submitted assessment showed as "Latest assessment
    #4 · draft" linking /assessments/4 (a 404: drafts have no page) and hid that #1 still waits
    for a decision."""
    lead = create_user(session, role="product_lead")
    both = create_deployment(session, user=lead, name="Submitted then drafted")
    only = create_deployment(session, user=lead, name="Only a draft")
    submitted = _assess(session, lead, both.id)
    caller = caller_for(session, lead)
    d1 = assessments.save_draft(session, caller, both.id, {"fm.serving_cost.severity": "2"})
    d2 = assessments.save_draft(session, caller, only.id, {"fm.serving_cost.severity": "1"})
    session.flush()
    rows = {r["deployment"].name: r for r in dashboard.for_role(session, caller)["my_deployments"]}
    assert rows["Submitted then drafted"]["assessment_id"] == submitted.id
    assert rows["Submitted then drafted"]["status"] == "submitted"
    assert rows["Submitted then drafted"]["draft_open"] is True
    only_row = rows["Only a draft"]
    assert (only_row["assessment_id"], only_row["status"]) == (None, "draft")
    text = _page(client, lead)
    for draft in (d1, d2):
        assert f'href="/assessments/{draft.id}"' not in text
    assert f'href="/assessments/{submitted.id}"' in text
    assert re.sub(r"<[^>]+>", "", text).count("(a newer draft is open)") == 1
    assert client.get(f"/deployments/{only.id}/assessment").status_code == 200
    assert 'href="/portfolios"' not in text


def test_the_architects_portfolio_link_resolves(client: TestClient, session: Session) -> None:
    architect = create_user(session, role="architect")
    text = _page(client, architect)
    section = text.split('id="role-architect"', 1)[1].split("</section>", 1)[0]
    for href in re.findall(r'href="([^"]+)"', section):
        assert client.get(href).status_code == 200, href
