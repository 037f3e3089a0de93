"""Issue 18 item 7 in a real browser: the demo support bot's recommendation shows what the whole
plan does to the deployment above the cards, and each card's before/after table, SLO checks in
words, affected share, one-off breakdown and alternatives (screenshot saved)."""

from __future__ import annotations

import os
import re
from pathlib import Path

from playwright.sync_api import Page, expect

from app.auth.permissions import Role
from app.demo import DEMO_USERS
from tests.browser.conftest import sign_in

SHOTS = Path(os.environ.get("SCREENSHOT_DIR", "var/screenshots"))


def test_recommendation_cards_show_priced_before_after_figures(
    page: Page, live_server: str
) -> None:
    sign_in(page, live_server, DEMO_USERS[Role.product_lead])
    page.goto(f"{live_server}/deployments")
    page.get_by_role("link", name="Support chatbot").click()
    page.locator("a[href^='/assessments/']").first.click()
    page.wait_for_url(re.compile(r"/assessments/\d+"))

    plan = page.locator("#whole-plan")
    expect(plan).to_be_visible()
    expect(plan.get_by_role("heading", level=2)).to_contain_text("What the whole plan does")
    # above the cards
    plan_box, card_box = plan.bounding_box(), page.locator("#item-1").bounding_box()
    assert plan_box is not None
    assert card_box is not None
    assert plan_box["y"] < card_box["y"]
    expect(plan.locator("table.econ")).to_contain_text("Monthly serving cost")
    expect(plan.locator("table.econ")).to_contain_text("$")

    card = page.locator("article.rec-card").first
    table = card.locator("table.econ")
    for row in (
        "Cost per 1,000 requests",
        "Monthly serving cost",
        "Replicas at the peak",
        "TTFT p95",
        "TPOT p95",
        "Time to answer p95",
        "SLOs after",
    ):
        expect(table).to_contain_text(row)
    # SLO verdicts in words, not only colour
    expect(table.locator(".verdict").first).to_contain_text(re.compile(r"(meets|misses) the SLO"))
    expect(card).to_contain_text("Affected share")
    expect(card).to_contain_text("One-off total")
    expect(card.locator("details.alternatives")).to_contain_text("Why not")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "recommendation-card-economics.png"), full_page=True)
