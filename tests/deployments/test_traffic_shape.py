"""Traffic with a shape (issue 18 item 2): peak sizing, the economics endpoint, the form's CSV."""

from __future__ import annotations

import html
import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.deployments import service as deployments
from app.deployments.schemas import DeploymentEconomics
from app.estimates.service import deployment_serving_plan
from app.estimators.traffic import (
    DEFAULT_PEAK_TO_AVERAGE,
    TrafficError,
    parse_hourly_csv,
    plan_traffic,
    shape_of,
)
from tests.factories import (
    api_headers,
    caller_for,
    create_user,
    csrf,
    deployment_payload,
    page_login,
)

# A business-hours day: all traffic between 09:00 and 17:00 (peak / mean = 24 / 8 = 3).
BUSINESS_HOURS = [0.0] * 9 + [1.0] * 8 + [0.0] * 7
# 10 requests/s on average: more than a third of one replica's rate, less than all of it.
HEAVY = 864_000

FIELDS = (
    "requests_per_s_average requests_per_s_peak replicas gpu_hours_per_month monthly_cost_usd "
    "cost_per_1k_requests_usd ttft_p95_ms tpot_p95_ms time_to_answer_p95_ms meets_slos "
    "within_budget price_source"
).split()


@pytest.fixture
def lead(session: Session):  # type: ignore[no-untyped-def]
    return create_user(session, role="product_lead")


@pytest.fixture
def h(client: TestClient, lead) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return api_headers(client, lead.email)


def _create(client: TestClient, h: dict[str, str], **kw: object) -> dict:  # type: ignore[type-arg]
    r = client.post("/api/v1/deployments", json=deployment_payload(**kw), headers=h)
    assert r.status_code == 201, r.text
    return r.json()


def _econ(client: TestClient, h: dict[str, str], dep_id: int) -> dict:  # type: ignore[type-arg]
    r = client.get(f"/api/v1/deployments/{dep_id}/economics", headers=h)
    assert r.status_code == 200, r.text
    return r.json()


# --- pure -------------------------------------------------------------------------------


def test_business_hours_profile_needs_more_replicas_than_the_average() -> None:
    flat = plan_traffic(shape_of(1.0, None), HEAVY, 15.0, 1)
    shaped = plan_traffic(shape_of(None, BUSINESS_HOURS), HEAVY, 15.0, 1)
    assert flat.replicas == 1  # 10 req/s on a 15 req/s replica
    assert shaped.requests_per_s_peak == pytest.approx(30.0)
    assert shaped.replicas == 2
    # Whole replicas per hour: 2 in the 8 busy hours, 1 kept warm in the 16 others.
    assert shaped.hourly_replicas == tuple([1] * 9 + [2] * 8 + [1] * 7)
    assert shaped.gpu_hours_per_month == pytest.approx((8 * 2 + 16 * 1) * 730 / 24)
    # Without a profile the peak's replicas run all month.
    assert plan_traffic(shape_of(3.0, None), HEAVY, 15.0, 2).gpu_hours_per_month == 2 * 2 * 730


def test_default_shape_is_documented() -> None:
    s = shape_of(None, None)
    assert s.peak_to_average == DEFAULT_PEAK_TO_AVERAGE == 2.0
    assert "assumption" in s.source
    assert "economics.md" in s.source


def test_csv_of_counts_per_hour() -> None:
    text = "hour,requests\n" + "\n".join(f"{h},{100 if 9 <= h < 17 else 0}" for h in range(24))
    assert parse_hourly_csv(text) == [100.0 if 9 <= h < 17 else 0.0 for h in range(24)]
    one_column = "\n".join(str(h) for h in range(1, 25))
    assert parse_hourly_csv(one_column) == [float(h) for h in range(1, 25)]


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("0,1\n1,2", "missing"),
        # the header-like first row is skipped: the error names the text's line 2 and its content
        ("\n".join(f"{h},x" for h in range(24)), r"line 2 \(1,x\)"),
        (
            "hour,requests\n\n" + "\n".join(f"{h},{h}" for h in range(23)) + "\n23,lots",
            r"line 26 \(23,lots\)",
        ),
        ("\n".join(f"{h % 23},1" for h in range(24)), "twice"),
        ("\n".join(f"{h + 1},1" for h in range(24)), "0 to 23"),
        ("\n".join(f"{h},0" for h in range(24)), "positive sum"),
        ("\n".join(f"{h},-1" for h in range(24)), "non-negative"),
    ],
)
def test_bad_csv_is_refused_with_a_reason(text: str, needle: str) -> None:
    with pytest.raises(TrafficError, match=needle):
        parse_hourly_csv(text)


# --- API --------------------------------------------------------------------------------


def test_economics_contract_with_the_default_shape(client: TestClient, h: dict[str, str]) -> None:
    dep = _create(client, h)
    assert dep["peak_to_average"] is None
    assert dep["hourly_profile"] is None
    e = _econ(client, h, dep["id"])
    assert set(FIELDS) <= set(e)
    assert e["requests_per_s_average"] == pytest.approx(10_000 / 86400)
    assert e["requests_per_s_peak"] == pytest.approx(2 * 10_000 / 86400)
    assert "assumption" in e["peak_to_average_source"]
    assert e["replicas"] == 1
    assert e["meets_slos"] is True
    assert e["gpu_hours_per_month"] == pytest.approx(730.0)
    assert e["monthly_cost_usd"] == pytest.approx(730.0 * 3.99)  # H100 SXM at $3.99 (default)
    assert e["cost_per_1k_requests_usd"] == pytest.approx(730 * 3.99 / (10_000 * 730 / 24) * 1000)
    assert e["within_budget"] is True
    assert e["price_source"].startswith("shipped default:")  # no organisation price set
    assert e["ttft_p95_ms"] <= 500
    assert e["tpot_p95_ms"] <= 40
    assert e["time_to_answer_p95_ms"] == e["ttft_p95_ms"]
    assert "no calibration" in e["assumptions"]["engine_profile"]


def test_peak_sizing_on_the_endpoint(client: TestClient, h: dict[str, str]) -> None:
    flat = _econ(client, h, _create(client, h, requests_per_day=HEAVY, peak_to_average=1)["id"])
    shaped_dep = _create(client, h, requests_per_day=HEAVY, hourly_profile=BUSINESS_HOURS)
    shaped = _econ(client, h, shaped_dep["id"])
    assert shaped["peak_to_average"] == pytest.approx(3.0)
    assert shaped["requests_per_s_peak"] == pytest.approx(3 * flat["requests_per_s_average"])
    assert shaped["replicas"] > flat["replicas"]
    assert max(shaped["hourly_replicas"]) == shaped["replicas"]
    assert shaped["gpu_hours_per_month"] == pytest.approx(sum(shaped["hourly_replicas"]) * 730 / 24)
    # Planned for the peak, the shaped deployment still meets its p95 SLOs.
    assert shaped["meets_slos"] is True
    assert shaped["tpot_p95_ms"] <= 40


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"peak_to_average": 0.5}, "peak_to_average"),
        ({"peak_to_average": 100}, "peak_to_average"),
        ({"hourly_profile": [1.0] * 23}, "hourly_profile"),
        ({"hourly_profile": [1.0] * 23 + [-1.0]}, "hourly_profile"),
        ({"hourly_profile": [0.0] * 24}, "hourly_profile"),
        ({"hourly_profile": ["a"] * 24}, "hourly_profile"),
        ({"peak_to_average": 2, "hourly_profile": [1.0] * 24}, "hourly_profile"),
    ],
)
def test_bad_shape_is_422_naming_the_field(
    client: TestClient, h: dict[str, str], patch: dict[str, object], field: str
) -> None:
    r = client.post("/api/v1/deployments", json=deployment_payload(**patch), headers=h)
    assert r.status_code == 422, r.text
    assert field in str(r.json())
    dep = _create(client, h)
    r = client.patch(f"/api/v1/deployments/{dep['id']}", json=patch, headers=h)
    assert r.status_code == 422, r.text
    assert field in str(r.json())


def test_patch_one_shape_clears_the_other(client: TestClient, h: dict[str, str]) -> None:
    dep = _create(client, h, hourly_profile=BUSINESS_HOURS)
    r = client.patch(f"/api/v1/deployments/{dep['id']}", json={"peak_to_average": 1.5}, headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["peak_to_average"] == 1.5
    assert r.json()["hourly_profile"] is None
    r = client.patch(f"/api/v1/deployments/{dep['id']}", json={"peak_to_average": None}, headers=h)
    assert r.status_code == 200
    assert r.json()["peak_to_average"] is None
    assert _econ(client, h, dep["id"])["peak_to_average"] == DEFAULT_PEAK_TO_AVERAGE


def test_unpriced_gpu_gives_null_money_with_a_reason(
    client: TestClient,
    h: dict[str, str],
    session: Session,
    lead,  # type: ignore[no-untyped-def]
) -> None:
    # Every shipped GPU has a default price (issue 18); a platform operator withdrew the L4's.
    from app.catalog.models import Gpu

    l4 = session.get(Gpu, "l4")
    assert l4 is not None
    assert l4.price_per_hour_usd is not None
    l4.price_per_hour_usd, l4.price_source = None, ""
    session.flush()
    dep = _create(client, h, gpu="l4", mean_input_tokens=500, tpot_slo_ms=150, ttft_slo_ms=2000)
    e = _econ(client, h, dep["id"])
    assert e["replicas"] is not None
    assert e["gpu_hours_per_month"] > 0
    for k in ("monthly_cost_usd", "cost_per_1k_requests_usd", "within_budget"):
        assert e[k] is None
        assert "unpriced" in e["reasons"][k]
    assert e["price_source"].startswith("unpriced")
    assert "/catalog/gpus" in e["price_source"]
    page_login(client, lead.email)
    panel = client.get(f"/deployments/{dep['id']}/serving-cost")  # the deployment page's panel
    assert panel.status_code == 200
    assert "not computed: unpriced" in panel.text
    page = client.get(f"/deployments/{dep['id']}")
    # the page says who can set a price: a product lead is sent to an organisation admin
    assert "an organisation admin can set your organisation's price" in page.text
    assert 'href="/catalog/gpus"' in page.text


def test_unmeetable_slo_gives_null_capacity_with_a_reason(
    client: TestClient,
    h: dict[str, str],
    lead,  # type: ignore[no-untyped-def]
) -> None:
    # An 8B model on one L4 reads ~16 GB of bf16 weights per token from 300 GB/s of memory: no
    # decode step is under ~53 ms (the physical bound), so a 40 ms TPOT SLO fails at any rate.
    dep = _create(client, h, gpu="l4", mean_input_tokens=500, tpot_slo_ms=40, ttft_slo_ms=2000)
    e = _econ(client, h, dep["id"])
    assert e["meets_slos"] is False
    for k in ("replicas", "gpu_hours_per_month", "ttft_p95_ms", "time_to_answer_p95_ms"):
        assert e[k] is None
        assert "p95" in e["reasons"][k]
    assert e["monthly_cost_usd"] is None
    assert e["reasons"]["monthly_cost_usd"]
    page_login(client, lead.email)
    page = client.get(f"/deployments/{dep['id']}/serving-cost")  # the deployment page's panel
    assert page.status_code == 200
    assert "Misses the SLOs (p95, at the peak)" in page.text


def test_other_orgs_deployment_is_404(client: TestClient, session: Session, h) -> None:  # type: ignore[no-untyped-def]
    dep = _create(client, h)
    other = create_user(session, role="viewer", org="Other org")
    r = client.get(
        f"/api/v1/deployments/{dep['id']}/economics", headers=api_headers(client, other.email)
    )
    assert r.status_code == 404


# --- one computation ----------------------------------------------------------------------


def test_page_endpoint_and_estimator_are_one_computation(
    client: TestClient,
    session: Session,
    lead,
    h: dict[str, str],  # type: ignore[no-untyped-def]
) -> None:
    dep = _create(client, h, requests_per_day=HEAVY, peak_to_average=1)
    endpoint = _econ(client, h, dep["id"])
    obj = deployments.get(session, caller_for(session, lead), dep["id"])
    direct = DeploymentEconomics.model_validate(deployment_serving_plan(session, obj))
    assert direct.model_dump(mode="json") == endpoint
    # The page shows the same figures.
    page_login(client, lead.email)
    page = client.get(f"/deployments/{dep['id']}/serving-cost").text  # the page's panel
    shown = dict(re.findall(r'data-econ="(\w+)">([^<]*)<', page))
    assert shown["replicas"] == str(endpoint["replicas"])
    assert shown["monthly_cost_usd"] == f"${endpoint['monthly_cost_usd']:,.0f}"
    assert html.unescape(shown["gpu_hours_per_month"]) == f"{endpoint['gpu_hours_per_month']:,.0f}"
    # The estimator plans the same configuration with the same planner (peak = average here).
    est = client.post(
        "/api/v1/estimates/inference",
        json={
            "model": "llama_3_1_8b",
            "gpu": "h100_sxm_80gb",
            "input_tokens": 1000,
            "output_tokens": 200,
            "requests_per_day": HEAVY,
            "ttft_slo_ms": 500,
            "tpot_slo_ms": 40,
        },
        headers=h,
    ).json()["capacity"]
    assert est["max_rate_per_replica"] == endpoint["max_requests_per_s_per_replica"]
    assert est["replicas"] == endpoint["replicas"]
    assert est["monthly_cost_usd"] == endpoint["monthly_cost_usd"]


# --- the form ------------------------------------------------------------------------------


def _form(client: TestClient, **kw: str) -> dict[str, str]:
    p = deployment_payload()
    base = {k: str(v) for k, v in p.items() if k not in ("regulatory_flags", "segments")}
    return {"csrftoken": csrf(client, "/deployments/new"), **base, "segments": "", **kw}


def test_form_imports_a_csv_of_counts_per_hour(
    client: TestClient,
    session: Session,
    lead,  # type: ignore[no-untyped-def]
) -> None:
    page_login(client, lead.email)
    text = "hour,requests\n" + "\n".join(f"{h},{50 if 9 <= h < 17 else 0}" for h in range(24))
    r = client.post("/deployments/new", data=_form(client, hourly_csv=text), follow_redirects=False)
    assert r.status_code == 303, r.text
    dep_id = int(r.headers["location"].rsplit("/", 1)[1])
    dep = deployments.get(session, caller_for(session, lead), dep_id)
    assert dep.hourly_profile == [50.0 if 9 <= h < 17 else 0.0 for h in range(24)]
    edit = client.get(f"/deployments/{dep_id}/edit").text
    assert "0, 0, 0, 0, 0, 0, 0, 0, 0, 50, 50" in edit


def test_form_bad_csv_is_an_inline_error_keeping_what_was_typed(
    client: TestClient,
    lead,  # type: ignore[no-untyped-def]
) -> None:
    page_login(client, lead.email)
    r = client.post("/deployments/new", data=_form(client, hourly_csv="0,10\n1,oops"))
    assert r.status_code == 422
    assert "line 2 (1,oops)" in r.text  # the error names the line and what it holds
    assert "0,10\n1,oops</textarea>" in r.text  # what was typed is kept
    r = client.post("/deployments/new", data=_form(client, peak_to_average="0.5"))
    assert r.status_code == 422
    assert 'id="peak_to_average-error"' in r.text
    assert 'value="0.5"' in r.text


def test_the_estimator_link_plans_the_deployment_at_its_peak(
    client: TestClient, session: Session
) -> None:
    """Issue 18 item 2: the deployment page, the estimator page and the economics endpoint are
    one computation. The page's "Open in the estimator" sized replicas for the 24-hour mean
    (and said so); it now carries the deployment's peak-to-average, and the estimator's plan
    has the page's replicas and monthly cost."""
    lead = create_user(session, role="product_lead")
    h = api_headers(client, lead.email)
    payload = deployment_payload(requests_per_day=2_000_000, peak_to_average=3)
    r = client.post("/api/v1/deployments", headers=h, json=payload)
    assert r.status_code == 201, r.text
    econ = client.get(f"/api/v1/deployments/{r.json()['id']}/economics", headers=h).json()
    page_login(client, lead.email)
    page = client.get(f"/deployments/{r.json()['id']}/serving-cost").text  # its panel
    link = re.search(r'<a href="(/estimates\?[^"]+)">Open in the estimator</a>', page)
    assert link is not None
    assert "peak_to_average=3" in link.group(1)
    assert "24-hour average" not in page
    est = html.unescape(client.get(html.unescape(link.group(1))).text)  # as a browser follows it
    assert "sized for a peak 3.00× the mean" in est
    reps = re.search(r"<dt>Replicas</dt><dd>(\d+) × 1 GPU</dd>", est)
    assert reps is not None
    assert int(reps.group(1)) == econ["replicas"] > 1
    assert f"{econ['monthly_cost_usd']:,.0f}" in est
    # and a peak below 1 is refused, naming the field
    url = html.unescape(link.group(1))
    bad = client.get(url.replace("peak_to_average=3", "peak_to_average=0.5"))
    assert 'id="peak_to_average-error"' in bad.text
