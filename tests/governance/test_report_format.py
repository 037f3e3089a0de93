"""The HTML/PDF audit report reads like a document (issue 21, item 5): no "None", "True", raw
catalog keys or numbers with more than three decimals; names, units, human dates."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from typing import Any

import pypdf
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app import report_format as f
from app.assessments import service as assessments
from app.catalog.repository import CatalogRepository
from tests.factories import api_headers, create_deployment, create_user

SNAKE_KEY = re.compile(r"\b[a-z0-9]+(?:_[a-z0-9]+)+\b")
# a number with more than three decimals (an arXiv identifier such as 2401.00448 is not one)
LONG_DECIMAL = re.compile(r"(?<!arXiv )(?<![\w.])\d+\.\d{4,}")


@pytest.fixture
def world(client: TestClient, session: Session) -> dict[str, Any]:
    lead = create_user(session, role="product_lead")
    dep = create_deployment(
        session,
        user=lead,
        name="Support bot",
        human_oversight="monitored",
        regulatory_flags=["pii", "regulated_sector"],
    )
    session.commit()
    h = api_headers(client, lead.email)
    gov = api_headers(client, create_user(session, org="Acme", role="governance").email)
    arch = api_headers(client, create_user(session, org="Acme", role="architect").email)
    a = client.post(
        f"/api/v1/deployments/{dep.id}/assessments",
        json={
            "answers": [
                {
                    "failure_mode": "factual_staleness",
                    "severity": 3,
                    "traffic_share": 0.4,
                    "segments": ["EU"],
                },
                {"failure_mode": "policy_noncompliance", "severity": 2},
            ],
            "observed_ttft_ms": 50.665055381555476,
        },
        headers=h,
    ).json()
    rec = a["recommendation"]
    ranked = [f"{i['axis']}/{i['technique']}" for i in rec["items"]]
    other = "reasoning_compute/cot_self_consistency"
    assert other not in ranked[:1]
    r = client.post(
        f"/api/v1/recommendations/{rec['id']}/decision",
        headers=gov,
        json={
            "decision": "approved",
            "comment": "go",
            "adopted": [other],
            "override_reason": "hard questions first",
        },
    )
    assert r.status_code == 201, r.text
    p = client.post(
        "/api/v1/portfolios",
        headers=arch,
        json={
            "deployment_id": dep.id,
            "name": "RAG",
            "items": [{"axis": "retrieval", "technique": "rag"}],
        },
    ).json()
    client.post(f"/api/v1/portfolios/{p['id']}/submit", headers=arch)
    client.post(
        f"/api/v1/portfolios/{p['id']}/decision",
        headers=gov,
        json={"decision": "approved", "comment": "ok"},
    )
    client.patch(f"/api/v1/portfolios/{p['id']}", headers=arch, json={"name": "RAG v2"})
    results = [
        {"segment": s, "metric": "accuracy", "phase": ph, "value": v}
        for s, vals in {"EU": (0.851234567, 0.8012345), "US": (0.8, 0.92)}.items()
        for ph, v in zip(("before", "after"), vals, strict=True)
    ]
    client.post(
        f"/api/v1/deployments/{dep.id}/evaluations",
        headers=gov,
        json={"label": "pilot", "results": results, "tolerance": 0.0012345},
    )
    return {"dep": dep.id, "h": h, "session": session}


def _keys(session: Session) -> tuple[set[str], set[str]]:
    """Every catalog key a report could show raw (with an underscore: one-word keys are words),
    and the axis keys (``axis/technique`` pairs)."""
    repo = CatalogRepository(session)
    cat = assessments.shared_catalog(session)
    axes = {a.key for a in repo.axes()}
    keys = axes | set(cat.technique_names) | set(cat.failure_modes)
    keys |= {m.key for m in repo.models()} | {g.key for g in repo.gpus()}
    return {k for k in keys if "_" in k}, axes


def _check(text: str, catalog: tuple[set[str], set[str]]) -> None:
    keys, axes = catalog
    for word in ("None", "True", "False"):
        m = re.search(rf"\b{word}\b", text)
        assert not m, (word, text[max(0, m.start() - 120) : m.end() + 60] if m else "")
    assert not LONG_DECIMAL.findall(text), [
        text[max(0, m.start() - 80) : m.end() + 20] for m in LONG_DECIMAL.finditer(text)
    ]
    raw = {k for k in SNAKE_KEY.findall(text) if k in keys}
    assert not raw, [
        text[max(0, m.start() - 80) : m.end() + 40] for k in raw for m in re.finditer(k, text)
    ]
    pair = re.search(rf"\b({'|'.join(sorted(axes))})/[a-z_]+", text)
    assert pair is None, pair


@pytest.mark.slow
def test_pdf_text_has_no_none_booleans_raw_keys_or_long_decimals(
    client: TestClient, world: dict[str, Any]
) -> None:
    r = client.get(f"/api/v1/deployments/{world['dep']}/report?format=pdf", headers=world["h"])
    assert r.status_code == 200
    reader = pypdf.PdfReader(io.BytesIO(r.content))
    text = " ".join(p.extract_text() for p in reader.pages)
    _check(text, _keys(world["session"]))
    flat = re.sub(r"\s+", " ", re.sub(r"-\n", "-", text))  # undo line breaks
    assert "adopted: CoT + self-consistency (Reasoning-time compute)" in flat
    assert re.search(r"\d{1,2} [A-Z][a-z]{2} \d{4}, \d\d:\d\d UTC", text)  # human dates
    assert " ms" in text
    assert "void" in text  # the edited portfolio's approval is shown void


def test_html_report_reads_the_same(client: TestClient, world: dict[str, Any]) -> None:
    r = client.get(f"/api/v1/deployments/{world['dep']}/report?format=html", headers=world["h"])
    body = r.text.split('<script type="application/json"', 1)[0]
    text = re.sub(r"<[^>]+>", " ", body)
    _check(text, _keys(world["session"]))


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        (None, "ms", "not set"),
        (50.665055381555476, "ms", "50.7 ms"),
        (37.653284833401145, "ms", "37.7 ms"),
        (8000.0, "", "8,000"),
        (0.123456, "", "0.123"),
        (0.00001234, "", "1.2 × 10⁻⁵"),
        (15000000000000.0, "tokens", "1.5 × 10¹³ tokens"),
        (0, "ms", "0 ms"),
        (float("nan"), "", "not set"),
    ],
)
def test_numbers_are_rounded_with_units(value: Any, unit: str, expected: str) -> None:
    assert f.num(value, unit) == expected


def test_values_for_a_reader() -> None:
    assert f.money(None) == "not set"
    assert f.money(8000.0) == "$8,000"
    assert f.money(12.345) == "$12.35"
    assert f.signed_money(-250.5) == "−$250"
    assert f.text(True) == "yes"
    assert f.text(None) == "not set"
    assert f.date("2026-11-30T12:54:01.123456+00:00") == "30 Nov 2026, 12:54 UTC"
    assert f.date(datetime(2026, 1, 2, 3, 4, tzinfo=UTC)) == "2 Jan 2026, 03:04 UTC"
    names = {
        "axes": {"reasoning_compute": "Reasoning-time compute"},
        "techniques": {"cot_self_consistency": "Self-consistency"},
    }
    assert f.item(names, "reasoning_compute/cot_self_consistency") == (
        "Self-consistency (Reasoning-time compute)"
    )
    assert f.name(names, "gpus", "h100_sxm_80gb") == "h100 sxm 80gb"


@pytest.mark.slow
def test_report_to_file_cover_contents_soa_and_eu_ai_act(
    client: TestClient, session: Session
) -> None:
    """Issue 21 item 5 with items 1 and 3: a cover with scope, versions and the signing key's
    fingerprint; a table of contents with page numbers; the statement of applicability (an
    exclusion, an owner, an evidence file) and the EU AI Act obligations, all read as a document."""
    import base64
    import hashlib

    lead = create_user(session, role="product_lead")
    dep = create_deployment(
        session,
        user=lead,
        name="Hiring screener",
        human_oversight="none",
        use_case="Rank job applicants' CVs (CV screening) for recruiters",
        regulatory_flags=["pii", "eu_ai_act_high_risk"],
    )
    session.commit()
    h = api_headers(client, lead.email)
    arch = api_headers(client, create_user(session, org="Acme", role="architect").email)
    gov = api_headers(client, create_user(session, org="Acme", role="governance").email)
    soa = client.post(f"/api/v1/deployments/{dep.id}/soa", headers=arch).json()
    r = client.patch(
        f"/api/v1/soa/{soa['id']}/controls/A.10.4",
        headers=arch,
        json={
            "applicable": False,
            "basis": "external_requirement",
            "reference": "No customers",
            "justification": "the screener is internal: no customer receives its outputs",
        },
    )
    assert r.status_code == 200, r.text
    client.post(
        f"/api/v1/soa/{soa['id']}/controls/A.6.2.8/files",
        headers=arch,
        files={"file": ("logs.txt", b"log review 2026-11", "text/plain")},
    )
    client.patch(
        f"/api/v1/soa/{soa['id']}/controls/A.6.2.8",
        headers=arch,
        json={"status": "verified", "owner": "SRE lead"},
    )
    client.post(f"/api/v1/soa/{soa['id']}/submit", headers=arch)
    assert (
        client.post(
            f"/api/v1/soa/{soa['id']}/decision",
            headers=gov,
            json={"decision": "approved", "comment": "ok"},
        ).status_code
        == 201
    )
    r = client.get(f"/api/v1/deployments/{dep.id}/report?format=pdf", headers=h)
    assert r.status_code == 200, r.text[:300]
    reader = pypdf.PdfReader(io.BytesIO(r.content))
    pages = [p.extract_text() for p in reader.pages]
    text = " ".join(pages)
    _check(text, _keys(session))
    flat = re.sub(r"\s+", " ", text)
    # the cover: scope, versions, the signing key's fingerprint (the served public key's SHA-256)
    cover = re.sub(r"\s+", " ", pages[0])
    key = client.get("/api/v1/audit/public-key").json()
    fingerprint = hashlib.sha256(base64.b64decode(key["public_key"])).hexdigest()
    assert "Hiring screener" in cover
    assert "statement of applicability v1 (approved)" in cover
    assert fingerprint[:32] in cover.replace(" ", "")
    # the contents with page numbers, and page numbers on the pages
    contents = re.sub(r"\s+", " ", pages[1])
    assert "Contents" in contents
    found = re.search(r"8\. ISO/IEC 42001 statement of applicability\W*(\d+)", contents)
    assert found, contents
    assert "8. ISO/IEC 42001 statement of applicability" in pages[int(found[1]) - 1]
    assert f"page 2 of {len(pages)}" in contents
    links = [a.get_object() for a in reader.pages[1].get("/Annots", [])]
    assert len([a for a in links if a.get("/Subtype") == "/Link"]) == 13  # to each section
    assert re.search(r"page \d+ of \d+", pages[2])
    # the statement of applicability and the EU AI Act sections
    assert "Excluded on an external requirement (No customers)" in flat
    assert "verified; owner SRE lead" in flat
    assert "file logs.txt" in flat
    assert "flagged high-risk" in flat
    assert "Art. 27" in flat
    assert "Record-keeping" in flat
    assert "CELEX 32024R1689" in flat
    assert "2 Aug 2026" in flat or "2 Dec 2027" in flat
    html = client.get(f"/api/v1/deployments/{dep.id}/report?format=html", headers=h).text
    body = html.split('<script type="application/json"', 1)[0]
    _check(re.sub(r"<[^>]+>", " ", body), _keys(session))
    data = client.get(f"/api/v1/deployments/{dep.id}/report?format=json", headers=h).json()
    assert data["integrity"]["signing_key"]["fingerprint_sha256"] == fingerprint
    assert data["eu_ai_act"]["high_risk"] is True
    assert data["statement_of_applicability_version"]["status"] == "approved"
