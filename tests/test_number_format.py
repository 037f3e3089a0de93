"""One number formatting (issue 22, item 11): app/formatting.py, used by every page. The main
pages, rendered for the demo data as each role sees them, show no raw float: no number with more
than three decimals, no ``e+``/``e-`` notation and no run of more than 15 digits; and no raw value
(item 6): no catalog key where the catalog has a name, no Python ``None``."""

from __future__ import annotations

import html
import math
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app import formatting as f
from app.assessments.models import Assessment
from app.auth.permissions import Role
from app.demo import DEMO_USERS, load_demo
from app.deployments.models import Deployment
from app.names import catalog_names
from app.portfolios.models import Portfolio
from tests.factories import AUDIT_KEY, page_login


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (15000000000000.0, "1.5 × 10¹³"),
        (50.665055381555476, "50.7"),
        (1234567.8, "1,234,568"),
        (0.123456, "0.123"),
        (0.00012, "1.2 × 10⁻⁴"),
        (3.2e21, "3.2 × 10²¹"),
        (0, "0"),
        (-0.0, "0"),
        (None, "—"),
        (math.nan, "—"),
        (math.inf, "—"),
        ("", "—"),
        ("abc", "abc"),  # a form value as typed is shown as typed
    ],
)
def test_number(value: Any, expected: str) -> None:
    assert f.number(value) == expected


def test_units_and_kinds() -> None:
    assert f.number(15e12, "tokens") == "1.5 × 10¹³ tokens"
    assert f.compact(15e12, " tokens") == "15T tokens"
    assert f.compact(8.03e9) == "8.03B"
    assert f.compact(250_000) == "250k"
    assert f.compact(3.2e21, " FLOP") == "3.2 × 10²¹ FLOP"
    assert f.ms(50.712345678901234) == "50.7 ms"
    assert f.ms(12_500) == "12.5 s"
    assert f.money(1234.6) == "$1,235"
    assert f.money(12.345) == "$12.35"
    assert f.money(-250.5) == "−$250"
    assert f.money(None) == "—"
    assert f.fixed(1234.5678, 2) == "1,234.57"
    assert f.fixed(2e13, 2) == "2 × 10¹³"
    assert f.fixed("12abc") == "12abc"
    assert f.pct(0.1234) == "12.3 %"
    assert f.when("2026-11-30T12:54:00") == "30 Nov 2026, 12:54 UTC"
    assert f.scientific(9.996e13) == "1 × 10¹⁴"


def test_filters_are_registered_once_for_every_page() -> None:
    from app.web.templates import templates

    filters = templates.env.filters
    assert filters["fmt"] is f.number
    assert filters["num"] is f.fixed
    assert filters["si"] is f.compact
    assert filters["ms"] is f.ms
    assert filters["when"] is f.when


RAW = [
    (re.compile(r"\d\.\d{4,}"), "a number with more than three decimals"),
    (re.compile(r"\d[eE][+-]?\d"), "e-notation"),
    (re.compile(r"\d{16,}"), "a run of more than 15 digits"),
]


def _visible(page: str) -> str:
    """The text a reader sees: no tags, no attributes (chart specs are checked on their own),
    no scripts or styles, and no folded sources (``<details class="source">``: a source quoted
    as published, ``rope_theta 1e6``, opened on demand)."""
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S)
    body = re.sub(r'<details class="source">.*?</details>', " ", body, flags=re.S)
    body = re.sub(r"<[^>]+>", " ", body)
    return html.unescape(body)


# paper identifiers are not numbers: arXiv ids and DOIs
IDS = re.compile(r"(?i)(arxiv[ :]*\d{4}\.\d{4,5}|doi[ :]*10\.\S+|\b\d{1,2}\.\d{1,2}\.\d{4}\b)")
# constants quoted from a source to show how it was read (sourced and dated where they appear)
QUOTED = ("a = 0.4565 where Table 2 prints 0.46",)


def _raw_numbers(text: str) -> list[str]:
    text = IDS.sub("paper id", text)
    for q in QUOTED:
        text = text.replace(q, "")
    found = []
    for rx, what in RAW:
        for m in rx.finditer(text):
            # hashes (sha256 …, content ids) are not numbers
            around = text[max(0, m.start() - 40) : m.end() + 40]
            if re.search(r"[0-9a-f]{12,}", around) and not re.search(r"\d\.\d{4,}", m.group()):
                continue
            found.append(f"{what}: …{around.strip()}…")
    return found


def _without_code(page: str) -> str:
    """The page without ``<code>`` elements: a key shown on purpose as an identifier, next to its
    name (the catalog's key column, a rule's fact names)."""
    return re.sub(r"<code\b[^>]*>.*?</code>", " ", page, flags=re.S)


def _raw_values(text: str) -> list[str]:
    """Catalog keys that have a name (``mixtral_8x7b``, ``serving_optimization/…``) and Python's
    ``None`` in the text a reader sees (issue 22, item 6)."""
    keys = {k for names in catalog_names().values() for k in names if "_" in k}
    found = []
    for m in re.finditer(r"\b[a-z0-9]+(?:_[a-z0-9]+)+\b|\bNone\b", text):
        if m.group() == "None" or m.group() in keys:
            around = text[max(0, m.start() - 50) : m.end() + 30]
            found.append(f"raw {m.group()!r}: …{' '.join(around.split())}…")
    return found


@pytest.mark.slow
def test_main_pages_show_no_raw_floats(client: TestClient, session: Session) -> None:
    load_demo(session, audit_key=AUDIT_KEY)
    session.flush()
    dep = session.scalars(select(Deployment).order_by(Deployment.id)).first()
    assessment = session.scalars(
        select(Assessment).where(Assessment.status == "submitted").order_by(Assessment.id)
    ).first()
    portfolio = session.scalars(select(Portfolio).order_by(Portfolio.id)).first()
    assert dep is not None
    assert assessment is not None
    assert portfolio is not None
    pages = [
        "/",
        "/deployments",
        f"/deployments/{dep.id}",
        "/matrix",
        "/profiles",
        "/catalog/gpus",
        "/catalog/models",
        "/estimates",
        "/estimates/compare",
        "/estimates/training",
        "/calibrations",
        f"/assessments/{assessment.id}",
        f"/portfolios/{portfolio.id}",
        f"/deployments/{dep.id}/portfolios",
        f"/deployments/{dep.id}/risks",
        "/governance/queue",
        "/scaling",
        "/scaling/compute",
        "/scaling/inference-aware",
        "/scaling/architecture",
        f"/deployments/{dep.id}/report",
        f"/deployments/{dep.id}/hosted-alternatives",
        "/estimates?model=mixtral_8x7b&gpu=h100_sxm_80gb&n_gpus=2",
    ]
    from app.demo import DEMO_PASSWORD

    problems: list[str] = []
    for role in (Role.admin, Role.product_lead, Role.architect, Role.governance):
        page_login(client, DEMO_USERS[role], DEMO_PASSWORD)
        for path in pages if role is Role.admin else ["/", f"/assessments/{assessment.id}"]:
            r = client.get(path)
            assert r.status_code == 200, (path, r.status_code, r.text[:300])
            problems += [f"{role.value} {path}: {p}" for p in _raw_numbers(_visible(r.text))]
            problems += [
                f"{role.value} {path}: {p}" for p in _raw_values(_visible(_without_code(r.text)))
            ]
        client.cookies.clear()
    assert not problems, "\n".join(problems)


def test_percentages_carry_no_padding_zeros() -> None:
    """Review: answered shares read "8.00 %", "35.0 %" next to "100 %"."""
    from app import formatting, report_format

    for share, shown in (
        (0.08, "8 %"),
        (0.35, "35 %"),
        (1, "100 %"),
        (0.003, "0.3 %"),
        (0.123, "12.3 %"),
    ):
        assert formatting.pct(share) == shown
        assert report_format.pct(share) == shown
