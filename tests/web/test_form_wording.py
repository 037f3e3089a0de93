"""Forms (issue 22 item 7): required fields are marked, messages are plain words (one
translation of Pydantic's wording), text typed into a number field comes back with "enter a
number", and names are capped (a 10,000-character name is refused, naming the field)."""

from __future__ import annotations

import html
import re

import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.deployments.models import Deployment
from app.web.forms import field_errors
from tests.factories import (
    api_headers,
    create_deployment,
    create_user,
    csrf_from,
    deployment_payload,
    page_login,
)


class _M(BaseModel):
    n: int = Field(ge=1, le=4096)
    slo: float = Field(gt=0, le=3_600_000)
    cap: int = Field(1, lt=10)
    name: str = Field("x", max_length=120)


def _errors(**values: object) -> dict[str, str]:
    try:
        _M.model_validate({"n": 1, "slo": 1.0, **values})
    except ValidationError as exc:
        return field_errors(exc)
    return {}


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"n": 0}, "n", "enter a number of at least 1"),
        ({"n": 5000}, "n", "enter a number of at most 4096"),
        ({"slo": 0}, "slo", "enter a number above 0"),
        ({"slo": 4e6}, "slo", "enter a number of at most 3,600,000"),
        ({"cap": 10}, "cap", "enter a number below 10"),
        ({"n": "lots"}, "n", "enter a number"),
        ({"n": 1.5}, "n", "enter a whole number"),
        ({"name": "x" * 121}, "name", "keep it to 120 characters or fewer"),
    ],
)
def test_messages_are_plain_words(values: dict[str, object], field: str, message: str) -> None:
    assert _errors(**values) == {field: message}


def test_missing_is_plain() -> None:
    with pytest.raises(ValidationError) as exc:
        _M.model_validate({"slo": 1.0})
    assert field_errors(exc.value) == {"n": "this is required"}


def _field_html(page: str, name: str) -> str:
    m = re.search(
        rf'<label for="f-{name}">(.*?)</label>\s*<(?:input|select|textarea) [^>]*'
        rf'name="{name}"[^>]*>',
        page,
        re.S,
    )
    assert m, name
    return m.group(0)


def test_deployment_form_marks_required_fields(client: TestClient, session: Session) -> None:
    page_login(client, create_user(session, role="architect").email)
    page = client.get("/deployments/new").text
    for name in (
        "name",
        "use_case",
        "model",
        "gpu",
        "ttft_slo_ms",
        "tpot_slo_ms",
        "monthly_budget_usd",
        "profile",
    ):
        tag = _field_html(page, name)
        assert 'class="req"' in tag, name  # the visible marker
        assert "(required)" in tag, name  # and its words for screen readers
        assert re.search(r" required aria-required=\"true\"", tag), name
    segments = re.search(r'<textarea id="f-segments"[^>]*>', page)
    assert segments
    assert "required" not in segments.group(0)
    assert "are required" in page


def test_typed_text_kept_and_plainly_refused(client: TestClient, session: Session) -> None:
    page_login(client, create_user(session, role="architect").email)
    form = client.get("/deployments/new").text
    assert 'name="n_gpus" type="text" inputmode="decimal"' in form  # text reaches the server
    data = {
        **deployment_payload(name="Keep"),
        "csrftoken": csrf_from(form),
        "n_gpus": "two",
        "ttft_slo_ms": "0",
        "mean_input_tokens": "0",
    }
    data["segments"] = ""
    r = client.post("/deployments/new", data=data)
    assert r.status_code == 422
    text = html.unescape(r.text)
    assert 'value="two"' in text
    assert re.search(r'id="n_gpus-error">enter a number<', text)
    assert re.search(r'id="ttft_slo_ms-error">enter a number above 0<', text)
    assert re.search(r'id="mean_input_tokens-error">enter a number of at least 1<', text)
    assert "Input should" not in text
    assert "Field required" not in text
    assert session.scalar(select(func.count()).select_from(Deployment)) == 0


def test_a_10000_character_name_is_refused(client: TestClient, session: Session) -> None:
    user = create_user(session, role="architect")
    session.commit()
    long = "W" * 10_000
    h = api_headers(client, user.email)
    r = client.post("/api/v1/deployments", json=deployment_payload(name=long), headers=h)
    assert r.status_code == 422
    assert ["body", "name"] in [e["loc"] for e in r.json()["detail"]]
    dep = create_deployment(session, user=user)
    session.commit()
    r = client.post(
        "/api/v1/portfolios", json={"deployment_id": dep.id, "name": long, "items": []}, headers=h
    )
    assert r.status_code == 422
    assert ["body", "name"] in [e["loc"] for e in r.json()["detail"]]
    page_login(client, user.email)
    form = client.get("/deployments/new").text
    assert 'name="name" type="text" value="" maxlength="120"' in form
    data = {**deployment_payload(name=long), "csrftoken": csrf_from(form), "segments": ""}
    r = client.post("/deployments/new", data=data)
    assert r.status_code == 422
    assert re.search(r'id="name-error">keep it to 120 characters or fewer<', r.text)
    assert session.scalar(select(func.count()).select_from(Deployment)) == 1


def test_portfolio_form_marks_the_name_and_keeps_typed_text(
    client: TestClient, session: Session
) -> None:
    user = create_user(session, role="architect")
    dep = create_deployment(session, user=user)
    session.commit()
    page_login(client, user.email)
    form = client.get(f"/deployments/{dep.id}/portfolios/new").text
    name = _field_html(form, "name")
    assert 'class="req"' in name
    assert 'required aria-required="true"' in name
    assert 'name="p.rag.k" type="text" inputmode="decimal"' in form
    r = client.post(
        f"/deployments/{dep.id}/portfolios/new",
        data={
            "csrftoken": csrf_from(form),
            "name": "N" * 10_000,
            "use": ["rag"],
            "p.rag.k": "five",
        },
    )
    assert r.status_code == 422
    assert 'value="five"' in r.text
    assert "enter a number" in r.text
    r = client.post(
        f"/deployments/{dep.id}/portfolios/new",
        data={"csrftoken": csrf_from(form), "name": "N" * 10_000, "use": ["rag"]},
    )
    assert r.status_code == 422
    assert "keep it to 120 characters or fewer" in r.text
