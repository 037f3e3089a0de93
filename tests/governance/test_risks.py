"""The framework mapping is valid data; a deployment's risk picture follows its recommended and
adopted axes; the ISO/IEC 42001 statement of applicability covers every Annex A control."""

from __future__ import annotations

import html
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app import frameworks
from tests.factories import api_headers, create_deployment, create_user, page_login


def test_every_mapping_names_a_real_entry_with_a_rationale() -> None:
    m = frameworks.mapping()  # raises MappingError otherwise
    assert set(m["axes"]) == {
        "dense_pretraining",
        "compute_optimality",
        "sparse_moe",
        "retrieval",
        "long_context",
        "alignment",
        "peft",
        "reasoning_compute",
        "serving_optimization",
    }
    for axis, fws in m["axes"].items():
        assert set(fws) == set(frameworks.FRAMEWORKS), axis
    got = frameworks.entries_for(["retrieval", "alignment"])
    llm01 = next(e for e in got["owasp_2025"] if e.id == "LLM01:2025")
    assert llm01.axes == ("retrieval", "alignment")
    assert len(llm01.rationale) == 2
    assert llm01.extra["v1_1"] == "LLM01 Prompt Injection"


def test_deployment_risks_follow_recommended_and_adopted_axes(
    client: TestClient, session: Session
) -> None:
    lead = create_user(session, role="product_lead")
    dep: Any = create_deployment(session, user=lead)
    session.commit()
    h = api_headers(client, lead.email)
    gov = api_headers(client, create_user(session, org="Acme", role="governance").email)
    r = client.get(f"/api/v1/deployments/{dep.id}/risks", headers=h).json()
    assert r["axes"] == {}
    # before any assessment, only what the deployment itself brings in (issue 21)
    assert all(e["sources"] and not e["axes"] for v in r["frameworks"].values() for e in v)
    a = client.post(
        f"/api/v1/deployments/{dep.id}/assessments",
        json={"answers": [{"failure_mode": "factual_staleness", "severity": 3}]},
        headers=h,
    ).json()
    r = client.get(f"/api/v1/deployments/{dep.id}/risks", headers=h).json()
    assert r["axes"] == {"retrieval": "recommended"}
    assert "LLM08:2025" in [e["id"] for e in r["frameworks"]["owasp_2025"]]
    soa = {row["control"]: row for row in r["statement_of_applicability"]}
    assert len(soa) == len(frameworks.catalogue()["iso_42001"])
    assert soa["A.7.5"]["applicable"]
    assert soa["A.7.5"]["status"].startswith("recommended")
    # every control is applicable until a statement of applicability excludes it with a
    # justification (clause 6.1.3; issue 21 item 1)
    assert soa["A.2.2"]["applicable"]
    assert "clause 6.1.3" in soa["A.2.2"]["justification"]
    d = client.post(
        f"/api/v1/recommendations/{a['recommendation']['id']}/decision",
        json={"decision": "approved", "comment": "ok"},
        headers=gov,
    ).json()
    r = client.get(f"/api/v1/deployments/{dep.id}/risks", headers=h).json()
    assert r["axes"] == {"retrieval": "adopted"}
    a75 = next(x for x in r["statement_of_applicability"] if x["control"] == "A.7.5")
    assert a75["evidence"] == [f"decision #{d['id']}"]
    page_login(client, lead.email)
    text = html.unescape(client.get(f"/deployments/{dep.id}/risks").text)
    assert "statement of applicability" in text
    assert "A.7.5" in text
    assert "retrieval: adopted" in text


def test_the_edit_link_shows_only_to_who_may_edit(client: TestClient, session: Session) -> None:
    """Walk-through: a viewer was offered "(edit)" beside the deployment and got a 403."""
    lead = create_user(session, role="product_lead")
    dep = create_deployment(session, user=lead)
    viewer = create_user(session, role="viewer")
    edit = f'href="/deployments/{dep.id}/edit"'
    page_login(client, viewer.email)
    assert edit not in client.get(f"/deployments/{dep.id}/risks").text
    page_login(client, lead.email)
    assert edit in client.get(f"/deployments/{dep.id}/risks").text
