"""The "Find the best portfolio" page (issue 20): defaults from the deployment and its latest
assessment, inline errors keeping what was typed, the frontier chart and table, a point saved with
the portfolio form, a search over the inline limit shown as a job with progress, role checks."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.jobs import limits
from app.portfolios.models import Portfolio
from tests.factories import (
    api_headers,
    create_deployment,
    create_user,
    csrf_from,
    figures_in,
    page_login,
)

URL = "/deployments/{}/portfolio-search"


@pytest.fixture
def dep(client: TestClient, session: Session) -> Any:
    user = create_user(session, role="architect")
    page_login(client, user.email)
    d = create_deployment(session, user=user, requests_per_day=300_000)
    session.commit()
    return d


def _post(client: TestClient, dep_id: int, **fields: Any) -> Any:
    page = client.get(URL.format(dep_id))
    data = {
        "csrftoken": csrf_from(page.text),
        "monthly_budget_usd": "5000",
        "ttft_p95_ms": "500",
        "tpot_p95_ms": "40",
        **fields,
    }
    return client.post(URL.format(dep_id), data=data)


def test_form_defaults_to_the_deployment(client: TestClient, dep: Any) -> None:
    r = client.get(URL.format(dep.id))
    assert r.status_code == 200
    assert 'name="monthly_budget_usd"' in r.text
    assert 'value="5000"' in r.text  # as typed, not 5000.0
    assert 'name="fm.factual_staleness.severity"' in r.text
    detail = client.get(f"/deployments/{dep.id}/portfolios-panel")  # the deployment page's panel
    assert f'href="/deployments/{dep.id}/portfolio-search"' in detail.text


def test_bad_input_is_inline_and_keeps_what_was_typed(client: TestClient, dep: Any) -> None:
    r = _post(client, dep.id, monthly_budget_usd="lots", **{"fm.factual_staleness.severity": "3"})
    assert r.status_code == 422
    assert "monthly budget usd: enter a number" in r.text
    r = _post(
        client,
        dep.id,
        **{"fm.factual_staleness.severity": "9", "fm.factual_staleness.share": "40"},
    )
    assert r.status_code == 422
    assert "factual staleness.severity" in r.text
    r = _post(client, dep.id)
    assert r.status_code == 422
    assert "give at least one failure mode a severity above 0" in r.text


def test_search_shows_frontier_and_a_point_saves_as_a_portfolio(
    client: TestClient, session: Session, dep: Any
) -> None:
    r = _post(
        client,
        dep.id,
        **{
            "fm.factual_staleness.severity": "3",
            "fm.factual_staleness.share": "40",
            "fm.domain_accuracy_gap.severity": "2",
        },
    )
    assert r.status_code == 200, r.text
    text = html.unescape(r.text)
    assert "Recommended" in text
    assert 'id="frontier"' in text
    # walk-through: "Today: $28,038/month" beside a deployment page showing $58,254 (the
    # provisioned bill); the search names its basis
    assert "Monthly (GPU-hours needed)" in text
    assert "in the GPU-hours the traffic needs" in text
    # the headline and the rows name techniques by the catalog, not by keys ("#6: rag, qlora")
    headline = re.search(r'<p class="verdict ok">(#\d+: [^<]*)</p>', text)
    assert headline is not None
    assert re.match(r"#\d+: [A-Z]", headline.group(1)), headline.group(1)
    assert "gpu_right_sizing" not in headline.group(1)
    table = text.split('id="frontier"', 1)[1].split("</table>", 1)[0]
    assert "Retrieval-augmented generation (RAG)" in table
    assert "gpu right sizing" not in table
    fig = next(f for f in figures_in(r.text) if "coverage" in f["layout"]["title"]["text"])
    names = [t["name"] for t in fig["data"]]
    assert "feasible" in names
    assert "recommended" in names
    # the first save form: the portfolio form's own fields
    form = re.search(
        r'<form method="post" action="/deployments/\d+/portfolios/new".*?</form>', r.text, re.S
    )
    assert form is not None
    fields = dict(re.findall(r'name="(name|csrftoken)"[^>]*value="([^"]*)"', form.group(0)))
    uses = re.findall(r'name="use" value="([^"]+)"', form.group(0))
    params = re.findall(r'name="(p\.[^"]+)" value="([^"]*)"', form.group(0))
    data: dict[str, Any] = {
        "csrftoken": fields["csrftoken"],
        "name": html.unescape(fields["name"]),
        "use": uses,
        **dict(params),
    }
    saved = client.post(f"/deployments/{dep.id}/portfolios/new", data=data, follow_redirects=False)
    assert saved.status_code in (302, 303), saved.text
    p = session.execute(select(Portfolio).where(Portfolio.deployment_id == dep.id)).scalar_one()
    assert [i["technique"] for i in p.items] == uses


@pytest.mark.usefixtures("inline_jobs")
def test_a_large_search_runs_as_a_job_with_progress(
    client: TestClient, dep: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(limits, "INLINE_MAX_SEARCH_STATES", 1)
    r = _post(client, dep.id, **{"fm.factual_staleness.severity": "3"})
    assert r.status_code == 202, r.text
    assert "runs as a job" in r.text
    job_id = re.search(r'id="job-(\d+)"', r.text)
    assert job_id is not None
    done = client.get(f"/deployments/{dep.id}/portfolio-search/jobs/{job_id.group(1)}")
    assert done.status_code == 200
    assert 'id="frontier"' in done.text


def test_viewers_cannot_search(client: TestClient, session: Session, dep: Any) -> None:
    viewer = create_user(session, role="viewer")
    page_login(client, viewer.email)
    assert client.get(URL.format(dep.id)).status_code == 403


def test_include_hosted_checkbox_shows_hosted_points(
    client: TestClient, session: Session, dep: Any
) -> None:
    """Issue 20 item 5: the page's "Include hosted APIs" box; hosted points say the data leaves
    the organisation, show unknown latency as such, and offer no portfolio save; a bad value is
    an inline error keeping what was typed."""
    page = client.get(URL.format(dep.id))
    assert 'name="include_hosted"' in page.text
    admin = create_user(session, role="admin")
    session.commit()
    r = client.put(
        "/api/v1/hosted-models/deepinfra_llama_3_1_8b/price",
        json={"input_per_m_usd": 0.001, "output_per_m_usd": 0.001},
        headers=api_headers(client, admin.email),
    )
    assert r.status_code == 200, r.text
    fm = {"fm.serving_cost.severity": "3", "fm.serving_cost.share": "100"}
    r = _post(client, dep.id, include_hosted="true", **fm)
    assert r.status_code == 200, r.text
    text = html.unescape(r.text)
    assert "hosted:DeepInfra/Llama 3.1 8B" in text
    assert "data leaves the organisation for DeepInfra" in text
    assert "a hosted API is not saved as a portfolio" in text
    off = html.unescape(_post(client, dep.id, **fm).text)
    assert "hosted:" not in off
    bad = _post(client, dep.id, include_hosted="maybe", **fm)
    assert bad.status_code == 422
    assert "include hosted" in bad.text


def test_recommended_point_saved_meets_its_slos_on_the_portfolio_page(
    client: TestClient, session: Session, dep: Any
) -> None:
    """Walk-through: with the form's defaults, "cot + rag" answering in 29 s was recommended as
    within the constraints, and its portfolio page said it misses the SLOs. The time-to-answer
    limit starts at the deployment's TTFT SLO, so the recommended point, saved, meets them."""
    page = client.get(URL.format(dep.id))
    field = page.text.split('name="time_to_answer_p95_ms"')[1].split(">")[0]
    prefilled = re.search(r'value="([^"]*)"', field)
    assert prefilled is not None
    assert float(prefilled.group(1)) == dep.ttft_slo_ms == 500
    data = {
        "csrftoken": csrf_from(page.text),
        "monthly_budget_usd": "",
        "ttft_p95_ms": "500",
        "tpot_p95_ms": "40",
        "time_to_answer_p95_ms": prefilled.group(1),  # as the form holds it
        "fm.complex_task_errors.severity": "4",
        "fm.complex_task_errors.share": "100",
        "fm.factual_staleness.severity": "3",
        "fm.factual_staleness.share": "40",
    }
    r = client.post(URL.format(dep.id), data=data)
    assert r.status_code == 200, r.text
    row = r.text.split('<tr class="recommended">')[1].split("</tr>")[0]
    form = re.search(
        r'<form method="post" action="/deployments/\d+/portfolios/new".*?</form>', row, re.S
    )
    assert form is not None  # the recommended point's save form
    fields = dict(re.findall(r'name="(name|csrftoken)"[^>]*value="([^"]*)"', form.group(0)))
    saved = client.post(
        f"/deployments/{dep.id}/portfolios/new",
        data={
            "csrftoken": fields["csrftoken"],
            "name": html.unescape(fields["name"]),
            "use": re.findall(r'name="use" value="([^"]+)"', form.group(0)),
            **dict(re.findall(r'name="(p\.[^"]+)" value="([^"]*)"', form.group(0))),
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303, saved.text
    detail = client.get(saved.headers["location"])
    assert 'class="verdict ok" id="slo-verdict">Meets the SLOs at p95' in detail.text


def test_unanswered_traffic_share_is_blank_and_counted_as_the_engine_does(
    client: TestClient, session: Session, dep: Any
) -> None:
    """Walk-through: a share left blank in the questionnaire was pre-filled as "0.0" (read as
    answered), printed as "all traffic" in the report and scored as 0 by the engine. The form
    leaves it blank and says a blank counts as 0, the engine's reading."""
    user = create_user(session, role="architect", email="second@example.com")
    h = api_headers(client, user.email)
    answers = [
        {"failure_mode": "factual_staleness", "severity": 3, "traffic_share": 0.4},
        {"failure_mode": "policy_noncompliance", "severity": 2},
    ]
    made = client.post(
        f"/api/v1/deployments/{dep.id}/assessments", json={"answers": answers}, headers=h
    )
    assert made.status_code == 201, made.text
    page = client.get(URL.format(dep.id))
    assert page.status_code == 200

    def value(name: str) -> str:
        field = page.text.split(f'name="{name}"')[1].split(">")[0]
        found = re.search(r'value="([^"]*)"', field)
        assert found is not None
        return found.group(1)

    assert value("fm.policy_noncompliance.share") == ""
    assert value("fm.policy_noncompliance.severity") == "2"
    assert value("fm.factual_staleness.share") == "40"  # percent, as the questionnaire took it
    assert "blank (not answered) counts as 0" in page.text
    r = client.post(
        f"/api/v1/deployments/{dep.id}/portfolio-search",
        json={"constraints": {"monthly_budget_usd": None}},
        headers=h,
    )
    assert r.status_code == 200, r.text
    shares = {f["failure_mode"]: f["traffic_share"] for f in r.json()["failure_modes"]}
    assert shares == {"factual_staleness": 0.4, "policy_noncompliance": 0.0}


def _htmx_rule(page: str, status: int) -> dict[str, Any]:
    """The rule htmx applies to an answer of this status: the first of base.html's
    ``responseHandling`` whose code (a regular expression) matches, as htmx does."""
    import json

    meta = re.search(r"<meta name=\"htmx-config\" content='([^']+)'>", page)
    assert meta is not None
    for rule in json.loads(meta.group(1))["responseHandling"]:
        if re.search(rule["code"], str(status)):
            return dict(rule)
    return {"swap": False}


def test_a_search_refused_while_a_job_runs_shows_the_reason(
    client: TestClient, dep: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Find pressed while the previous search job still runs: the 409's reason is swapped in
    (htmx swaps 409s like 422s), not replaced by a generic "the server answered 409" toast."""
    from app.errors import Conflict
    from app.portfolios import search_views

    reason = "your job 7 (portfolio_search) is still running; one heavy job per user at a time"

    def busy(*_: Any, **__: Any) -> Any:
        raise Conflict(reason)

    monkeypatch.setattr(search_views.search_service, "search", busy)
    r = _post(client, dep.id, **{"fm.factual_staleness.severity": "3"})
    assert r.status_code == 409
    assert f"Not started: {reason}" in html.unescape(r.text)
    assert "failure modes:" not in r.text  # not blamed on a field
    page = client.get(URL.format(dep.id)).text
    assert _htmx_rule(page, 409).get("swap") is True
    assert _htmx_rule(page, 422).get("swap") is True
    assert _htmx_rule(page, 500) == {"code": "[45]..", "swap": False, "error": True}


def test_the_page_takes_traffic_share_in_percent_like_the_questionnaire(
    client: TestClient, dep: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Review: the questionnaire takes percent (0.3 is 0.3 %), the search page took a 0-1 share.
    The page takes percent and sends the API its 0-1 share; the API stays 0-1."""
    from app.portfolios import search_views

    sent: list[Any] = []
    real = search_views.search_service.search

    def spy(session: Any, caller: Any, dep_id: int, req: Any) -> Any:
        sent.append(req)
        return real(session, caller, dep_id, req)

    monkeypatch.setattr(search_views.search_service, "search", spy)
    fields = {"fm.factual_staleness.severity": "3", "fm.factual_staleness.share": "0.3"}
    assert _post(client, dep.id, **fields).status_code == 200
    assert sent[-1].failure_modes[0].traffic_share == pytest.approx(0.003)
    fields["fm.factual_staleness.share"] = "40"
    assert _post(client, dep.id, **fields).status_code == 200
    assert sent[-1].failure_modes[0].traffic_share == pytest.approx(0.4)
    for bad in ("150", "-1", "abc", "inf"):
        fields["fm.factual_staleness.share"] = bad
        r = _post(client, dep.id, **fields)
        assert r.status_code == 422, bad
        assert "enter a percentage between 0 and 100" in r.text
    assert "Traffic share in percent" in client.get(URL.format(dep.id)).text


def test_find_pressed_twice_keeps_the_running_search_on_the_page(
    client: TestClient, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Walk-through: a second Find while this deployment's search job still ran swapped the 409
    in over the job's progress card, so the page stopped polling and the frontier never came.
    The 409 now keeps the running job's card (and its polling) under a reason meant for a page."""
    from app.errors import Conflict
    from app.jobs.models import Job
    from app.portfolios import search_views

    user = create_user(session, role="architect")
    page_login(client, user.email)
    d = create_deployment(session, user=user, requests_per_day=300_000)
    job = Job(
        org_id=d.org_id,
        kind="portfolio_search",
        status="running",
        progress=40,
        message="simulating",
        params={"deployment_id": d.id, "candidates": 12_000, "states": 900},
        created_by=user.email,
    )
    session.add(job)
    session.commit()

    def busy(*_: Any, **__: Any) -> Any:
        raise Conflict(f"your job {job.id} is still running (GET /api/v1/jobs/{job.id})")

    monkeypatch.setattr(search_views.search_service, "search", busy)
    r = _post(client, d.id, **{"fm.factual_staleness.severity": "3"})
    assert r.status_code == 409
    text = html.unescape(r.text)
    assert f"Not started: your search (job {job.id}) is still running" in text
    assert "/api/v1/jobs" not in text  # an API path means nothing on a page
    poll = f'hx-get="/deployments/{d.id}/portfolio-search/jobs/{job.id}"'
    assert poll in r.text  # the card still polls: the frontier appears when the job is done
