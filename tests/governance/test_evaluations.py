"""Disaggregated evaluations: a segment that regresses while the aggregate improves is flagged,
high-risk first (seed 000 §6); the API records it (governance and admin only; 422s write
nothing)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.governance.models import SegmentEvaluation
from app.governance.regressions import EvaluationError, Result, analyse
from tests.factories import api_headers, create_deployment, create_user
from tests.rendering import Renders


def rows(metric: str, data: dict[str, tuple[float, float]], hib: bool = True) -> list[Result]:
    out = []
    for seg, (before, after) in data.items():
        out += [
            Result(seg, metric, "before", before, hib),
            Result(seg, metric, "after", after, hib),
        ]
    return out


RISK = {"EU": "high", "US": "low", "German": "medium"}


def test_a_hidden_regression_on_a_high_risk_segment_comes_first() -> None:
    a = analyse(
        rows("accuracy", {"US": (0.80, 0.90), "EU": (0.85, 0.80), "German": (0.70, 0.69)}), RISK
    )
    assert a.aggregate["before"]["accuracy"] == pytest.approx((0.80 + 0.85 + 0.70) / 3)
    assert a.aggregate["after"]["accuracy"] > a.aggregate["before"]["accuracy"]
    assert [(r.segment, r.risk, r.hidden) for r in a.regressions] == [
        ("EU", "high", True),
        ("German", "medium", True),
    ]
    assert a.regressions[0].change == pytest.approx(-0.05)


def test_tolerance_direction_and_a_named_aggregate() -> None:
    data = rows("latency_ms", {"all": (300, 250), "EU": (280, 300), "US": (320, 200)}, hib=False)
    a = analyse(data, RISK, tolerance=25)
    assert a.aggregate["after"]["latency_ms"] == 250  # the "all" row, not a mean
    assert a.regressions == []  # EU got 20 ms slower: within the 25 ms tolerance
    a = analyse(data, RISK, tolerance=10)
    assert [(r.segment, r.change, r.hidden) for r in a.regressions] == [("EU", -20, True)]


def test_a_regression_when_the_aggregate_also_fell_is_not_hidden() -> None:
    a = analyse(rows("f1", {"US": (0.9, 0.8), "EU": (0.9, 0.85)}), RISK)
    assert all(not r.hidden for r in a.regressions)
    assert len(a.regressions) == 2


@pytest.mark.parametrize(
    ("results", "field"),
    [
        ([Result("EU", "acc", "before", 1.0)], "results"),
        ([Result("EU", "acc", "before", 1.0), Result("EU", "acc", "before", 2.0)], "results[1]"),
        (
            [Result("EU", "acc", "before", 1.0, True), Result("EU", "acc", "after", 2.0, False)],
            "results[1].higher_is_better",
        ),
    ],
)
def test_incomplete_or_contradictory_results_are_refused(results: list, field: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(EvaluationError) as e:
        analyse(results, RISK)
    assert e.value.field == field


@pytest.fixture
def ctx(client: TestClient, session: Session) -> dict[str, Any]:
    admin = create_user(session, role="admin")
    dep = create_deployment(session, user=admin)  # segments EU (high), US (low)
    session.commit()
    gov = create_user(session, org="Acme", role="governance")
    lead = create_user(session, org="Acme", role="product_lead")
    return {
        "dep": dep.id,
        "gov": api_headers(client, gov.email),
        "lead": api_headers(client, lead.email),
    }


def _body(**kw: Any) -> dict[str, Any]:
    results = []
    for seg, (b, a) in {"EU": (0.85, 0.80), "US": (0.80, 0.92)}.items():
        for phase, value in (("before", b), ("after", a)):
            results.append({"segment": seg, "metric": "accuracy", "phase": phase, "value": value})
    return {"label": "RAG pilot", "results": results, **kw}


def test_api_records_and_flags(client: TestClient, session: Session, ctx: dict) -> None:  # type: ignore[type-arg]
    r = client.post(
        f"/api/v1/deployments/{ctx['dep']}/evaluations", json=_body(), headers=ctx["gov"]
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["aggregate"] == {"before": {"accuracy": 0.825}, "after": {"accuracy": 0.86}}
    assert body["regressions"] == [
        {
            "segment": "EU",
            "metric": "accuracy",
            "before": 0.85,
            "after": 0.8,
            "change": -0.05,
            "risk": "high",
            "hidden": True,
        }
    ]
    listed = client.get(f"/api/v1/deployments/{ctx['dep']}/evaluations", headers=ctx["lead"])
    assert [e["id"] for e in listed.json()] == [body["id"]]


@pytest.mark.parametrize(
    ("body", "who", "status"),
    [
        (_body(), "lead", 403),
        (_body(tolerance=-1), "gov", 422),
        ({"label": "x", "results": _body()["results"][:3]}, "gov", 422),
        ({**_body(), "results": [{**_body()["results"][0], "phase": "during"}] * 2}, "gov", 422),
        ({"label": "", "results": _body()["results"]}, "gov", 422),
    ],
)
def test_bad_evaluations_write_nothing(
    client: TestClient,
    session: Session,
    ctx: dict,
    body: dict,
    who: str,
    status: int,  # type: ignore[type-arg]
) -> None:
    r = client.post(f"/api/v1/deployments/{ctx['dep']}/evaluations", json=body, headers=ctx[who])
    assert r.status_code == status, r.text
    assert session.execute(select(func.count()).select_from(SegmentEvaluation)).scalar_one() == 0


def test_evaluation_pages(
    client: TestClient,
    session: Session,
    ctx: dict,  # type: ignore[type-arg]
    rendered: Renders,
) -> None:
    from tests.factories import csrf_from, figures_in, page_login

    page_login(client, create_user(session, org="Acme", role="governance").email)
    page = client.get(f"/deployments/{ctx['dep']}/evaluations")
    assert page.status_code == 200
    listing = rendered.last()
    assert listing.template == "governance/evaluations.html"
    assert listing.context["deployment"].id == ctx["dep"]
    assert list(listing.context["evaluations"]) == []
    assert (listing.context["values"], listing.context["errors"]) == ({"tolerance": "0"}, {})
    assert "Record an evaluation" in page.text
    token = csrf_from(page.text)
    csv_text = (
        "segment,metric,phase,value\nEU,accuracy,before,0.85\nEU,accuracy,after,0.80\n"
        "US,accuracy,before,0.80\nUS,accuracy,after,0.92\n"
    )
    bad = client.post(
        f"/deployments/{ctx['dep']}/evaluations",
        data={
            "csrftoken": token,
            "label": "pilot",
            "tolerance": "0",
            "results_csv": csv_text + "EU,accuracy,after,high\n",
        },
    )
    assert bad.status_code == 422
    failed = rendered.last()
    assert (failed.template, failed.status_code) == ("governance/evaluations.html", 422)
    assert list(failed.context["errors"]) == ["results_csv"]
    assert failed.context["values"]["label"] == "pilot"  # what was typed stays
    assert "is not a number" in bad.text
    assert "pilot" in bad.text
    r = client.post(
        f"/deployments/{ctx['dep']}/evaluations",
        data={"csrftoken": token, "label": "pilot", "tolerance": "0", "results_csv": csv_text},
        follow_redirects=True,
    )
    assert r.status_code == 200
    shown = rendered.last()
    assert shown.template == "governance/evaluation.html"
    assert shown.context["ev"].label == "pilot"
    assert shown.context["analysis"] == shown.context["ev"].analysis
    assert list(shown.context["figures"]) == ["accuracy"]
    assert shown.context["flash"]["message"] == "Evaluation recorded."
    assert "The aggregate improved while a high-risk segment regressed" in r.text
    (fig,) = figures_in(r.text)
    assert fig["data"][1]["marker"]["line"]["width"] == [3, 0]  # EU outlined, US not
