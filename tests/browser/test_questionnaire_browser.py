"""The questionnaire in a real browser, by keyboard: follow-ups appear (htmx) when a severity is
raised, the live preview updates, a bad value comes back inline without losing answers, and the
submission lands on a recommendation whose chart Plotly has drawn."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from app.auth.permissions import Role
from app.demo import DEMO_USERS
from tests.browser.conftest import sign_in


def test_fill_in_by_keyboard_fix_an_error_and_get_the_recommendation(
    page: Page, live_server: str
) -> None:
    sign_in(page, live_server, DEMO_USERS[Role.product_lead])
    page.goto(f"{live_server}/deployments")
    page.get_by_role("link", name="Contract analysis").click()
    page.get_by_role("link", name="New assessment").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Contract analysis")

    # Severity by keyboard: focus the first radio of the group, arrow to "3 · Serious".
    share = page.locator("input[name='fm.factual_staleness.share']")
    expect(share).to_have_count(0)  # no follow-ups while the severity is 0
    page.locator("input[name='fm.factual_staleness.severity'][value='0']").focus()
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    expect(page.locator("input[name='fm.factual_staleness.severity'][value='3']")).to_be_checked()
    expect(share).to_be_visible()  # swapped in by htmx
    expect(page.locator("input[name='fm.factual_staleness.corpus_tokens']")).to_be_visible()

    # The live preview follows the answers.
    expect(page.locator("#preview li").first).to_contain_text("RAG")
    page.locator("input[name='fm.factual_staleness.cross_document'][value='yes']").focus()
    page.keyboard.press("Space")
    expect(page.locator("#preview li").first).to_contain_text("GraphRAG")

    # An out-of-range share: Enter submits, the error comes back inline, nothing is lost.
    share.focus()
    page.keyboard.type("150")
    page.keyboard.press("Enter")
    summary = page.locator("#error-summary")
    expect(summary).to_contain_text("enter a percentage between 0 and 100")
    expect(share).to_have_value("150")
    expect(share).to_have_attribute("aria-invalid", "true")
    expect(
        page.locator("input[name='fm.factual_staleness.cross_document'][value='yes']")
    ).to_be_checked()

    share.fill("30")
    share.press("Enter")
    page.wait_for_url(re.compile(r"/assessments/\d+$"))
    expect(page.locator("article.rec-card").first).to_contain_text("GraphRAG")
    expect(page.locator("#score-chart .main-svg").first).to_be_attached()  # Plotly drew it
    page.get_by_text("Rules that fired and the answers that triggered them").first.click()
    expect(page.locator("article.rec-card").first).to_contain_text(
        "fm.factual_staleness.cross_document = True"
    )


def test_demo_deployments_open_with_recommendations(page: Page, live_server: str) -> None:
    sign_in(page, live_server, DEMO_USERS[Role.viewer])
    page.goto(f"{live_server}/deployments")
    page.get_by_role("link", name="Code assistant").click()
    page.locator("#assessments a", has_text="#").first.click()
    first = page.locator("article.rec-card").first
    expect(first).to_contain_text("PagedAttention + speculative decoding")
    expect(page.locator(".banner.bad")).to_contain_text("waits on Serving optimization")
