"""Colours carry meaning (issue 22 item 5): over budget, an SLO missed, a gate that holds every
other item back are shown in warning colours with words beside them, never in green."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.factories import create_deployment, create_user, csrf_from, page_login

GOOD = {"ok", "best", "success"}
BAD_WORDS = re.compile(r"\b(over|miss|misses|regress|✗|does not fit|waits on)\b", re.IGNORECASE)


class _Coloured(HTMLParser):
    """(classes, text) of each element, the text including its children's."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[tuple[set[str], list[str]]] = []
        self.found: list[tuple[set[str], str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("br", "input", "img", "meta", "link", "hr"):
            return
        cls = next((v or "" for k, v in attrs if k == "class"), "")
        self.stack.append((set(cls.split()), []))

    def handle_endtag(self, tag: str) -> None:
        if tag in ("br", "input", "img", "meta", "link", "hr") or not self.stack:
            return
        cls, parts = self.stack.pop()
        text = "".join(parts)
        self.found.append((cls, text))
        if self.stack:
            self.stack[-1][1].append(text)

    def handle_data(self, data: str) -> None:
        if self.stack:
            self.stack[-1][1].append(data)


def coloured(page: str) -> list[tuple[set[str], str]]:
    p = _Coloured()
    p.feed(page)
    return p.found


def green_bad_news(page: str) -> list[str]:
    """Texts of elements in a good colour that say something bad."""
    return [t for cls, t in coloured(page) if cls & GOOD and BAD_WORDS.search(t)]


@pytest.fixture
def architect(client: TestClient, session: Session) -> Any:
    user = create_user(session, role="architect")
    page_login(client, user.email)
    return user


def test_over_budget_is_not_green(client: TestClient, session: Session, architect: Any) -> None:
    d = create_deployment(session, user=architect, monthly_budget_usd=1)
    session.commit()
    page = client.get(f"/deployments/{d.id}/serving-cost").text  # the deployment page's panel
    verdict = next((cls, t) for cls, t in coloured(page) if "verdict" in cls and "budget" in t)
    assert "over the monthly budget" in verdict[1]
    assert "bad" in verdict[0]
    assert "ok" not in verdict[0]
    assert green_bad_news(page) == []


def test_within_budget_and_slos_is_green(
    client: TestClient, session: Session, architect: Any
) -> None:
    d = create_deployment(session, user=architect, monthly_budget_usd=1_000_000)
    session.commit()
    page = client.get(f"/deployments/{d.id}/serving-cost").text  # the deployment page's panel
    verdict = next((cls, t) for cls, t in coloured(page) if "verdict" in cls and "budget" in t)
    assert "within the monthly budget" in verdict[1]
    assert "Meets the SLOs" in verdict[1]
    assert "ok" in verdict[0]


def test_gate_note_is_a_warning_not_green(
    client: TestClient, session: Session, architect: Any
) -> None:
    d = create_deployment(session, user=architect, monthly_budget_usd=1)
    session.commit()
    form = client.get(f"/deployments/{d.id}/assessment")
    page = client.post(
        f"/deployments/{d.id}/assessment",
        data={
            "csrftoken": csrf_from(form.text),
            "fm.factual_staleness.severity": "3",
            "fm.serving_cost.severity": "3",
        },
        follow_redirects=True,
    ).text
    notes = [(cls, t) for cls, t in coloured(page) if "banner" in cls]
    gate = [(cls, t) for cls, t in notes if "waits on" in t]
    assert gate, notes
    assert all(cls & {"warn", "bad"} and "ok" not in cls for cls, _ in gate)
    assert all(t.lstrip().startswith("⚠") for _, t in gate)
    assert not [t for cls, t in notes if "ok" in cls]  # ordering notes are neutral, not "good"
    assert green_bad_news(page) == []


def test_gpu_comparison_says_yes_or_no_beside_the_colour(
    client: TestClient, architect: Any
) -> None:
    page = client.get(
        "/estimates/compare?model=llama_3_1_70b&n_gpus=2&input_tokens=1000"
        "&output_tokens=200&requests_per_day=500000&ttft_slo_ms=2000&tpot_slo_ms=80"
    ).text
    cells = [(cls, t.strip()) for cls, t in coloured(page) if t.strip() in ("✓ yes", "✗ no")]
    assert cells
    assert all(("ok" in cls) == (t == "✓ yes") for cls, t in cells)
    assert any(t == "✗ no" and "bad" in cls for cls, t in cells)
    assert green_bad_news(page) == []
