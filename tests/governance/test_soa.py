"""The risk-based ISO/IEC 42001 statement of applicability (issue 21, item 1): every control
applicable unless excluded with a justification citing the risk assessment or an external
requirement; controls the clauses need cannot be excluded; status, owner, evidence (links, files
with their SHA-256, size and content-type checks) and history; versions approved like a
recommendation (segregation of duties, approval bound to the content's SHA-256, an edit voids
it)."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app import frameworks
from app.audit.models import AuditEvent
from app.governance import soa_rules
from tests.factories import api_headers, create_deployment, create_user, csrf, page_login
from tests.rendering import Renders

OK = {"decision": "approved", "comment": "the statement covers the risk assessment"}
EXCLUDE = {
    "applicable": False,
    "basis": "external_requirement",
    "reference": "Contract C-12 §4",
    "justification": "the customer contract assigns external reporting to the customer",
}


@pytest.fixture
def w(client: TestClient, session: Session) -> dict[str, Any]:
    admin = create_user(session, org="Acme", role="admin")
    dep = create_deployment(
        session,
        user=admin,
        use_case="Screen job applicants' CVs",
        regulatory_flags=["pii", "eu_ai_act_high_risk"],
    )
    users = {
        r: create_user(session, org="Acme", role=r)
        for r in ("governance", "architect", "product_lead")
    }
    users["governance2"] = create_user(session, org="Acme", role="governance")
    session.commit()
    h = {r: api_headers(client, u.email) for r, u in users.items()}
    h["admin"] = api_headers(client, admin.email)
    return {"h": h, "dep": dep.id, "emails": {r: u.email for r, u in users.items()}}


def _new(client: TestClient, w: dict[str, Any], who: str = "architect") -> dict[str, Any]:
    r = client.post(f"/api/v1/deployments/{w['dep']}/soa", headers=w["h"][who])
    assert r.status_code == 201, r.text
    return dict(r.json())


def _patch(
    client: TestClient,
    w: dict[str, Any],
    soa_id: int,
    control: str,
    body: dict[str, Any],
    who: str = "architect",
) -> Any:
    return client.patch(f"/api/v1/soa/{soa_id}/controls/{control}", json=body, headers=w["h"][who])


def test_every_control_starts_applicable_and_planned(client: TestClient, w: dict[str, Any]) -> None:
    s = _new(client, w)
    assert len(s["controls"]) == len(frameworks.catalogue()["iso_42001"]) == 38
    assert all(c["applicable"] and c["status"] == "planned" for c in s["controls"])
    assert s["status"] == "draft"
    assert s["version"] == 1
    rows = {c["control"]: c for c in s["controls"]}
    # the PII flag brings A.5.4 in with the mapping's rationale; others say why they are in scope
    assert "PII" in rows["A.5.4"]["justification"]
    assert rows["A.5.4"]["brought_in_by"]
    assert "clause 6.1.3" in rows["A.10.4"]["justification"]
    # the risk picture shows the written statement from now on
    r = client.get(f"/api/v1/deployments/{w['dep']}/risks", headers=w["h"]["admin"]).json()
    assert r["statement_of_applicability_version"]["version"] == 1
    assert len(r["statement_of_applicability"]) == 38


@pytest.mark.parametrize("control", ["A.5.2", "A.6.2.6", "A.6.2.8", "A.8.2", "A.2.2"])
def test_controls_the_clauses_need_cannot_be_excluded(
    client: TestClient, w: dict[str, Any], control: str
) -> None:
    s = _new(client, w)
    r = _patch(client, w, s["id"], control, EXCLUDE)
    assert r.status_code == 422, r.text
    assert "applicable" in str(r.json())
    assert "cannot be excluded" in str(r.json())


def test_an_exclusion_needs_basis_reference_and_justification(
    client: TestClient, w: dict[str, Any]
) -> None:
    s = _new(client, w)
    for missing, field in (
        ("basis", "basis"),
        ("reference", "reference"),
        ("justification", "justification"),
    ):
        body = {k: v for k, v in EXCLUDE.items() if k != missing}
        r = _patch(client, w, s["id"], "A.8.3", body)
        assert r.status_code == 422, (missing, r.text)
        assert field in str(r.json()), r.text
    r = _patch(client, w, s["id"], "A.8.3", {**EXCLUDE, "justification": "too short"})
    assert r.status_code == 422
    r = _patch(client, w, s["id"], "A.8.3", {**EXCLUDE, "basis": "gut feeling"})
    assert r.status_code == 422
    assert "basis" in r.text
    # a control the risk picture brings in (PII -> A.5.4) cannot be excluded "on the risk
    # assessment": that assessment brings it in
    r = _patch(client, w, s["id"], "A.5.4", {**EXCLUDE, "basis": "risk_assessment"})
    assert r.status_code == 422
    assert "brings it in" in r.text
    r = _patch(client, w, s["id"], "A.8.3", EXCLUDE)
    assert r.status_code == 200, r.text
    row = next(c for c in r.json()["controls"] if c["control"] == "A.8.3")
    assert not row["applicable"]
    assert row["basis"] == "external_requirement"
    assert row["reference"] == "Contract C-12 §4"
    assert row["status"] is None
    assert r.json()["summary"]["excluded"] == 1
    # back in scope: planned again, the exclusion's basis gone
    r = _patch(client, w, s["id"], "A.8.3", {"applicable": True, "status": "planned"})
    row = next(c for c in r.json()["controls"] if c["control"] == "A.8.3")
    assert row["applicable"]
    assert row["basis"] is None
    assert row["status"] == "planned"
    hist = client.get(
        f"/api/v1/soa/{s['id']}/history?control=A.8.3", headers=w["h"]["admin"]
    ).json()
    assert [x["after"]["applicable"] for x in hist] == [False, True]
    assert hist[0]["changed_by"] == w["emails"]["architect"]


def test_status_owner_and_evidence(client: TestClient, w: dict[str, Any]) -> None:
    s = _new(client, w)
    sid = s["id"]
    assert _patch(client, w, sid, "A.6.2.8", {"status": "bogus"}).status_code == 422
    r = _patch(client, w, sid, "A.6.2.8", {"status": "implemented"})
    assert r.status_code == 422
    assert "owner" in r.text
    r = _patch(client, w, sid, "A.6.2.8", {"status": "verified", "owner": "SRE lead"})
    assert r.status_code == 422
    assert "evidence" in r.text
    h = w["h"]["architect"]
    r = client.post(
        f"/api/v1/soa/{sid}/controls/A.6.2.8/links",
        json={"url": "javascript:alert(1)", "title": "x"},
        headers=h,
    )
    assert r.status_code == 422
    assert "url" in r.text
    r = client.post(
        f"/api/v1/soa/{sid}/controls/A.6.2.8/links",
        json={"url": "https://wiki.example/logging", "title": "Logging runbook"},
        headers=h,
    )
    assert r.status_code == 201, r.text
    pdf = b"%PDF-1.4\n% evidence\n%%EOF\n"
    r = client.post(
        f"/api/v1/soa/{sid}/controls/A.6.2.8/files",
        files={"file": ("log-review.pdf", pdf, "application/pdf")},
        headers=h,
    )
    assert r.status_code == 201, r.text
    row = next(c for c in r.json()["controls"] if c["control"] == "A.6.2.8")
    f = row["evidence"][1]
    assert f["sha256"] == hashlib.sha256(pdf).hexdigest()
    assert f["size"] == len(pdf)
    got = client.get(f"/api/v1/soa/files/{f['file_id']}", headers=h)
    assert got.status_code == 200
    assert got.content == pdf
    assert got.headers["x-evidence-sha256"] == f["sha256"]
    assert "attachment" in got.headers["content-disposition"]
    # content-type check: a declared PDF that is not one, a type not accepted, a file too large
    for name, data, ctype in (
        ("fake.pdf", b"<html>hi</html>", "application/pdf"),
        ("x.exe", b"MZ\x90\x00", "application/octet-stream"),
        ("big.txt", b"a" * (soa_rules.MAX_FILE_BYTES + 1), "text/plain"),
    ):
        r = client.post(
            f"/api/v1/soa/{sid}/controls/A.6.2.8/files",
            files={"file": (name, data, ctype)},
            headers=h,
        )
        assert r.status_code in (413, 422), (name, r.text)
        if r.status_code == 422:
            assert "file" in r.text
    r = _patch(client, w, sid, "A.6.2.8", {"status": "verified", "owner": "SRE lead"})
    assert r.status_code == 200, r.text
    # an unknown control, a malformed id
    assert _patch(client, w, sid, "A.99.1", {"status": "planned"}).status_code == 404
    assert _patch(client, w, sid, "DROP TABLE", {"status": "planned"}).status_code == 422


def test_roles_and_organisations(client: TestClient, session: Session, w: dict[str, Any]) -> None:
    r = client.post(f"/api/v1/deployments/{w['dep']}/soa", headers=w["h"]["product_lead"])
    assert r.status_code == 403
    s = _new(client, w)
    other = create_user(session, org="Other", role="admin")
    session.commit()
    oh = api_headers(client, other.email)
    assert client.get(f"/api/v1/soa/{s['id']}", headers=oh).status_code == 404
    assert (
        client.patch(
            f"/api/v1/soa/{s['id']}/controls/A.8.3", json={"status": "planned"}, headers=oh
        ).status_code
        == 404
    )


def test_approval_segregation_of_duties_and_an_edit_voids_it(
    client: TestClient, session: Session, w: dict[str, Any]
) -> None:
    h = w["h"]
    s = _new(client, w, "governance")
    sid = s["id"]
    _patch(client, w, sid, "A.8.3", EXCLUDE, who="admin")
    r = client.post(f"/api/v1/soa/{sid}/submit", headers=h["architect"])
    assert r.status_code == 200
    assert r.json()["status"] == "submitted"
    queue = client.get("/api/v1/approvals?status=pending", headers=h["admin"]).json()
    assert [(q["target_type"], q["target_id"]) for q in queue if q["target_type"] == "soa"] == [
        ("soa", sid)
    ]
    # whoever created, edited or submitted it may not decide
    for who in ("governance", "admin"):
        r = client.post(f"/api/v1/soa/{sid}/decision", json=OK, headers=h[who])
        assert r.status_code == 403, (who, r.text)
        assert "segregation of duties" in r.json()["detail"]
    assert (
        client.post(f"/api/v1/soa/{sid}/decision", json=OK, headers=h["architect"]).status_code
        == 403
    )
    r = client.post(f"/api/v1/soa/{sid}/decision", json=OK, headers=h["governance2"])
    assert r.status_code == 201, r.text
    approved = client.get(f"/api/v1/soa/{sid}", headers=h["admin"]).json()
    assert approved["status"] == "approved"
    assert r.json()["content_sha256"] == approved["content_sha256"]
    notes = client.get("/api/v1/notifications", headers=h["architect"]).json()
    assert any("Statement of applicability v1 was approved" in n["message"] for n in notes)
    # a later edit voids the approval, visibly and audited, and the decider is told
    r = _patch(
        client, w, sid, "A.10.3", {"owner": "Procurement", "status": "implemented"}, who="architect"
    )
    assert r.status_code == 200
    after = r.json()
    assert after["status"] == "draft"
    assert after["content_sha256"] != approved["content_sha256"]
    d = after["decisions"][0]
    assert d["voided_at"]
    assert d["voided_by"] == w["emails"]["architect"]
    assert "A.10.3" in d["void_reason"]
    voids = (
        session.execute(
            select(AuditEvent).where(
                AuditEvent.action == "decision.void", AuditEvent.entity_type == "soa"
            )
        )
        .scalars()
        .all()
    )
    assert len(voids) == 1
    notes = client.get("/api/v1/notifications", headers=h["governance2"]).json()
    assert notes[0]["kind"] == "void"
    # the editor of the new content joins the contributors: the first approver is still free
    assert w["emails"]["architect"] in after["contributors"]


def test_versions_supersede_and_copy(client: TestClient, w: dict[str, Any]) -> None:
    v1 = _new(client, w)
    _patch(client, w, v1["id"], "A.8.3", EXCLUDE)
    v2 = _new(client, w, "governance")
    assert v2["version"] == 2
    assert next(c for c in v2["controls"] if c["control"] == "A.8.3")["applicable"] is False
    old = client.get(f"/api/v1/soa/{v1['id']}", headers=w["h"]["admin"]).json()
    assert old["status"] == "superseded"
    r = _patch(client, w, v1["id"], "A.8.3", {"applicable": True})
    assert r.status_code == 409
    r = client.post(f"/api/v1/soa/{v1['id']}/decision", json=OK, headers=w["h"]["governance2"])
    assert r.status_code == 409
    assert "superseded" in r.text
    listed = client.get(f"/api/v1/deployments/{w['dep']}/soa", headers=w["h"]["admin"]).json()
    assert [(x["version"], x["status"]) for x in listed] == [(2, "draft"), (1, "superseded")]


def test_soa_page_edits_with_inline_errors(
    client: TestClient, session: Session, w: dict[str, Any], rendered: Renders
) -> None:
    page_login(client, w["emails"]["architect"])
    r = client.get(f"/deployments/{w['dep']}/soa")
    assert r.status_code == 200
    empty = rendered.last()
    assert empty.template == "governance/soa.html"
    assert empty.context["deployment"].id == w["dep"]
    assert (empty.context["soa"], empty.context["versions"]) == (None, [])
    assert "No statement of applicability yet" in r.text
    token = csrf(client, f"/deployments/{w['dep']}/soa")
    r = client.post(
        f"/deployments/{w['dep']}/soa", data={"csrftoken": token}, follow_redirects=True
    )
    assert r.status_code == 200
    first = rendered.last()
    assert [v.version for v in first.context["versions"]] == [1]
    assert first.context["soa"]["version"] == 1
    assert first.context["own_work"]  # the architect created it
    assert "Version 1" in r.text
    assert "A.6.2.8" in r.text
    sid = client.get(f"/api/v1/deployments/{w['dep']}/soa", headers=w["h"]["admin"]).json()[0]["id"]
    token = csrf(client, f"/deployments/{w['dep']}/soa")
    r = client.post(
        f"/soa/{sid}/controls/A.5.2",
        data={
            "csrftoken": token,
            "applicable": "no",
            "basis": "risk_assessment",
            "reference": "RA-7",
            "justification": "typed by the user, kept intact",
            "status": "planned",
            "owner": "",
        },
    )
    assert r.status_code == 422
    failed = rendered.last()
    assert (failed.template, failed.status_code) == ("governance/soa.html", 422)
    assert failed.context["open_control"] == "A.5.2"
    assert list(failed.context["errors"]) == ["applicable"]
    assert failed.context["values"]["justification"] == "typed by the user, kept intact"
    assert "csrftoken" not in failed.context["values"]
    assert "cannot be excluded" in r.text
    assert "typed by the user, kept intact" in r.text
    r = client.post(
        f"/soa/{sid}/controls/A.10.4",
        data={
            "csrftoken": token,
            "applicable": "yes",
            "status": "implemented",
            "owner": "Account management",
            "justification": "",
        },
        follow_redirects=True,
    )
    assert r.status_code == 200, r.text
    assert "Account management" in r.text
