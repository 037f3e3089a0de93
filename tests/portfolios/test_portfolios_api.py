"""Portfolios over HTTP: parameters listed with sources, create/read/update/delete/duplicate
(audited), bad input is a 422 naming the field with nothing written, evaluation and compare."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.audit.models import AuditEvent
from app.portfolios.models import Portfolio
from tests.factories import api_headers, create_deployment, create_user

RAG = {"axis": "retrieval", "technique": "rag", "params": {"k": 5, "chunk_tokens": 512}}
SPEC = {"axis": "serving_optimization", "technique": "paged_attention_speculative"}
SC = {"axis": "reasoning_compute", "technique": "cot_self_consistency", "params": {"samples": 5}}


@pytest.fixture
def arch(session: Session) -> Any:
    return create_user(session, role="architect")


@pytest.fixture
def h(client: TestClient, arch: Any) -> dict[str, str]:
    return api_headers(client, arch.email)


@pytest.fixture
def dep(session: Session, arch: Any) -> Any:
    d = create_deployment(session, user=arch, requests_per_day=200_000)
    session.commit()  # as its own request would: a later 422's rollback must not take it along
    return d


def _count(session: Session) -> int:
    return session.execute(select(func.count()).select_from(Portfolio)).scalar_one()


def _new(client: TestClient, h: dict, dep_id: int, name: str, items: list) -> Any:  # type: ignore[type-arg]
    r = client.post(
        "/api/v1/portfolios",
        json={"deployment_id": dep_id, "name": name, "items": items},
        headers=h,
    )
    assert r.status_code == 201, r.text
    return r.json()


def test_techniques_list_their_parameters(client: TestClient, h: dict) -> None:  # type: ignore[type-arg]
    techniques = {t["key"]: t for t in client.get("/api/v1/techniques", headers=h).json()}
    k = next(p for p in techniques["rag"]["parameters"] if p["name"] == "k")
    assert (k["type"], k["default"], k["minimum"]) == ("int", 5, 1)
    assert "Lewis" in k["source"]
    alpha = next(
        p for p in techniques["speculative_decoding"]["parameters"] if p["name"] == "alpha"
    )
    assert alpha["exclusive_maximum"] is True
    assert alpha["maximum"] == 1
    assert techniques["quantization"]["parameters"][0]["choices"] == ["fp8", "int8", "int4"]
    assert techniques["flash_attention"]["priced"] is False


def test_crud_with_defaults_filled_in_and_audited(
    client: TestClient,
    session: Session,
    h: dict,
    dep: Any,  # type: ignore[type-arg]
) -> None:
    body = _new(client, h, dep.id, "RAG + serving", [RAG, SPEC])
    assert body["items"][1]["params"] == {"alpha": 0.7, "gamma": 4, "c": 0.05}
    assert body["items"][0]["params"]["retrieval_latency_ms"] == 40.0
    pid = body["id"]
    r = client.patch(f"/api/v1/portfolios/{pid}", json={"items": [RAG, SC]}, headers=h)
    assert r.status_code == 200
    assert r.json()["items"][1]["technique"] == "cot_self_consistency"
    dup = client.post(f"/api/v1/portfolios/{pid}/duplicate", headers=h)
    assert dup.status_code == 201
    assert dup.json()["name"] == "RAG + serving (copy)"
    listed = client.get(f"/api/v1/portfolios?deployment_id={dep.id}", headers=h).json()
    assert [p["name"] for p in listed] == ["RAG + serving", "RAG + serving (copy)"]
    assert client.delete(f"/api/v1/portfolios/{pid}", headers=h).status_code == 204
    assert client.get(f"/api/v1/portfolios/{pid}", headers=h).status_code == 404
    actions = (
        session.execute(
            select(AuditEvent.action)
            .where(AuditEvent.entity_type == "portfolio")
            .order_by(AuditEvent.id)
        )
        .scalars()
        .all()
    )
    assert actions == [
        "portfolio.create",
        "portfolio.update",
        "portfolio.create",
        "portfolio.delete",
    ]


@pytest.mark.parametrize(
    ("items", "field"),
    [
        ([{**SC, "params": {"samples": 0}}], "items[0].params.samples"),
        (
            [
                {
                    "axis": "serving_optimization",
                    "technique": "speculative_decoding",
                    "params": {"alpha": 1.0},
                }
            ],
            "items[0].params.alpha",
        ),
        ([{"axis": "peft", "technique": "rag"}], "items[0].axis"),
        ([{"axis": "retrieval", "technique": "warp_drive"}], "items[0].technique"),
        ([RAG, RAG], "items[1].technique"),
        ([{**RAG, "params": {"k": "five"}}], "items[0].params.k"),
    ],
)
def test_bad_items_are_422_and_write_nothing(
    client: TestClient,
    session: Session,
    h: dict,
    dep: Any,
    items: list,
    field: str,  # type: ignore[type-arg]
) -> None:
    before = session.execute(select(func.count()).select_from(AuditEvent)).scalar_one()
    r = client.post(
        "/api/v1/portfolios", json={"deployment_id": dep.id, "name": "x", "items": items}, headers=h
    )
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field
    assert _count(session) == 0
    assert session.execute(select(func.count()).select_from(AuditEvent)).scalar_one() == before


def test_other_organisations_and_roles(
    client: TestClient,
    session: Session,
    h: dict,
    dep: Any,  # type: ignore[type-arg]
) -> None:
    pid = _new(client, h, dep.id, "mine", [RAG])["id"]
    stranger = api_headers(client, create_user(session, org="Other", role="architect").email)
    assert client.get(f"/api/v1/portfolios/{pid}", headers=stranger).status_code == 404
    assert client.get(f"/api/v1/portfolios/{pid}/evaluation", headers=stranger).status_code == 404
    r = client.post(
        "/api/v1/portfolios",
        json={"deployment_id": dep.id, "name": "x", "items": []},
        headers=stranger,
    )
    assert r.status_code == 404
    lead = api_headers(client, create_user(session, org="Acme", role="product_lead").email)
    r = client.post(
        "/api/v1/portfolios", json={"deployment_id": dep.id, "name": "y", "items": []}, headers=lead
    )
    assert r.status_code == 403
    assert _count(session) == 1
    same = {"deployment_id": dep.id, "name": "mine", "items": []}
    assert client.post("/api/v1/portfolios", json=same, headers=h).status_code == 409


def test_evaluation_and_compare(client: TestClient, h: dict, dep: Any) -> None:  # type: ignore[type-arg]
    empty = _new(client, h, dep.id, "As is", [])["id"]
    serve = _new(client, h, dep.id, "Serving", [SPEC])["id"]
    rag = _new(client, h, dep.id, "RAG", [RAG, SPEC])["id"]
    ev = client.get(f"/api/v1/portfolios/{empty}/evaluation", headers=h).json()
    for key in (
        "monthly_cost_usd",
        "one_off_cost_usd",
        "ttft_ms_p95",
        "tpot_ms_p95",
        "meets_slo",
        "capability_score",
        "governance_burden",
        "dimension_scores",
        "profile_suitability",
        "risks",
        "warnings",
        "assumptions",
    ):
        assert key in ev
    assert ev["monthly_cost_usd"] == ev["baseline"]["monthly_cost_usd"]
    assert ev["ttft_ms_p95"] == ev["baseline"]["ttft_ms_p95"]
    ev_rag = client.get(f"/api/v1/portfolios/{rag}/evaluation", headers=h).json()
    assert ev_rag["ttft_ms_p95"] > ev["ttft_ms_p95"] + 40  # 2,560 more prompt tokens + 40 ms
    assert "LLM08:2025 Vector and Embedding Weaknesses" in ev_rag["risks"]
    assert set(ev_rag["profile_suitability"]) == {"startup", "enterprise", "research"}
    r = client.get(f"/api/v1/portfolios/compare?ids={empty},{serve},{rag}", headers=h)
    assert r.status_code == 200, r.text
    cmp = r.json()
    assert cmp["ids"] == [empty, serve, rag]
    assert cmp["best"]["governance_burden"] == empty
    assert cmp["best"]["tpot_ms_p95"] in (serve, rag)
    assert cmp["pareto_ids"]
    assert set(cmp["pareto_ids"]) <= {empty, serve, rag}
    assert len(cmp["summary"]) == 2
    assert cmp["summary"][0].startswith("Serving ")
    for bad in (f"{empty}", f"{empty},x", "1,2,3,4,5", f"{empty},{empty}"):
        assert client.get(f"/api/v1/portfolios/compare?ids={bad}", headers=h).status_code == 422
    assert (
        client.get(f"/api/v1/portfolios/compare?ids={empty},999999", headers=h).status_code == 404
    )


def test_portfolio_from_a_recommendation(client: TestClient, h: dict, dep: Any) -> None:  # type: ignore[type-arg]
    answers = [
        {"failure_mode": "factual_staleness", "severity": 3, "traffic_share": 0.4},
        {"failure_mode": "serving_cost", "severity": 3, "traffic_share": 1.0},
    ]
    a = client.post(
        f"/api/v1/deployments/{dep.id}/assessments", json={"answers": answers}, headers=h
    ).json()
    r = client.post(f"/api/v1/assessments/{a['id']}/portfolio", headers=h)
    assert r.status_code == 201, r.text
    p = r.json()
    assert p["source_assessment_id"] == a["id"]
    assert [i["technique"] for i in p["items"]] == [
        i["technique"] for i in a["recommendation"]["items"]
    ]


def test_portfolio_from_the_ticked_items_priced_as_the_cards(
    client: TestClient,
    h: dict,
    dep: Any,  # type: ignore[type-arg]
) -> None:
    """Issue 22 item 8: only the ranks given, and the corpus the card was priced with."""
    answers = [
        {
            "failure_mode": "factual_staleness",
            "severity": 3,
            "traffic_share": 0.4,
            "corpus_tokens": 5e7,
        },
        {"failure_mode": "serving_cost", "severity": 3, "traffic_share": 1.0},
    ]
    a = client.post(
        f"/api/v1/deployments/{dep.id}/assessments", json={"answers": answers}, headers=h
    ).json()
    items = a["recommendation"]["items"]
    rag = next(i for i in items if i["technique"] == "rag")
    url = f"/api/v1/assessments/{a['id']}/portfolio"
    r = client.post(url, json={"ranks": [rag["rank"]]}, headers=h)
    assert r.status_code == 201, r.text
    assert [(i["technique"], i["params"]["corpus_tokens"]) for i in r.json()["items"]] == [
        ("rag", 5e7)
    ]
    for bad in ({"ranks": []}, {"ranks": [0]}, {"ranks": ["x"]}, {"rank": [1]}):
        r = client.post(url, json=bad, headers=h)
        assert r.status_code == 422, bad
        assert r.json()["detail"][0]["loc"][:2] == ["body", next(iter(bad))]
    r = client.post(url, json={"ranks": [999]}, headers=h)
    assert r.status_code == 422
    assert "no item ranked 999" in r.text


@pytest.mark.parametrize(
    ("items", "field"),
    [
        (
            [
                {
                    "axis": "serving_optimization",
                    "technique": "prefix_caching",
                    "params": {"share_reused": 1.0},
                }
            ],
            "items[0].params.share_reused",
        ),
        (
            [
                {
                    "axis": "serving_optimization",
                    "technique": "engine_switch",
                    "params": {"engine": "llama.cpp"},
                }
            ],
            "items[0].params.engine",
        ),
        (
            [
                {
                    "axis": "alignment",
                    "technique": "guardrail_classifier",
                    "params": {"guard": "nope"},
                }
            ],
            "items[0].params.guard",
        ),
        ([{"axis": "alignment", "technique": "few_shot_prompting"}], "items[0].axis"),
    ],
)
def test_new_techniques_bad_params_are_422(
    client: TestClient,
    session: Session,
    h: dict,  # type: ignore[type-arg]
    dep: Any,
    items: list,  # type: ignore[type-arg]
    field: str,
) -> None:
    r = client.post(
        "/api/v1/portfolios", json={"deployment_id": dep.id, "name": "x", "items": items}, headers=h
    )
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field
    assert _count(session) == 0


def test_new_serving_techniques_evaluate_over_http(client: TestClient, h: dict, dep: Any) -> None:  # type: ignore[type-arg]
    techniques = {t["key"]: t for t in client.get("/api/v1/techniques", headers=h).json()}
    share = next(
        p for p in techniques["prefix_caching"]["parameters"] if p["name"] == "share_reused"
    )
    assert (share["default"], share["exclusive_maximum"]) == (0.5, True)
    assert "Zheng" in share["source"]
    empty = _new(client, h, dep.id, "As is", [])["id"]
    cached = _new(
        client,
        h,
        dep.id,
        "Cached",
        [
            {
                "axis": "serving_optimization",
                "technique": "response_caching",
                "params": {"hit_rate": 0.5, "lookup_latency_ms": 0},
            },
            {"axis": "serving_optimization", "technique": "prefix_caching"},
        ],
    )["id"]
    ev = client.get(f"/api/v1/portfolios/{empty}/evaluation", headers=h).json()
    ev2 = client.get(f"/api/v1/portfolios/{cached}/evaluation", headers=h)
    assert ev2.status_code == 200, ev2.text
    body = ev2.json()
    assert body["ttft_ms_p95"] < ev["ttft_ms_p95"]  # half of each prompt from the prefix cache
    assert any("response cache" in a for a in body["assumptions"]["response_caching"])


def test_portfolio_from_a_recommendation_has_its_governance_burden(
    client: TestClient,
    h: dict,
    dep: Any,  # type: ignore[type-arg]
) -> None:
    """Review finding 6: the burden of a portfolio made from a recommendation is the plan's (the
    rule set's govern effects on reasoning compute and alignment included), and the evaluation
    shows TTFT, TPOT and time to answer p95 as separate figures."""
    answers = [
        {"failure_mode": "complex_task_errors", "severity": 2, "traffic_share": 0.15},
        {"failure_mode": "policy_noncompliance", "severity": 2, "traffic_share": 1.0},
        {"failure_mode": "factual_staleness", "severity": 3, "traffic_share": 0.4},
    ]
    a = client.post(
        f"/api/v1/deployments/{dep.id}/assessments", json={"answers": answers}, headers=h
    ).json()
    rec = a["recommendation"]
    axes = {i["axis"] for i in rec["items"]}
    assert {"reasoning_compute", "alignment"} <= axes  # both carry a rule-set extra
    p = client.post(f"/api/v1/assessments/{a['id']}/portfolio", headers=h).json()
    ev = client.get(f"/api/v1/portfolios/{p['id']}/evaluation", headers=h).json()
    assert ev["governance_burden"] == rec["governance_burden"]
    # a hand-built portfolio of the same items has no rule-set extras: a lower burden
    same = _new(client, h, dep.id, "by hand", p["items"])
    hand = client.get(f"/api/v1/portfolios/{same['id']}/evaluation", headers=h).json()
    assert hand["governance_burden"] < ev["governance_burden"]
    assert ev["time_to_answer_ms_p95"] > ev["ttft_ms_p95"]  # the reasoning tokens come first
    assert ev["baseline"]["time_to_answer_ms_p95"] == ev["baseline"]["ttft_ms_p95"]


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ('{"k": Infinity}', "k"),
        ('{"k": -Infinity}', "k"),
        ('{"k": 1e309}', "k"),
        ('{"k": NaN}', "k"),
        ('{"retrieval_latency_ms": NaN}', "retrieval_latency_ms"),
        ('{"corpus_tokens": Infinity}', "corpus_tokens"),
    ],
)
def test_non_finite_parameters_are_422_naming_the_field(
    client: TestClient,
    session: Session,
    h: dict,  # type: ignore[type-arg]
    dep: Any,
    raw: str,
    field: str,
) -> None:
    """inf, -inf, 1e309 (inf once parsed) and NaN pass no parameter: a 422 with a plain message,
    not a 500 from int(inf) or from hashing NaN into the audit record."""
    body = (
        f'{{"deployment_id": {dep.id}, "name": "x", "items": '
        f'[{{"axis": "retrieval", "technique": "rag", "params": {raw}}}]}}'
    )
    r = client.post(
        "/api/v1/portfolios",
        content=body,
        headers={**h, "content-type": "application/json"},
    )
    assert r.status_code == 422, r.text
    assert r.json()["field"] == f"items[0].params.{field}"
    assert "finite number" in r.text
    assert _count(session) == 0
    created = _new(client, h, dep.id, "ok", [RAG])
    r = client.patch(
        f"/api/v1/portfolios/{created['id']}",
        content=f'{{"items": [{{"axis": "retrieval", "technique": "rag", "params": {raw}}}]}}',
        headers={**h, "content-type": "application/json"},
    )
    assert r.status_code == 422, r.text
    assert r.json()["field"] == f"items[0].params.{field}"
