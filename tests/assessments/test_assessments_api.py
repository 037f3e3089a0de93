"""Assessments and rule sets over HTTP: submission, idempotency, errors that write nothing, rerun
under a newer rule set, and the admin validate / dry-run / publish routes."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.assessments.models import Assessment, Recommendation
from app.audit.models import AuditEvent
from app.rules.reference import default_ruleset_text
from tests.factories import api_headers, create_deployment, create_user

ANSWERS: list[dict[str, Any]] = [
    {
        "failure_mode": "factual_staleness",
        "severity": 3,
        "traffic_share": 0.4,
        "segments": ["EU"],
        "corpus_tokens": 2e8,
        "cross_document": False,
    },
    {"failure_mode": "policy_noncompliance", "severity": 2, "traffic_share": 0.1},
]


def _count(session: Session, model: type) -> int:
    return session.execute(select(func.count()).select_from(model)).scalar_one()


@pytest.fixture
def lead(session: Session) -> Any:
    return create_user(session, role="product_lead")


@pytest.fixture
def dep(session: Session, lead: Any) -> Any:
    return create_deployment(session, user=lead, profile="enterprise")


def _submit(client: TestClient, h: dict, dep_id: int, answers: list | None = None, **kw: Any):  # type: ignore[no-untyped-def,type-arg]
    headers = {**h, **kw.pop("headers", {})}
    return client.post(
        f"/api/v1/deployments/{dep_id}/assessments",
        json={"answers": answers if answers is not None else ANSWERS, **kw},
        headers=headers,
    )


def test_submit_returns_the_ranked_explained_priced_recommendation(
    client: TestClient, session: Session, lead: Any, dep: Any
) -> None:
    h = api_headers(client, lead.email)
    r = _submit(client, h, dep.id, governance_capacity=4)
    assert r.status_code == 201, r.text
    body = r.json()
    assert r.headers["location"] == f"/api/v1/assessments/{body['id']}"
    rec = body["recommendation"]
    first = rec["items"][0]
    assert (first["rank"], first["axis"], first["technique"]) == (1, "retrieval", "rag")
    assert [i["rank"] for i in rec["items"]] == list(range(1, len(rec["items"]) + 1))
    assert {"retrieval", "alignment"} <= {i["axis"] for i in rec["items"]}
    for key in (
        "monthly_cost_delta_usd",
        "one_off_cost_usd",
        "ttft_delta_ms",
        "tpot_delta_ms",
        "governance_burden",
    ):
        assert key in first["impact"]
    # RAG adds 5×512 prompt tokens and 40 ms of retrieval: TTFT grows; the index costs money.
    assert first["impact"]["ttft_delta_ms"] > 40
    assert first["impact"]["one_off_cost_usd"] > 0
    assert any("5 chunks of 512 tokens" in a for a in first["impact_assumptions"])
    assert first["rules_fired"][0]["rule"] == "staleness_local_rag"
    assert first["rules_fired"][0]["facts"]["fm.factual_staleness.severity"] == 3
    assert any("PII or regulated data" in w for w in first["warnings"])
    assert any("Lewis et al. 2020" in c for c in first["citations"])
    assert rec["versions"]["rules"] == 1
    assert rec["versions"]["matrix"] >= 1
    assert rec["versions"]["estimator"]
    assert rec["governance_burden"] == sum(
        {i["axis"]: i["impact"]["governance_burden"] for i in rec["items"]}.values()
    )
    got = client.get(f"/api/v1/assessments/{body['id']}", headers=h).json()
    assert got["recommendation"] == rec
    event = session.execute(
        select(AuditEvent).where(AuditEvent.action == "assessment.submit")
    ).scalar_one()
    assert event.entity_id == str(body["id"])
    assert event.after["top"][0] == "retrieval/rag"


def test_all_zero_severities_say_no_intervention(client: TestClient, lead: Any, dep: Any) -> None:
    h = api_headers(client, lead.email)
    r = _submit(
        client,
        h,
        dep.id,
        [{"failure_mode": "serving_cost", "severity": 0}],
        observed_monthly_cost_usd=10,
    )
    assert r.status_code == 201
    rec = r.json()["recommendation"]
    assert rec["no_intervention"] is True
    assert rec["items"] == []
    assert "no intervention is needed" in rec["notes"][0]


def test_idempotency_key_returns_the_same_assessment(
    client: TestClient, session: Session, lead: Any, dep: Any
) -> None:
    h = api_headers(client, lead.email)
    first = _submit(client, h, dep.id, headers={"Idempotency-Key": "k-123"})
    again = _submit(client, h, dep.id, headers={"Idempotency-Key": "k-123"})
    assert first.status_code == again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert _count(session, Assessment) == 1
    assert _count(session, Recommendation) == 1
    other = _submit(client, h, dep.id, ANSWERS[:1], headers={"Idempotency-Key": "k-123"})
    assert other.status_code == 409
    assert other.json()["field"] == "Idempotency-Key"
    assert _count(session, Assessment) == 1


@pytest.mark.parametrize(
    ("answers", "extra", "field"),
    [
        ([{"failure_mode": "made_up", "severity": 2}], {}, "answers[0].failure_mode"),
        ([{"failure_mode": "serving_cost", "severity": 5}], {}, "severity"),
        ([{"failure_mode": "serving_cost", "severity": -1}], {}, "severity"),
        (
            [{"failure_mode": "serving_cost", "severity": 2, "traffic_share": 1.5}],
            {},
            "traffic_share",
        ),
        (
            [{"failure_mode": "serving_cost", "severity": 2, "segments": ["Mars"]}],
            {},
            "answers[0].segments",
        ),
        (
            [{"failure_mode": "serving_cost", "severity": 2, "labelled_data": True}],
            {},
            "answers[0].labelled_data",
        ),
        (
            [{"failure_mode": "domain_accuracy_gap", "severity": 2, "distribution": "random"}],
            {},
            "distribution",
        ),
        (
            [
                {"failure_mode": "serving_cost", "severity": 1},
                {"failure_mode": "serving_cost", "severity": 2},
            ],
            {},
            "answers",
        ),
        ([], {}, "answers"),
        (ANSWERS, {"governance_capacity": -1}, "governance_capacity"),
        (ANSWERS, {"colour": "blue"}, "colour"),
    ],
)
def test_bad_answers_are_422_and_write_nothing(
    client: TestClient,
    session: Session,
    lead: Any,
    dep: Any,
    answers: list,
    extra: dict,  # type: ignore[type-arg]
    field: str,
) -> None:
    h = api_headers(client, lead.email)
    before = _count(session, AuditEvent)
    r = _submit(client, h, dep.id, answers, **extra)
    assert r.status_code == 422, r.text
    detail = r.json()
    text = str(detail.get("field", "")) + str(detail["detail"])
    assert field.split(".")[-1].split("[")[0] in text
    assert _count(session, Assessment) == 0
    assert _count(session, AuditEvent) == before


def test_another_organisations_deployment_is_404(
    client: TestClient, session: Session, dep: Any
) -> None:
    stranger = create_user(session, org="Other Org", role="product_lead")
    h = api_headers(client, stranger.email)
    assert _submit(client, h, dep.id).status_code == 404
    assert _count(session, Assessment) == 0


def test_roles_without_submit_permission_are_refused(
    client: TestClient, session: Session, dep: Any
) -> None:
    viewer = create_user(session, org="Acme", role="viewer")
    h = api_headers(client, viewer.email)
    assert _submit(client, h, dep.id).status_code == 403


def _edited_rules(mutate: Any) -> str:
    body = yaml.safe_load(default_ruleset_text())
    mutate(body)
    return yaml.safe_dump(body, sort_keys=False)


def _rag_becomes_graphrag(body: dict) -> None:  # type: ignore[type-arg]
    for rule in body["rules"]:
        if rule["id"] == "staleness_local_rag":
            rule["then"]["recommend"]["technique"] = "graphrag"


def test_publish_then_rerun_links_and_shows_what_changed(
    client: TestClient, session: Session, lead: Any, dep: Any
) -> None:
    admin = create_user(session, org="Acme", role="admin")
    ha, hl = api_headers(client, admin.email), api_headers(client, lead.email)
    aid = _submit(client, hl, dep.id).json()["id"]
    text = _edited_rules(_rag_becomes_graphrag)

    assert client.post("/api/v1/rules/validate", json={"yaml": text}, headers=ha).json() == {
        "valid": True,
        "rules": len(yaml.safe_load(text)["rules"]),
    }
    dry = client.post("/api/v1/rules/dry-run", json={"yaml": text}, headers=ha).json()
    assert dry["changed"] == 1
    change = dry["changes"][0]
    assert change["assessment_id"] == aid
    assert change["top_changed"]
    assert change["after"][0] == "retrieval/graphrag"
    assert "retrieval/rag" in change["removed"]

    # product leads may not publish; admins may, with a note
    assert (
        client.post("/api/v1/rules", json={"yaml": text, "note": "x"}, headers=hl).status_code
        == 403
    )
    r = client.post(
        "/api/v1/rules", json={"yaml": text, "note": "GraphRAG for staleness"}, headers=ha
    )
    assert r.status_code == 201, r.text
    assert r.json()["version"] == 2
    assert client.get("/api/v1/rules", headers=hl).json()["version"] == 2
    assert client.get("/api/v1/rules?version=1", headers=hl).json()["version"] == 1
    same = client.post("/api/v1/rules", json={"yaml": text, "note": "again"}, headers=ha)
    assert same.status_code == 422

    r = client.post(f"/api/v1/assessments/{aid}/rerun", headers=hl)
    assert r.status_code == 201
    body = r.json()
    assert len(body["recommendations"]) == 2
    rec = body["recommendation"]
    assert rec["previous_id"] == body["recommendations"][0]
    assert rec["versions"]["rules"] == 2
    # the new rules pick GraphRAG; priced on the deployment, plain RAG meets the SLOs for less
    # (issue 18 item 4: the cheapest technique that addresses the failure), so the card says so
    # and lists GraphRAG among the alternatives with why it was not chosen
    top = rec["items"][0]
    assert top["technique"] == "rag"
    assert top["rationale"][0].startswith("Chosen by price over GraphRAG")
    alt = {a["technique"]: a for a in top["alternatives"]}
    assert "more than the chosen option" in alt["graphrag"]["why_not"]
    actions = session.execute(select(AuditEvent.action).order_by(AuditEvent.id)).scalars().all()
    assert "ruleset.publish" in actions
    assert "assessment.rerun" in actions
    # the first snapshot is unchanged
    first = session.get(Recommendation, body["recommendations"][0])
    assert first is not None
    assert first.rules_version == 1
    assert first.result["items"][0]["technique"] == "rag"


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("rules: [", "yaml"),
        ("rules: []", "rules"),
        (_edited_rules(lambda b: b["rules"][0]["when"].update({"all": "x"})), "rules[0].when"),
        (
            _edited_rules(lambda b: b["rules"][0]["then"]["recommend"].update({"axis": "magic"})),
            "rules[0].then.recommend.axis",
        ),
        (_edited_rules(lambda b: b["rules"][1].update({"id": b["rules"][0]["id"]})), "rules[1].id"),
    ],
)
def test_invalid_rule_sets_are_422_with_their_path(
    client: TestClient, session: Session, text: str, field: str
) -> None:
    admin = create_user(session, role="admin")
    h = api_headers(client, admin.email)
    for path in ("/api/v1/rules/validate", "/api/v1/rules/dry-run"):
        r = client.post(path, json={"yaml": text}, headers=h)
        assert r.status_code == 422, r.text
        assert r.json()["field"].startswith(field), r.json()
    r = client.post("/api/v1/rules", json={"yaml": text, "note": "bad"}, headers=h)
    assert r.status_code == 422
    assert client.get("/api/v1/rules", headers=h).json()["version"] == 1


@pytest.mark.slow
def test_cards_carry_the_priced_contract_and_alternatives(
    client: TestClient, session: Session, lead: Any, dep: Any
) -> None:
    """Issue 18 items 3-4: every card's impact has the contract names, the params it was priced
    with (the failure's traffic share included), and the alternatives considered; a vLLM
    deployment is never told to adopt PagedAttention (vLLM already pages the KV cache)."""
    h = api_headers(client, lead.email)
    answers = [
        {"failure_mode": "complex_task_errors", "severity": 2, "traffic_share": 0.15},
        {"failure_mode": "serving_cost", "severity": 1, "traffic_share": 1.0},
        {
            "failure_mode": "factual_staleness",
            "severity": 3,
            "traffic_share": 0.4,
            "corpus_tokens": 1e8,
        },
    ]
    r = _submit(client, h, dep.id, answers)
    assert r.status_code == 201, r.text
    items = r.json()["recommendation"]["items"]
    assert items[0]["axis"] == "serving_optimization"  # serving first at severity 1
    assert all("paged_attention" not in i["technique"] for i in items)
    for item in items:
        impact = item["impact"]
        for key in (
            "monthly_cost_delta_usd",
            "one_off_cost_usd",
            "ttft_delta_ms",
            "tpot_delta_ms",
            "governance_burden",
            "params",
            "traffic_share",
        ):
            assert key in impact, key
        for key in ("cost_per_1k_requests_usd", "monthly_cost_usd"):
            assert set(impact[key]) == {"before", "after", "delta"}
        assert set(impact["replicas"]) == {"before", "after"}
        assert set(impact["time_to_answer_p95_ms"]) == {"before", "after"}
        assert set(impact["slo_after"]) == {"ttft_ok", "tpot_ok", "time_to_answer_ok"}
        assert set(impact["one_off_usd"]) == {
            "total",
            "gpu",
            "labelling",
            "preference_data",
            "embedding_and_index",
            "evaluation",
        }
        assert impact["monthly_cost_usd"]["after"] is not None  # the H100 has a price
        assert set(impact["range"]) == {
            "ttft_p95_ms",
            "tpot_p95_ms",
            "time_to_answer_p95_ms",
            "monthly_cost_usd",
            "cost_per_1k_requests_usd",
        }
        for band in impact["range"].values():  # issue 19 item 6: the held-out band
            assert band is not None
            assert set(band) == {"p10", "p90"}
            assert band["p10"] <= band["p90"]
        for alt in item["alternatives"]:
            # hosted alternatives add more fields (issue 20 item 5)
            assert {
                "technique",
                "axis",
                "cost_per_1k_requests_usd",
                "monthly_cost_usd",
                "time_to_answer_p95_ms",
                "slo_after",
                "why_not",
            } <= set(alt)
            assert alt["why_not"]
    serving = items[0]
    alts = {a["technique"]: a["why_not"] for a in serving["alternatives"]}
    assert "already pages the KV cache" in alts["paged_attention_speculative"]
    reasoning = next(i for i in items if i["axis"] == "reasoning_compute")
    assert reasoning["impact"]["params"]["traffic_share"] == 0.15
    rag = next(i for i in items if i["axis"] == "retrieval")
    assert rag["impact"]["params"]["corpus_tokens"] == 1e8
    assert rag["impact"]["one_off_usd"]["embedding_and_index"] > 0


# ---- review findings 2, 4, 5: each card's technique, outcome, alternatives and verdict agree ----
SPEC_ANSWERS: list[dict[str, Any]] = [
    {"failure_mode": "complex_task_errors", "severity": 2, "traffic_share": 0.15},
    {"failure_mode": "serving_cost", "severity": 3, "traffic_share": 1.0},
]


def _meets(slo: dict[str, bool] | None) -> bool:
    return bool(slo) and all(slo.values())  # type: ignore[union-attr]


def test_a_serving_card_for_reasoning_headroom_is_a_serving_card(
    client: TestClient, session: Session, lead: Any, dep: Any
) -> None:
    """Review finding 4: little latency headroom adds a serving item for the reasoning failure.
    It said "Speculative decoding" with the reasoning outcome and reasoning alternatives, missed
    every SLO, and said no option on its axis met them while card #1 showed INT8 meeting all.
    Now no two cards recommend the same technique, a serving card's outcome and alternatives are
    serving ones, and no card recommends an option that misses an SLO when another option on its
    axis meets them."""
    h = api_headers(client, lead.email)
    r = _submit(client, h, dep.id, SPEC_ANSWERS, observed_ttft_ms=450.0)
    assert r.status_code == 201, r.text
    rec = r.json()["recommendation"]
    items = rec["items"]
    fired = {rf["rule"] for i in items for rf in i["rules_fired"]}
    assert "reasoning_needs_latency_headroom" in fired
    keys = [(i["axis"], i["technique"]) for i in items]
    assert len(keys) == len(set(keys))
    reasoning_outcome = next(
        i["expected_outcome"] for i in items if i["axis"] == "reasoning_compute"
    )
    for item in items:
        if item["axis"] == "serving_optimization":
            assert item["expected_outcome"] != reasoning_outcome
            assert all(a["axis"] == "serving_optimization" for a in item["alternatives"])
        same_axis_meeting = [
            a
            for a in item["alternatives"]
            if a["axis"] == item["axis"] and _meets(a["slo_after"]) and a["why_not"].startswith("$")
        ]
        if same_axis_meeting:
            assert _meets(item["impact"]["slo_after"]), item["technique"]
        assert not any(
            "no priced option on this axis meets" in w
            for w in item["rationale"]
            if same_axis_meeting
        )
    serving = [i for i in items if i["axis"] == "serving_optimization"]
    assert len(serving) == 1
    assert set(serving[0]["failure_modes"]) == {"serving_cost", "complex_task_errors"}


def test_serving_first_says_the_reason_that_holds(
    client: TestClient, session: Session, lead: Any
) -> None:
    """Review finding 2: serving cost answered at severity 3, observed $4,000 against a $6,000
    budget and latency inside the SLOs: serving still goes first, and the banner says it is the
    reported failure, with the axis's name, never "serving economics fail (budget or SLO)"."""
    d = create_deployment(session, user=lead, monthly_budget_usd=6000)
    h = api_headers(client, lead.email)
    answers = [
        {"failure_mode": "serving_cost", "severity": 3, "traffic_share": 1.0},
        {"failure_mode": "factual_staleness", "severity": 3, "traffic_share": 0.4},
    ]
    r = _submit(
        client,
        h,
        d.id,
        answers,
        observed_monthly_cost_usd=4000.0,
        observed_ttft_ms=100.0,
        observed_tpot_ms=10.0,
    )
    assert r.status_code == 201, r.text
    rec = r.json()["recommendation"]
    assert rec["items"][0]["axis"] == "serving_optimization"
    note = next(n for n in rec["notes"] if n.startswith("Every other item waits on"))
    assert note.startswith("Every other item waits on Serving optimization:")
    assert "reported as a failure (severity 3)" in note
    assert "budget or SLO" not in note
    assert "over the monthly budget" not in note
    over = _submit(
        client,
        h,
        d.id,
        answers[1:],
        observed_monthly_cost_usd=7000.0,
        observed_ttft_ms=100.0,
        observed_tpot_ms=10.0,
    )
    assert over.status_code == 201, over.text
    notes = over.json()["recommendation"]["notes"]
    assert any("over the monthly budget: $7,000 vs $6,000" in n for n in notes), notes


@pytest.mark.slow
def test_the_whole_plan_names_the_slos_it_misses_and_picks_by_a_stated_rule(
    client: TestClient, session: Session, lead: Any
) -> None:
    """Review finding 5: when no reasoning option meets the SLOs the card picks by a stated rule
    (fewest SLOs missed, then the cheapest) and never keeps "the rules' pick" silently; the plan
    says which SLOs it misses, not "the TTFT or TPOT SLO" when those are met."""
    d = create_deployment(session, user=lead, ttft_slo_ms=300, tpot_slo_ms=40)
    h = api_headers(client, lead.email)
    answers = [{"failure_mode": "complex_task_errors", "severity": 3, "traffic_share": 0.2}]
    r = _submit(client, h, d.id, answers, observed_ttft_ms=100.0, observed_tpot_ms=10.0)
    assert r.status_code == 201, r.text
    rec = r.json()["recommendation"]
    card = next(i for i in rec["items"] if i["axis"] == "reasoning_compute")
    assert not any("rules' pick" in line for line in card["rationale"])
    slo = card["impact"]["slo_after"]
    priced = [
        a
        for a in card["alternatives"]
        if a["axis"] == "reasoning_compute" and a["monthly_cost_usd"] is not None
    ]
    if not all(slo.values()):
        # none on the axis meets the SLOs, and none is cheaper with no more SLOs missed
        assert not any(_meets(a["slo_after"]) for a in priced)
        missed = sum(not v for v in slo.values())
        for a in priced:
            a_missed = sum(not v for v in a["slo_after"].values())
            assert (
                a_missed > missed
                or a["monthly_cost_usd"] >= card["impact"]["monthly_cost_usd"]["after"]
            )
        assert any("misses the" in line for line in card["rationale"])
    plan = rec["plan"]
    assert plan is not None, rec
    if not plan["meets_slo"]:
        words = {"ttft_ok": "TTFT", "tpot_ok": "TPOT", "time_to_answer_ok": "time-to-answer"}
        missed_words = [w for k, w in words.items() if not plan["slo_after"][k]]
        verdict = plan["slo_verdict"]
        assert verdict.startswith(f"misses the {' and '.join(missed_words)} SLO")
        for k, w in words.items():
            if plan["slo_after"][k]:
                assert f"{w} " not in verdict.replace("time-to-answer", "tta"), verdict
        assert not any("TTFT or TPOT" in w for w in plan["warnings"])
        assert plan["warnings"][0].startswith("The whole plan misses the")
        # then the budget, when the plan's provisioned bill ends over it (walk-through finding)
        prov = plan["provisioned_monthly_cost_usd"]["after"]
        over = [w for w in plan["warnings"] if "is over the monthly budget" in w]
        assert over == (plan["warnings"][1:2] if prov > d.monthly_budget_usd else [])


@pytest.mark.slow
def test_a_moe_deployment_is_not_told_to_adopt_moe(
    client: TestClient, session: Session, lead: Any
) -> None:
    """Review finding 3: Mixtral-8x7B got "#4 Sparse mixture-of-experts model" with no note that
    it is in place. With no better MoE in the catalog that fits, the item is dropped with the
    reason; any MoE card left says which model replaces the current one."""
    d = create_deployment(session, user=lead, model="mixtral_8x7b", n_gpus=2)
    h = api_headers(client, lead.email)
    answers = [
        {"failure_mode": "capacity_at_low_cost", "severity": 2, "traffic_share": 1.0},
        {"failure_mode": "factual_staleness", "severity": 2, "traffic_share": 0.3},
    ]
    r = _submit(client, h, d.id, answers)
    assert r.status_code == 201, r.text
    rec = r.json()["recommendation"]
    moe = [i for i in rec["items"] if i["technique"] == "moe_model"]
    for item in moe:
        assert any(
            "is already a mixture-of-experts model: this replaces it with" in line
            for line in item["rationale"]
        )
    if not moe:
        assert any("already a mixture-of-experts model" in n for n in rec["notes"]), rec["notes"]


@pytest.mark.parametrize(
    ("demo", "shape"),
    [("Code assistant", {}), ("Support chatbot", {"hourly_profile": [1] * 8 + [3] * 10 + [1] * 6})],
)
@pytest.mark.slow
def test_card_before_is_the_deployment_page(
    client: TestClient, session: Session, lead: Any, demo: str, shape: dict[str, Any]
) -> None:
    """Review finding 1: a card's "before" is the deployment page's economics for the same
    deployment (one capacity planner): replicas at the peak, the provisioned monthly cost,
    TTFT/TPOT p95 and the SLO verdict; the audit report's section 6 is the same computation."""
    from app.demo import DEMO_ASSESSMENTS, DEMO_DEPLOYMENTS

    spec = next(d for d in DEMO_DEPLOYMENTS if d["name"] == demo)
    dep = create_deployment(session, user=lead, **{**spec, **shape})
    session.commit()
    h = api_headers(client, lead.email)
    econ = client.get(f"/api/v1/deployments/{dep.id}/economics", headers=h).json()
    assert econ["replicas"] is not None
    assert econ["monthly_cost_usd"] is not None
    r = _submit(client, h, dep.id, DEMO_ASSESSMENTS[demo]["answers"])
    assert r.status_code == 201, r.text
    items = r.json()["recommendation"]["items"]
    priced = [i["impact"] for i in items if i["impact"].get("replicas")]
    assert priced
    for impact in priced:
        assert impact["replicas"]["before"] == econ["replicas"]
        assert impact["provisioned_monthly_cost_usd"]["before"] == pytest.approx(
            econ["monthly_cost_usd"], rel=1e-9
        )
        assert impact["ttft_p95_ms"]["before"] == pytest.approx(econ["ttft_p95_ms"], abs=1e-3)
        assert impact["tpot_p95_ms"]["before"] == pytest.approx(econ["tpot_p95_ms"], abs=1e-4)
        assert impact["time_to_answer_p95_ms"]["before"] == pytest.approx(
            econ["time_to_answer_p95_ms"], abs=1e-3
        )
        meets = econ["ttft_p95_ms"] <= spec["ttft_slo_ms"] and (
            econ["tpot_p95_ms"] <= spec["tpot_slo_ms"]
        )
        assert econ["meets_slos"] == meets
        # GPU-hours actually needed never exceed what is provisioned
        assert impact["monthly_cost_usd"]["before"] <= econ["monthly_cost_usd"] + 1e-6
    report = client.get(f"/api/v1/deployments/{dep.id}/report?format=json", headers=h).json()
    s6 = report["economics"]
    for key in (
        "replicas",
        "monthly_cost_usd",
        "ttft_p95_ms",
        "tpot_p95_ms",
        "meets_slos",
        "within_budget",
        "gpu_hours_per_month",
        "cost_per_1k_requests_usd",
    ):
        assert s6[key] == econ[key], key
    assert isinstance(s6["replicas"], int)
    html_report = client.get(f"/api/v1/deployments/{dep.id}/report?format=html", headers=h).text
    assert f"<tr><th>Replicas at the peak</th><td>{econ['replicas']} ×" in html_report


def test_the_rules_judge_the_deployment_pages_figures(
    client: TestClient, session: Session, lead: Any, dep: Any
) -> None:
    """Review finding 1: over-budget and missed-SLO facts come from the same computation as the
    deployment page and GET /economics (peak replicas, p95 at the planned rate), not from a
    second static estimate, so a banner's "$X vs budget" is the page's $X."""
    from app.assessments.models import Recommendation

    h = api_headers(client, lead.email)
    econ = client.get(f"/api/v1/deployments/{dep.id}/economics", headers=h).json()
    r = _submit(client, h, dep.id)
    assert r.status_code == 201, r.text
    rec = session.get(Recommendation, r.json()["recommendation"]["id"])
    assert rec is not None
    assert rec.facts["ctx.serving_source"] == "estimated"
    assert rec.facts.get("ctx.monthly_cost_usd") == pytest.approx(econ["monthly_cost_usd"])


def test_answers_become_the_engines_answers_once() -> None:
    """The validated questionnaire turns into the engine's answers once, shared by validation and
    evaluation, with the follow-ups given and nothing else (issue 23 item 6)."""
    from app.assessments.schemas import AssessmentIn
    from app.rules.questionnaire import Answer

    data = AssessmentIn.model_validate(
        {
            "answers": [
                {
                    "failure_mode": "factual_staleness",
                    "severity": "3",
                    "traffic_share": 0.25,
                    "segments": ["EU", "EU", "US"],
                    "cross_document": True,
                },
                {"failure_mode": "serving_cost", "severity": 0},
            ]
        }
    )
    assert data.engine_answers == (
        Answer("factual_staleness", 3, 0.25, ("EU", "US"), {"cross_document": True}),
        Answer("serving_cost", 0, None, (), {}),
    )
    assert data.engine_answers is data.engine_answers  # built once
    assert "engine_answers" not in data.model_dump()  # not part of the stored/hashed payload
