"""Risks from the whole deployment, besides its axes, and the mapping errors of issue 21 (item 2):
data flags, intended use, human oversight, outputs feeding other systems and tools/agents bring in
their entries; each entry still cites its rationale."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app import frameworks
from tests.factories import (
    api_headers,
    create_user,
    csrf_from,
    deployment_payload,
    page_login,
)


def _ids(got: dict[str, list[frameworks.Entry]], fw: str) -> list[str]:
    return [e.id for e in got[fw]]


def test_mapping_errors_are_fixed() -> None:
    m = frameworks.mapping()
    alignment = dict(m["axes"]["alignment"]["nist_600_1"])
    assert "governance.md §7.4" in alignment["Obscene, Degrading, and/or Abusive Content"]
    # MAP 3.2 is about the costs of AI errors, not compute: cited nowhere for compute
    assert "MAP 3.2" not in [i for i, _ in m["axes"]["reasoning_compute"]["nist_ai_rmf"]]
    assert "LLM07 Insecure Plugin Design" in m["owasp_v1_1_equivalent"]["LLM06:2025"]
    assert m["version"] == 2


@pytest.mark.parametrize(
    ("facts", "fw", "entry", "source"),
    [
        ({"human_oversight": "none"}, "nist_600_1", "Human-AI Configuration", "oversight_none"),
        (
            {"human_oversight": "reviews_each"},
            "nist_600_1",
            "Human-AI Configuration",
            "oversight_human",
        ),
        ({}, "nist_600_1", "Human-AI Configuration", "oversight_unstated"),
        ({"outputs_feed_systems": True}, "owasp_2025", "LLM05:2025", "outputs_feed_systems"),
        ({"can_act": True}, "owasp_2025", "LLM06:2025", "can_act"),
        ({"can_act": True}, "owasp_2025", "LLM07:2025", "can_act"),
        ({"regulatory_flags": ["pii"]}, "nist_600_1", "Data Privacy", "pii"),
        ({"regulatory_flags": ["phi"]}, "owasp_2025", "LLM02:2025", "phi"),
        (
            {"regulatory_flags": ["regulated_sector"]},
            "nist_ai_rmf",
            "GOVERN 1.1",
            "regulated_sector",
        ),
        ({}, "iso_42001", "A.9.4", "use_case"),
    ],
)
def test_each_deployment_fact_brings_in_its_entries_with_a_rationale(
    facts: dict[str, Any], fw: str, entry: str, source: str
) -> None:
    args = {
        "regulatory_flags": [],
        "human_oversight": None,
        "outputs_feed_systems": False,
        "can_act": False,
        **facts,
    }
    sources = frameworks.deployment_sources(**args)
    assert source in sources
    got = {e.id: e for e in frameworks.entries_for([], sources)[fw]}
    assert source in got[entry].sources
    label = frameworks.source_label(source)
    assert any(
        r.startswith(f"{label}: ") and len(r) > len(label) + 10 for r in got[entry].rationale
    )


def test_without_the_facts_those_entries_stay_out() -> None:
    quiet = frameworks.deployment_sources(
        regulatory_flags=[], human_oversight="monitored", outputs_feed_systems=False, can_act=False
    )
    got = frameworks.entries_for([], quiet)
    for absent in ("LLM05:2025", "LLM06:2025", "LLM07:2025", "LLM02:2025"):
        assert absent not in _ids(got, "owasp_2025")
    assert "Data Privacy" not in _ids(got, "nist_600_1")


def test_pii_brings_in_privacy_risks_without_any_assessment(
    client: TestClient, session: Session
) -> None:
    """Before: the PII flag brought data-privacy risks in only when retrieval was recommended."""
    lead = create_user(session, role="product_lead")
    session.commit()
    h = api_headers(client, lead.email)
    body = deployment_payload(
        name="Hiring screener",
        regulatory_flags=["pii"],
        human_oversight="none",
        outputs_feed_systems=True,
        can_act=True,
    )
    dep = client.post("/api/v1/deployments", json=body, headers=h)
    assert dep.status_code == 201, dep.text
    assert dep.json()["human_oversight"] == "none"
    r = client.get(f"/api/v1/deployments/{dep.json()['id']}/risks", headers=h).json()
    assert r["axes"] == {}
    owasp = {e["id"]: e for e in r["frameworks"]["owasp_2025"]}
    assert {"LLM02:2025", "LLM05:2025", "LLM06:2025", "LLM07:2025"} <= set(owasp)
    assert owasp["LLM02:2025"]["sources"] == ["pii"]
    nist = [e["id"] for e in r["frameworks"]["nist_600_1"]]
    assert "Data Privacy" in nist
    assert "Human-AI Configuration" in nist
    assert r["deployment_sources"]["pii"] == "PII"
    soa = {row["control"]: row for row in r["statement_of_applicability"]}
    assert soa["A.5.4"]["applicable"]
    assert soa["A.5.4"]["status"] == "brought in by the deployment: planned"
    assert "PII: " in soa["A.5.4"]["justification"]
    # back to "not stated"; a wrong value is refused naming the field
    dep_id = dep.json()["id"]
    r2 = client.patch(f"/api/v1/deployments/{dep_id}", json={"human_oversight": None}, headers=h)
    assert r2.status_code == 200
    assert r2.json()["human_oversight"] is None
    bad = client.patch(
        f"/api/v1/deployments/{dep_id}", json={"human_oversight": "sometimes"}, headers=h
    )
    assert bad.status_code == 422
    assert "human_oversight" in bad.text


def test_the_deployment_form_records_the_facts(client: TestClient, session: Session) -> None:
    lead = create_user(session, role="product_lead")
    session.commit()
    page_login(client, lead.email)
    page = client.get("/deployments/new")
    assert 'name="human_oversight"' in page.text
    body = deployment_payload(name="Agent")
    form = {k: str(v) for k, v in body.items() if k not in ("regulatory_flags", "segments")}
    form.update(
        {"csrftoken": csrf_from(page.text), "human_oversight": "monitored", "can_act": "true"}
    )
    r = client.post("/deployments/new", data=form, follow_redirects=False)
    assert r.status_code in (200, 303), r.text[:500]
    h = api_headers(client, lead.email)
    got = [
        d
        for d in client.get("/api/v1/deployments", headers=h).json()["items"]
        if d["name"] == "Agent"
    ]
    assert got[0]["human_oversight"] == "monitored"
    assert got[0]["can_act"] is True
    assert got[0]["outputs_feed_systems"] is False
    text = client.get(f"/deployments/{got[0]['id']}/risks").text
    assert "tools or agents" in text
    assert "LLM06:2025" in text
