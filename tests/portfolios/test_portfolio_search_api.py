"""POST /api/v1/deployments/{id}/portfolio-search (issue 20): the contract, defaults from the
deployment and its latest assessment, 422s naming the field, role and organisation checks, a
point saved as a portfolio, and a search over the inline limit run as a job."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.jobs import limits
from tests.factories import api_headers, create_deployment, create_user

FMS = [
    {"failure_mode": "factual_staleness", "severity": 3, "traffic_share": 0.4, "segment_risk": 2},
    {"failure_mode": "domain_accuracy_gap", "severity": 2, "traffic_share": 0.3},
]
URL = "/api/v1/deployments/{}/portfolio-search"


@pytest.fixture
def arch(session: Session) -> Any:
    return create_user(session, role="architect")


@pytest.fixture
def h(client: TestClient, arch: Any) -> dict[str, str]:
    return api_headers(client, arch.email)


@pytest.fixture
def dep(session: Session, arch: Any) -> Any:
    d = create_deployment(session, user=arch, requests_per_day=200_000)
    session.commit()
    return d


def _search(client: TestClient, h: dict[str, str], dep_id: int, **body: Any) -> Any:
    return client.post(URL.format(dep_id), json=body, headers=h)


def test_contract_and_a_point_saved_as_a_portfolio(
    client: TestClient, h: dict[str, str], dep: Any
) -> None:
    limits_given = {"one_off_budget_usd": 5000, "time_to_answer_p95_ms": 3000}
    r = _search(client, h, dep.id, failure_modes=FMS, constraints=limits_given)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["candidates_evaluated"] > 100
    assert body["elapsed_ms"] > 0
    keys = {
        "items",
        "monthly_cost_usd",
        "one_off_usd",
        "ttft_p95_ms",
        "tpot_p95_ms",
        "time_to_answer_p95_ms",
        "coverage",
        "governance_burden",
        "feasible",
    }
    assert body["pareto"]
    for p in body["pareto"]:
        assert keys <= set(p)  # issue 20 item 5 adds "hosted" (null here)
        assert 0 <= p["coverage"] <= 1
        for item in p["items"]:
            assert set(item) == {"axis", "technique", "params"}
    best = body["best"]["index"]
    assert best is not None
    assert body["pareto"][best]["feasible"]
    assert body["best"]["why"]
    assert {"technique", "why"} <= set(body["excluded"][0])
    # defaults: the deployment's budget and SLOs where the constraint was left out
    c = body["constraints"]
    assert (c["monthly_budget_usd"], c["ttft_p95_ms"], c["tpot_p95_ms"]) == (5000, 500, 40)
    assert (c["one_off_budget_usd"], c["time_to_answer_p95_ms"]) == (5000, 3000)
    # the recommended point saved with the existing portfolio create, then compared
    items = body["pareto"][best]["items"]
    made = client.post(
        "/api/v1/portfolios",
        json={"deployment_id": dep.id, "name": "Searched", "items": items},
        headers=h,
    )
    assert made.status_code == 201, made.text
    ev = client.get(f"/api/v1/portfolios/{made.json()['id']}/evaluation", headers=h).json()
    # the saved portfolio holds the point's items, and its figures (the portfolio computation
    # with the capacity planner) are the point's: the search prices its frontier the same way
    saved = client.get(f"/api/v1/portfolios/{made.json()['id']}", headers=h).json()
    assert [(i["axis"], i["technique"]) for i in saved["items"]] == [
        (i["axis"], i["technique"]) for i in items
    ]
    point = body["pareto"][best]
    assert ev["monthly_cost_usd"] is not None
    figures = (
        "monthly_cost_usd",
        "one_off_cost_usd",
        "ttft_ms_p95",
        "tpot_ms_p95",
        "time_to_answer_ms_p95",
        "governance_burden",
    )
    shown = (
        "monthly_cost_usd",
        "one_off_usd",
        "ttft_p95_ms",
        "tpot_p95_ms",
        "time_to_answer_p95_ms",
        "governance_burden",
    )
    assert [ev[k] for k in figures] == [point[k] for k in shown]
    # every other self-hosted point too, saved and evaluated
    for j, p in enumerate(body["pareto"][:4]):
        r = client.post(
            "/api/v1/portfolios",
            json={"deployment_id": dep.id, "name": f"P{j}", "items": p["items"]},
            headers=h,
        )
        assert r.status_code == 201, r.text
        e = client.get(f"/api/v1/portfolios/{r.json()['id']}/evaluation", headers=h).json()
        assert [e[k] for k in figures] == [p[k] for k in shown]


def test_explicit_null_lifts_a_limit(client: TestClient, h: dict[str, str], dep: Any) -> None:
    r = _search(
        client,
        h,
        dep.id,
        failure_modes=FMS[:1],
        constraints={"monthly_budget_usd": None, "ttft_p95_ms": None},
    )
    assert r.status_code == 200, r.text
    c = r.json()["constraints"]
    assert c["monthly_budget_usd"] is None
    assert c["ttft_p95_ms"] is None
    assert c["tpot_p95_ms"] == 40


def test_failure_modes_default_to_the_latest_assessment(
    client: TestClient, h: dict[str, str], dep: Any
) -> None:
    r = _search(client, h, dep.id)
    assert r.status_code == 422
    assert r.json()["field"] == "failure_modes"
    answers = [
        {
            "failure_mode": "factual_staleness",
            "severity": 3,
            "traffic_share": 0.5,
            "segments": ["EU"],
        }
    ]
    a = client.post(
        f"/api/v1/deployments/{dep.id}/assessments",
        json={"answers": answers, "governance_capacity": 7},
        headers=h,
    )
    assert a.status_code == 201, a.text
    r = _search(client, h, dep.id)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["failure_modes"] == [
        {
            "failure_mode": "factual_staleness",
            "severity": 3,
            "traffic_share": 0.5,
            "segment_risk": 3,
        }
    ]
    assert body["constraints"]["governance_capacity"] == 7


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (
            {"failure_modes": [{"failure_mode": "nope", "severity": 2}]},
            "failure_modes[0].failure_mode",
        ),
        (
            {"failure_modes": [{"failure_mode": "factual_staleness", "severity": 0}]},
            "failure_modes",
        ),
        ({"failure_modes": FMS + FMS[:1]}, "failure_modes"),
    ],
)
def test_domain_errors_are_422_naming_the_field(
    client: TestClient, h: dict[str, str], dep: Any, body: dict[str, Any], field: str
) -> None:
    r = _search(client, h, dep.id, **body)
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        (
            {"constraints": {"monthly_budget_usd": -1}},
            ["body", "constraints", "monthly_budget_usd"],
        ),
        ({"constraints": {"ttft_p95_ms": 0}}, ["body", "constraints", "ttft_p95_ms"]),
        (
            {"constraints": {"governance_capacity": 101}},
            ["body", "constraints", "governance_capacity"],
        ),
        ({"constraints": {"budget": 1}}, ["body", "constraints", "budget"]),
        ({"failure_modes": []}, ["body", "failure_modes"]),
        (
            {"failure_modes": [{"failure_mode": "factual_staleness", "severity": 9}]},
            ["body", "failure_modes", 0, "severity"],
        ),
        ({"include_everything": True}, ["body", "include_everything"]),
    ],
)
def test_schema_errors_are_422_naming_the_field(
    client: TestClient, h: dict[str, str], dep: Any, body: dict[str, Any], loc: list[Any]
) -> None:
    r = _search(client, h, dep.id, **{"failure_modes": FMS, **body})
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == loc


def test_roles_and_organisations(client: TestClient, session: Session, dep: Any) -> None:
    body = {"failure_modes": FMS[:1]}
    assert client.post(URL.format(dep.id), json=body).status_code == 401
    for role, code in (("viewer", 403), ("governance", 403), ("product_lead", 403), ("admin", 200)):
        hh = api_headers(client, create_user(session, org="Acme", role=role).email)
        assert client.post(URL.format(dep.id), json=body, headers=hh).status_code == code, role
    stranger = api_headers(client, create_user(session, org="Other", role="admin").email)
    r = client.post(URL.format(dep.id), json=body, headers=stranger)
    assert r.status_code == 404
    assert "Deployment" not in r.text


@pytest.mark.usefixtures("inline_jobs")
def test_over_the_inline_limit_it_runs_as_a_job(
    client: TestClient, h: dict[str, str], dep: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(limits, "INLINE_MAX_SEARCH_STATES", 1)
    r = _search(client, h, dep.id, failure_modes=FMS[:1])
    assert r.status_code == 202, r.text
    job_url = r.headers["Location"]
    job = client.get(job_url, headers=h).json()
    assert job["status"] == "succeeded", job
    result = job["result"]
    assert result["pareto"]
    assert result["best"]["index"] is not None
    assert result["states_evaluated"] > 1


# ---- hosted options (issue 20 item 5) ------------------------------------------------------------
SERVING_ONLY = [{"failure_mode": "serving_cost", "severity": 3, "traffic_share": 1.0}]


def _cheap_price(client: TestClient, session: Session, arch: Any) -> None:
    """The organisation's own contract price for a hosted 8B model, low enough to undercut
    the self-hosted GPU-hours (the search must then show it on the frontier)."""
    admin = create_user(session, role="admin")  # same organisation as the architect
    r = client.put(
        "/api/v1/hosted-models/deepinfra_llama_3_1_8b/price",
        json={"input_per_m_usd": 0.001, "output_per_m_usd": 0.001, "note": "test contract"},
        headers=api_headers(client, admin.email),
    )
    assert r.status_code == 200, r.text


def test_include_hosted_finds_a_hosted_point_and_pii_raises_its_burden(
    client: TestClient, session: Session, h: dict[str, str], arch: Any
) -> None:
    _cheap_price(client, session, arch)
    plain = create_deployment(session, user=arch, requests_per_day=5_000, regulatory_flags=[])
    pii = create_deployment(session, user=arch, requests_per_day=5_000, regulatory_flags=["pii"])
    session.commit()
    off = _search(client, h, plain.id, failure_modes=SERVING_ONLY)
    assert off.status_code == 200, off.text
    assert off.json()["include_hosted"] is False
    assert all(p["hosted"] is None for p in off.json()["pareto"])
    assert all(
        not i["technique"].startswith("hosted:") for p in off.json()["pareto"] for i in p["items"]
    )
    burdens = {}
    for dep in (plain, pii):
        r = _search(client, h, dep.id, failure_modes=SERVING_ONLY, include_hosted=True)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["include_hosted"] is True
        hosted = [p for p in body["pareto"] if p["hosted"] is not None]
        assert hosted, "the cheap hosted API is on the frontier"
        cheap = next(
            p
            for p in hosted
            if p["hosted"]["key"] == "deepinfra_llama_3_1_8b" and p["hosted"]["kind"] == "move"
        )
        assert cheap["items"][0]["technique"] == "hosted:DeepInfra/Llama 3.1 8B"
        # tokens x the organisation's prices (the deployment's mix: 1,000 in, 200 out)
        assert cheap["monthly_cost_usd"] == pytest.approx(5_000 * 730 / 24 * 1200 * 0.001 / 1e6)
        # no published latency: unknown, and the deployment's SLOs are not claimed as met
        assert cheap["time_to_answer_p95_ms"] is None
        assert cheap["feasible"] is False
        assert (
            "no latency" in cheap["hosted"]["latency_source"]
            or "publishes no" in (cheap["hosted"]["latency_source"])
        )
        assert cheap["hosted"]["data_leaves_organisation"] is True
        burdens[dep.id] = cheap["governance_burden"]
        if dep is pii:
            assert {x["id"] for x in cheap["hosted"]["governance_risks"]} == {
                "LLM02:2025",
                "Data Privacy",
            }
            assert "LLM02:2025" in cheap["hosted"]["note"]
            assert "NIST AI 600-1" in cheap["hosted"]["note"]
        else:
            assert cheap["hosted"]["governance_risks"] == []
    assert burdens[pii.id] == burdens[plain.id] + 4


def test_include_hosted_without_latency_limits_can_be_recommended(
    client: TestClient, session: Session, h: dict[str, str], arch: Any
) -> None:
    _cheap_price(client, session, arch)
    dep = create_deployment(session, user=arch, requests_per_day=5_000, regulatory_flags=["pii"])
    session.commit()
    r = _search(
        client,
        h,
        dep.id,
        failure_modes=SERVING_ONLY,
        include_hosted=True,
        constraints={
            "ttft_p95_ms": None,
            "tpot_p95_ms": None,
            "time_to_answer_p95_ms": None,  # left out: the TTFT SLO, which no unknown latency meets
            "monthly_budget_usd": None,
        },
    )
    assert r.status_code == 200, r.text
    body = r.json()
    best = body["pareto"][body["best"]["index"]]
    assert best["hosted"] is not None
    assert best["feasible"]
    assert "data leaves the organisation" in body["best"]["why"]
    assert "unknown" in body["best"]["why"]


@pytest.mark.parametrize("bad", ["maybe", 3, [True], {"x": 1}])
def test_bad_include_hosted_is_422(
    client: TestClient, h: dict[str, str], dep: Any, bad: Any
) -> None:
    r = _search(client, h, dep.id, failure_modes=FMS, include_hosted=bad)
    assert r.status_code == 422
    assert "include_hosted" in r.text


@pytest.mark.usefixtures("inline_jobs")
def test_include_hosted_as_a_job_gives_the_same_hosted_points(
    client: TestClient,
    session: Session,
    h: dict[str, str],
    arch: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Over the inline limit the job re-reads include_hosted from the stored request and its
    result holds the same hosted points as the inline search."""
    _cheap_price(client, session, arch)
    dep = create_deployment(session, user=arch, requests_per_day=5_000, regulatory_flags=["pii"])
    session.commit()
    inline = _search(client, h, dep.id, failure_modes=SERVING_ONLY, include_hosted=True).json()
    monkeypatch.setattr(limits, "INLINE_MAX_SEARCH_STATES", 1)
    r = _search(client, h, dep.id, failure_modes=SERVING_ONLY, include_hosted=True)
    assert r.status_code == 202, r.text
    job = client.get(r.headers["Location"], headers=h).json()
    assert job["status"] == "succeeded", job
    result = job["result"]
    assert result["include_hosted"] is True

    def hosted(body: dict[str, Any]) -> list[tuple[Any, ...]]:
        return sorted(
            (
                p["hosted"]["key"],
                p["hosted"]["share"],
                p["monthly_cost_usd"],
                p["governance_burden"],
            )
            for p in body["pareto"]
            if p["hosted"]
        )

    assert hosted(result)
    assert hosted(result) == hosted(inline)
    # the job stores the API's 200 body: the same JSON (both made from the typed result by
    # PortfolioSearchOut), the time taken aside
    assert {k: v for k, v in result.items() if k != "elapsed_ms"} == {
        k: v for k, v in inline.items() if k != "elapsed_ms"
    }
    assert set(result["baseline"]) == {
        "monthly_cost_usd",
        "ttft_p95_ms",
        "tpot_p95_ms",
        "fits",
        "serving_fails",
    }
    point = next(p for p in result["pareto"] if p["hosted"])
    assert set(point["hosted"]) == {
        "key",
        "provider",
        "model",
        "kind",
        "share",
        "hosted_monthly_cost_usd",
        "self_hosted_monthly_cost_usd",
        "cached_share",
        "input_per_m_usd",
        "cached_input_per_m_usd",
        "output_per_m_usd",
        "latency_known",
        "latency_source",
        "data_leaves_organisation",
        "governance_risks",
        "governance_burden_added",
        "note",
    }
    assert {"framework", "id", "title", "rationale"} == set(point["hosted"]["governance_risks"][0])


def test_time_to_answer_defaults_to_the_ttft_slo_and_a_feasible_point_meets_its_slos(
    client: TestClient, h: dict[str, str], dep: Any
) -> None:
    """Walk-through: "cot + rag" with a 29 s time to answer was recommended as within the
    constraints, and its portfolio page then said it misses the SLOs. Left out, the time-to-answer
    limit is the deployment's TTFT SLO, as the portfolio evaluation holds it; the reply says so."""
    fms = [
        {"failure_mode": "complex_task_errors", "severity": 4, "traffic_share": 1.0},
        {"failure_mode": "factual_staleness", "severity": 3, "traffic_share": 0.4},
    ]
    r = _search(client, h, dep.id, failure_modes=fms, constraints={"monthly_budget_usd": None})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["constraints"]["time_to_answer_p95_ms"] == dep.ttft_slo_ms
    defaults = body["constraint_defaults"]
    assert "TTFT SLO" in defaults["time_to_answer_p95_ms"]
    assert "monthly_budget_usd" not in defaults  # given (as no limit)
    assert set(defaults) == {
        "ttft_p95_ms",
        "tpot_p95_ms",
        "time_to_answer_p95_ms",
        "governance_capacity",
    }
    slow = [
        p
        for p in body["pareto"]
        if p["time_to_answer_p95_ms"] is not None and p["time_to_answer_p95_ms"] > dep.ttft_slo_ms
    ]
    assert slow, "the frontier has a point answering slower than the TTFT SLO"
    assert not any(p["feasible"] for p in slow)
    feasible = [p for p in body["pareto"] if p["feasible"]]
    assert body["best"]["index"] is not None
    assert feasible
    for j, p in enumerate(feasible[:3]):
        made = client.post(
            "/api/v1/portfolios",
            json={"deployment_id": dep.id, "name": f"F{j}", "items": p["items"]},
            headers=h,
        )
        assert made.status_code == 201, made.text
        ev = client.get(f"/api/v1/portfolios/{made.json()['id']}/evaluation", headers=h).json()
        assert ev["meets_slo"] is True, (p["items"], ev["warnings"])
