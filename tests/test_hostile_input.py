"""Hostile input: each gets a clear 4xx and leaves the database unchanged."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.assessments.models import Assessment
from app.audit.models import AuditEvent
from app.deployments.models import Deployment
from app.portfolios.models import Portfolio
from app.rulesets.models import RuleSetVersion
from tests.factories import (
    api_headers,
    create_deployment,
    create_user,
    csrf,
    deployment_payload,
    page_login,
)


def _counts(session: Session) -> tuple[int, ...]:
    session.expire_all()
    return tuple(
        session.scalar(select(func.count()).select_from(m)) or 0
        for m in (Deployment, Assessment, Portfolio, AuditEvent, RuleSetVersion)
    )


@pytest.fixture
def admin(client: TestClient, session: Session) -> dict[str, str]:
    user = create_user(session, role="admin")
    session.commit()
    return api_headers(client, user.email)


def _post_raw(client: TestClient, path: str, raw: str | bytes, headers: dict[str, str]) -> Any:
    return client.post(path, content=raw, headers={**headers, "Content-Type": "application/json"})


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", "bad\u0000name"),
        ("use_case", "\ud800 lone surrogate"),
        ("name", "x" * 5000),
    ],
)
def test_unstorable_or_oversized_text_is_422_naming_the_field(
    client: TestClient, session: Session, admin: dict[str, str], field: str, value: str
) -> None:
    before = _counts(session)
    body = json.dumps(deployment_payload(**{field: value}))  # \u escapes survive json.dumps
    r = _post_raw(client, "/api/v1/deployments", body, admin)
    assert r.status_code == 422, r.text
    assert field in json.dumps(r.json()["detail"])
    assert _counts(session) == before


def test_nul_in_a_form_field_is_422_on_pages(client: TestClient, session: Session) -> None:
    user = create_user(session, role="product_lead")
    page_login(client, user.email)
    before = _counts(session)
    form = deployment_payload(name="Null\x00byte")
    form["segments"] = ""
    r = client.post("/deployments/new", data={"csrftoken": csrf(client), **form})
    assert r.status_code == 422
    assert "NUL" in r.text
    assert "Traceback" not in r.text
    assert _counts(session) == before


def test_deeply_nested_json_is_refused(
    client: TestClient, session: Session, admin: dict[str, str]
) -> None:
    before = _counts(session)
    for depth in (50, 100_000):
        nested = '{"name": ' + "[" * depth + "]" * depth + "}"
        r = _post_raw(client, "/api/v1/deployments", nested, admin)
        assert 400 <= r.status_code < 500, (depth, r.status_code)
    assert _counts(session) == before


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("requests_per_day", -5),
        ("n_gpus", 0),
        ("n_gpus", 10**30),
        ("monthly_budget_usd", 1e308),
        ("mean_input_tokens", 1.5),
        ("ttft_slo_ms", "NaN"),
        ("tpot_slo_ms", "Infinity"),
    ],
)
def test_numeric_extremes_are_422(
    client: TestClient, session: Session, admin: dict[str, str], field: str, value: object
) -> None:
    before = _counts(session)
    raw = json.dumps(deployment_payload(**{field: 1}))
    literal = value if isinstance(value, str) else json.dumps(value)
    raw = raw.replace(f'"{field}": 1', f'"{field}": {literal}')
    r = _post_raw(client, "/api/v1/deployments", raw, admin)
    assert r.status_code == 422, (field, value, r.text)
    assert _counts(session) == before


@pytest.mark.parametrize("path", ["/api/v1/deployments/99999999999999999999",
                                  "/api/v1/deployments/-1", "/api/v1/portfolios/0",
                                  "/api/v1/jobs/2147483648"])  # fmt: skip
def test_ids_outside_the_column_range_are_refused_without_a_query(
    client: TestClient, admin: dict[str, str], path: str
) -> None:
    r = client.get(path, headers=admin)
    assert r.status_code in {404, 422}, r.text


def test_sql_metacharacters_are_data(
    client: TestClient, session: Session, admin: dict[str, str]
) -> None:
    name = "x'); DROP TABLE deployments; --"
    r = client.post("/api/v1/deployments", json=deployment_payload(name=name), headers=admin)
    assert r.status_code == 201, r.text
    got = client.get(f"/api/v1/deployments/{r.json()['id']}", headers=admin).json()
    assert got["name"] == name
    assert client.get("/api/v1/deployments", headers=admin).json()["total"] >= 1


SCRIPT = "<script>alert(1)</script><img src=x onerror=alert(2)>"


def test_html_in_text_fields_is_escaped_in_pages_reports_and_csv(
    client: TestClient, session: Session
) -> None:
    user = create_user(session, role="admin")
    dep = create_deployment(session, user=user, name=f"Dep {SCRIPT}",
                            use_case=f"=HYPERLINK(\"http://x\") {SCRIPT}")  # fmt: skip
    session.commit()
    page_login(client, user.email)
    for path in (f"/deployments/{dep.id}", "/deployments", f"/deployments/{dep.id}/report"):
        html = client.get(path).text
        assert SCRIPT not in html, path
        assert "&lt;script&gt;" in html, path
    headers = api_headers(client, user.email)
    report = client.get(f"/api/v1/deployments/{dep.id}/report?format=csv", headers=headers)
    rows = list(csv.reader(io.StringIO(report.text)))
    assert all(not cell.startswith(("=", "+", "-", "@")) for row in rows[:-1] for cell in row)


def test_rule_set_upload_cannot_smuggle_code(
    client: TestClient, session: Session, admin: dict[str, str]
) -> None:
    before = _counts(session)
    for payload in (
        "!!python/object/apply:os.system ['touch /tmp/axisboard-pwned']",
        "version: 2\nrules:\n  - id: x\n"
        "    when: {fact: __import__('os').system('id'), op: eq, value: 1}\n"
        "    then: {recommend: {failure_mode: factual_staleness, axis: retrieval,"
        " technique: rag}}\n",
        "rules: !!python/name:os.system\n",
    ):
        r = client.post("/api/v1/rules", json={"yaml": payload, "note": "x"}, headers=admin)
        assert r.status_code == 422, r.text
        v = client.post("/api/v1/rules/validate", json={"yaml": payload}, headers=admin)
        assert v.status_code in {200, 422}
        if v.status_code == 200:
            assert v.json()["valid"] is False
    assert _counts(session) == before


def test_malformed_csv_uploads_to_the_lab_are_422_inline(
    client: TestClient, session: Session
) -> None:
    user = create_user(session, role="architect")
    page_login(client, user.email)
    token = csrf(client, "/scaling/fit")
    for bad in ("\x00\x01\x02", "params,tokens,loss\n" + "1,2\n" * 3, "a" * 10_000,
                "params,tokens,loss\n1e9,1e10,=cmd|' /C calc'!A0\n"):  # fmt: skip
        r = client.post("/scaling/fit", data={"csrftoken": token, "runs_csv": bad})
        assert r.status_code == 422, (bad[:20], r.status_code)
        assert "Traceback" not in r.text


def test_path_tricks_in_file_names_do_not_escape(client: TestClient, session: Session) -> None:
    user = create_user(session, role="admin")
    page_login(client, user.email)
    for path in (
        "/static/../app/config.py",
        "/static/%2e%2e/app/config.py",
        "/static/..%2f..%2fetc/passwd",
        "/static/vendor/..%2f..%2fpyproject.toml",
    ):
        r = client.get(path)
        assert r.status_code == 404, path
        assert "secret" not in r.text.lower()


def test_another_organisations_admin_cannot_move_our_reference_data(
    client: TestClient, session: Session
) -> None:
    """Issue 17 item 1: an admin of another organisation publishes rules, sets the A100 to
    $999/h and tries the shipped default: our rules, prices and costs stay as they were."""
    ours = create_user(session, org="Ours", role="admin")
    theirs = create_user(session, org="Theirs", role="admin")
    session.commit()
    h, hb = api_headers(client, ours.email), api_headers(client, theirs.email)
    body = {"model": "llama_3_1_8b", "gpu": "a100_sxm_80gb", "input_tokens": 1000,
            "output_tokens": 200, "requests_per_day": 50_000, "ttft_slo_ms": 800,
            "tpot_slo_ms": 60}  # fmt: skip
    before = client.post("/api/v1/estimates/inference", json=body, headers=h).json()
    rules = client.get("/api/v1/rules", headers=h).json()
    r = client.put("/api/v1/gpus/a100_sxm_80gb/price", headers=hb,
                   json={"price_per_hour_usd": 999, "kind": "other"})  # fmt: skip
    assert r.status_code == 200
    r = client.put("/api/v1/operator/gpus/a100_sxm_80gb/default-price", headers=hb,
                   json={"price_per_hour_usd": 999, "source": "x"})  # fmt: skip
    assert r.status_code == 403
    text = rules["yaml"].replace("technique: rag", "technique: graphrag", 1)
    assert (
        client.post("/api/v1/rules", headers=hb, json={"yaml": text, "note": "x"}).status_code
        == 201
    )
    assert client.post("/api/v1/estimates/inference", json=body, headers=h).json() == before
    assert client.get("/api/v1/rules", headers=h).json() == rules
