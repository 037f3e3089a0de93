"""EU AI Act obligations of a deployment (issue 21, item 3): the high-risk flag or a use case
matching Annex III brings in Arts. 9-15, 17, 26, 27 and 72-73, each with a status and the
evidence Axisboard holds; training one's own model brings in Art. 53. The compiled text of
Regulation (EU) 2024/1689 (as amended) is the source."""

from __future__ import annotations

import html

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.governance import eu_ai_act as ai
from tests.factories import api_headers, create_user, deployment_payload, page_login

HIGH_RISK = {
    "Art. 9",
    "Art. 10",
    "Art. 11",
    "Art. 12",
    "Art. 13",
    "Art. 14",
    "Art. 15",
    "Art. 17",
    "Art. 26",
    "Art. 27",
    "Art. 72",
    "Art. 73",
}


def _articles(result: dict) -> set[str]:  # type: ignore[type-arg]
    return {o["article"] for o in result["obligations"]}


def test_the_high_risk_flag_brings_in_the_articles() -> None:
    r = ai.assess(ai.Facts(high_risk_flag=True, use_case="Answer support questions"), ai.Held())
    assert r["high_risk"]
    assert _articles(r) == HIGH_RISK
    assert r["classification"] == "flagged high-risk"
    assert r["regulation"]["celex"] == "32024R1689"
    art9 = next(o for o in r["obligations"] if o["id"] == "art9")
    # the dates come from the Regulation (as amended by 2026/1744)
    annex_iii = next(d for d in art9["applies_from"] if d["article"] == "Art. 113(2)")
    assert annex_iii["date"] == "2026-08-02"
    assert annex_iii["date_as_amended"] == "2027-12-02"


def test_nothing_without_flag_match_or_training() -> None:
    for use_case in (
        "Answer support questions",
        "Summarise LLM inference logs for engineers",
        "Track parcels and stream status updates",
    ):
        r = ai.assess(ai.Facts(high_risk_flag=False, use_case=use_case), ai.Held())
        assert not r["high_risk"], (use_case, r["annex_iii_matches"])
        assert r["obligations"] == []


def test_an_annex_iii_use_case_brings_them_in_without_the_flag() -> None:
    r = ai.assess(
        ai.Facts(
            high_risk_flag=False,
            use_case="Hiring screener: rank job applicants' CVs (CV screening) for recruiters",
        ),
        ai.Held(),
    )
    assert r["high_risk"]
    assert [m["point"] for m in r["annex_iii_matches"]] == ["4(a)"]
    assert "confirm the classification" in r["classification"]
    assert _articles(r) == HIGH_RISK
    fria = next(o for o in r["obligations"] if o["id"] == "art27")
    assert fria["status"] == ai.TO_CONFIRM  # only public bodies / public services, for 4(a)


def test_the_fria_is_required_for_credit_scoring() -> None:
    r = ai.assess(
        ai.Facts(high_risk_flag=False, use_case="Credit scoring of loan applicants"), ai.Held()
    )
    fria = next(o for o in r["obligations"] if o["id"] == "art27")
    assert fria["status"] == ai.NONE_HELD
    assert "5(b)" in fria["note"]


def test_own_training_brings_in_the_gpai_obligations() -> None:
    r = ai.assess(
        ai.Facts(
            high_risk_flag=False,
            use_case="Answer support questions",
            axes={"dense_pretraining": "recommended"},
        ),
        ai.Held(),
    )
    assert r["trains_own_model"]
    assert _articles(r) == {"Art. 53"}
    r = ai.assess(
        ai.Facts(
            high_risk_flag=False, use_case="Answer support questions", axes={"retrieval": "adopted"}
        ),
        ai.Held(),
    )
    assert not r["trains_own_model"]
    assert r["obligations"] == []


def test_statuses_follow_the_evidence_held() -> None:
    facts = ai.Facts(high_risk_flag=True, use_case="x", human_oversight="none")
    bare = {o["id"]: o for o in ai.assess(facts, ai.Held(audit_events=0))["obligations"]}
    assert bare["art12"]["status"] == ai.NONE_HELD
    assert bare["art15"]["status"] == ai.NONE_HELD
    assert bare["art14"]["status"] == ai.GAP
    held = ai.Held(
        audit_events=42,
        evaluations=[7, 8],
        segmented_evaluations=[7, 8],
        oversight_decisions=[3],
        soa_version=2,
        soa_status="approved",
    )
    facts = ai.Facts(high_risk_flag=True, use_case="x", human_oversight="reviews_each")
    rows = {o["id"]: o for o in ai.assess(facts, held)["obligations"]}
    assert rows["art12"]["status"] == ai.PARTLY
    assert "42 HMAC-chained events" in rows["art12"]["evidence_held"][0]
    assert rows["art15"]["evidence_held"] == ["evaluation #7", "evaluation #8"]
    assert rows["art10"]["status"] == ai.PARTLY
    assert "governance decision #3" in rows["art14"]["evidence_held"]
    assert rows["art9"]["status"] == ai.EVIDENCE_HELD
    assert rows["art72"]["status"] == ai.PARTLY


def test_risk_picture_api_and_page_show_the_obligations(
    client: TestClient, session: Session
) -> None:
    lead = create_user(session, org="Acme", role="product_lead")
    session.commit()
    h = api_headers(client, lead.email)
    body = deployment_payload(
        use_case="Screen job applicants for recruiters",
        regulatory_flags=["pii", "eu_ai_act_high_risk"],
        human_oversight="reviews_each",
    )
    dep = client.post("/api/v1/deployments", json=body, headers=h).json()
    r = client.get(f"/api/v1/deployments/{dep['id']}/risks", headers=h).json()
    assert r["eu_ai_act"]["high_risk"]
    assert _articles(r["eu_ai_act"]) == HIGH_RISK
    art12 = next(o for o in r["eu_ai_act"]["obligations"] if o["id"] == "art12")
    assert art12["status"] == ai.PARTLY  # creating the deployment is on the audit trail
    page_login(client, lead.email)
    text = html.unescape(client.get(f"/deployments/{dep['id']}/risks").text)
    assert "EU AI Act" in text
    assert "Record-keeping" in text
    assert "32024R1689" in text
