"""Shipped default GPU prices (issue 18): every catalog GPU is priced with its offer, date and
URL; migration 0011 brings existing databases to them without touching an operator's default or
an organisation's own price; a missing price says who can set one."""

from __future__ import annotations

import csv
import re
from importlib import resources
from typing import Any

import pytest
from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from app.catalog.models import Gpu
from app.cli import alembic_config
from app.seed import shipped_default_prices
from tests.factories import api_headers, create_user, deployment_payload, page_login
from tests.test_migrations import empty_db_url  # noqa: F401

DATE = re.compile(r"observed \d{4}-\d{2}(-\d{2})?")


def _catalog_keys() -> list[str]:
    text_ = (resources.files("app.catalog") / "data" / "gpus.csv").read_text("utf-8")
    return [r["key"] for r in csv.DictReader(text_.splitlines())]


def test_every_catalog_gpu_has_a_sourced_dated_default() -> None:
    prices = shipped_default_prices()
    assert set(prices) == set(_catalog_keys())
    assert len(prices) == 13
    for key, (price, source) in prices.items():
        assert 0.1 < price < 20, key
        assert source.startswith("on-demand"), key
        assert DATE.search(source), key
        assert "https://" in source, key
    # the reference's suggested defaults (economics.md section 1.2)
    assert prices["l40s"][0] == 1.48
    assert prices["h100_sxm_80gb"][0] == 3.99
    assert "proxy" in prices["a100_pcie_40gb"][1]  # no offer of its own: said so


def test_api_shows_every_gpu_priced_with_its_source(client: TestClient, session: Session) -> None:
    user = create_user(session, role="viewer")
    h = api_headers(client, user.email)
    gpus = client.get("/api/v1/gpus", headers=h).json()
    assert len(gpus) == 13
    for g in gpus:
        assert g["price_per_hour_usd"] is not None, g["key"]
        assert g["price_origin"] == "shipped_default"
        assert g["price_source"].startswith("shipped default: on-demand")
        assert DATE.search(g["price_source"])


def test_l40s_deployment_is_priced(client: TestClient, session: Session) -> None:
    lead = create_user(session, role="product_lead")
    h = api_headers(client, lead.email)
    r = client.post("/api/v1/deployments", json=deployment_payload(gpu="l40s"), headers=h)
    assert r.status_code == 201, r.text
    e = client.get(f"/api/v1/deployments/{r.json()['id']}/economics", headers=h).json()
    assert e["monthly_cost_usd"] == pytest.approx(e["gpu_hours_per_month"] * 1.48)
    assert e["cost_per_1k_requests_usd"] > 0
    assert "shipped default" in e["price_source"]
    page_login(client, lead.email)
    page = client.get(f"/deployments/{r.json()['id']}").text
    assert "$1.48 per GPU-hour, shipped default" in page


def test_admin_is_sent_to_the_price_form_when_a_gpu_is_unpriced(
    client: TestClient, session: Session
) -> None:
    admin = create_user(session, role="admin")
    g = session.get(Gpu, "a10")
    assert g is not None
    g.price_per_hour_usd, g.price_source = None, ""  # an operator withdrew the default
    session.flush()
    h = api_headers(client, admin.email)
    dep = client.post("/api/v1/deployments", json=deployment_payload(gpu="a10"), headers=h)
    assert dep.status_code == 201, dep.text
    page_login(client, admin.email)
    page = client.get(f"/deployments/{dep.json()['id']}").text
    assert '<a href="/catalog/gpus">set your organisation\'s price per GPU-hour</a>' in page


# ---- migration 0011 -------------------------------------------------------------------------
OLD_SOURCE = (
    "Sardana et al. 2024, 'Beyond Chinchilla-Optimal' (arXiv 2401.00448), public code defaults"
)


def _seed_0010(conn: Any) -> None:
    """Five GPUs in the states a database can be in before 0011, an organisation price and an
    operator's two changes (one price, one deliberate 'unpriced')."""
    now = "2026-11-01 00:00:00"
    ins = lambda sql, **kw: conn.execute(text(sql), kw)  # noqa: E731
    ins("INSERT INTO organizations (id, name, created_at) VALUES (1, 'Alpha', :t)", t=now)
    rows = [
        ("h100_sxm_80gb", 2.0, OLD_SOURCE),  # the previous shipped default: replaced
        ("l4", None, ""),  # unpriced, never touched by an operator: priced now
        ("a100_sxm_80gb", 2.2, "Lambda 1x A100 quote, 2026-10 (operator)"),  # operator's price
        ("l40s", None, ""),  # an operator made it unpriced on purpose: stays
        ("mi300x", 2.5, "some other source"),  # not the previous default: stays
    ]
    for key, price, source in rows:
        ins(
            "INSERT INTO gpus (key, name, memory_gb, bandwidth_tbps, bf16_tflops_dense, notes, "
            "source, price_per_hour_usd, price_source, updated_at) VALUES (:k, :k, 80, 2, 300, "
            "'', '', :p, :s, :t)",
            k=key,
            p=price,
            s=source,
            t=now,
        )
    for i, key in enumerate(("a100_sxm_80gb", "l40s")):
        ins(
            "INSERT INTO audit_events (org_id, actor_id, actor_email, action, entity_type, "
            "entity_id, created_at, prev_hash, hash) VALUES (NULL, NULL, 'operator:op@x.test', "
            "'gpu.default_price.update', 'gpu', :k, :t, 'g', :h)",
            k=key,
            t=now,
            h=f"h{i}",
        )
    ins(
        "INSERT INTO gpu_price_overrides (org_id, gpu_key, price_per_hour_usd, kind, note, set_by, "
        "updated_at) VALUES (1, 'h100_sxm_80gb', 1.25, 'reserved', '3-year', 'a@alpha.test', :t)",
        t=now,
    )


def test_migration_0011_prices_old_defaults_and_keeps_operator_and_org_prices(
    empty_db_url: str,  # noqa: F811
) -> None:
    cfg = alembic_config(empty_db_url)
    command.upgrade(cfg, "0010")
    eng = create_engine(empty_db_url)
    with eng.begin() as conn:
        _seed_0010(conn)
    command.upgrade(cfg, "0011")
    new = shipped_default_prices()

    def q(sql: str) -> list[Any]:
        return list(conn.execute(text(sql)).all())

    with eng.connect() as conn:
        got = {k: (p, s) for k, p, s in q("SELECT key, price_per_hour_usd, price_source FROM gpus")}
        assert got["h100_sxm_80gb"] == new["h100_sxm_80gb"]
        assert got["l4"] == new["l4"]
        assert got["a100_sxm_80gb"] == (2.2, "Lambda 1x A100 quote, 2026-10 (operator)")
        assert got["l40s"] == (None, "")
        assert got["mi300x"] == (2.5, "some other source")
        assert q("SELECT gpu_key, price_per_hour_usd, kind FROM gpu_price_overrides") == [
            ("h100_sxm_80gb", 1.25, "reserved")
        ]
    command.downgrade(cfg, "0010")
    with eng.connect() as conn:
        got = {k: (p, s) for k, p, s in q("SELECT key, price_per_hour_usd, price_source FROM gpus")}
        assert got["h100_sxm_80gb"] == (2.0, OLD_SOURCE)
        assert got["l4"] == (None, "")
        assert got["a100_sxm_80gb"] == (2.2, "Lambda 1x A100 quote, 2026-10 (operator)")
    eng.dispose()


def test_estimator_page_shows_the_effective_price_and_its_source(
    client: TestClient, session: Session
) -> None:
    page_login(client, create_user(session, role="architect").email)
    r = client.get(
        "/estimates?model=llama_3_1_8b&gpu=l40s&input_tokens=1000&output_tokens=200"
        "&batch_size=8&requests_per_day=100000"
    )
    assert r.status_code == 200
    assert "Capacity plan" in r.text
    assert "$1.48 per GPU-hour" in r.text
    assert "shipped default: on-demand" in r.text


def test_right_sizing_card_prices_another_gpu_at_the_organisations_own_price(
    client: TestClient, session: Session
) -> None:
    """Defect (issue 18, item 1): GPU right-sizing priced other GPU types at the shipped default
    even where the organisation had set its own. An admin's low L40S price makes right-sizing
    move to the L40S, priced at that price on the card."""
    admin = create_user(session, role="admin")
    h = api_headers(client, admin.email)
    price = {"price_per_hour_usd": 0.1, "kind": "reserved", "note": "3-year"}
    r = client.put("/api/v1/gpus/l40s/price", headers=h, json=price)
    assert r.status_code == 200, r.text
    dep = client.post(
        "/api/v1/deployments", json=deployment_payload(requests_per_day=500_000), headers=h
    )
    assert dep.status_code == 201, dep.text
    answers = [{"failure_mode": "serving_cost", "severity": 3, "traffic_share": 1.0}]
    a = client.post(
        f"/api/v1/deployments/{dep.json()['id']}/assessments", headers=h, json={"answers": answers}
    )
    assert a.status_code == 201, a.text
    card = a.json()["recommendation"]["items"][0]
    priced = {
        card["technique"]: card["impact"]["monthly_cost_usd"]["after"],
        **{x["technique"]: x["monthly_cost_usd"] for x in card["alternatives"]},
    }
    assert card["technique"] == "gpu_right_sizing", priced
    assert "L40S" in card["impact_assumptions"][0]
    assert "organisation's effective price $0.1/GPU-hour" in card["impact_assumptions"][0]
    # the outcome is the chosen technique's, not PagedAttention's "up to 24x throughput"
    assert card["expected_outcome"].startswith("$")
    assert "per 1,000 requests" in card["expected_outcome"]
    assert "the rules' outcome for PagedAttention" in card["expected_outcome"]
    hours = card["impact"]["gpu_hours_per_month"]["after"]
    assert card["impact"]["monthly_cost_usd"]["after"] == pytest.approx(hours * 0.1, rel=1e-3)


def test_deployment_page_counts_gpus_and_says_what_the_static_figures_are(
    client: TestClient, session: Session
) -> None:
    """Walk-through wording: "10 × 2 GPU" and idle-server figures labelled as "the static model
    the recommendation cards use" (the cards use the peak-load planner, as the page does)."""
    lead = create_user(session, role="product_lead")
    h = api_headers(client, lead.email)
    r = client.post("/api/v1/deployments", json=deployment_payload(n_gpus=2), headers=h)
    assert r.status_code == 201, r.text
    page_login(client, lead.email)
    page = client.get(f"/deployments/{r.json()['id']}/serving-cost").text  # its panel
    assert re.search(r'<span data-econ="replicas">\d+</span> × 2 GPUs', page)
    assert "the static model the recommendation cards use" not in page
    assert "the recommendation cards' are p95 at the peak" in page
