"""The deployment page's "self-host or a hosted API?" section in Chromium: the break-even chart is
drawn (self-hosted steps, hosted lines, the current traffic marked), the governance note names the
data-privacy risks for a PII deployment, the cached share recomputes in place, and an admin's
price edit on /catalog/hosted-models shows in the table. Screenshots under ``SCREENSHOT_DIR``."""

from __future__ import annotations

import os
from pathlib import Path

from playwright.sync_api import Page, expect

from app.auth.permissions import Role
from app.demo import DEMO_USERS
from tests.browser.conftest import sign_in

SHOTS = Path(os.environ.get("SCREENSHOT_DIR", "var/screenshots"))


def test_hosted_alternatives_on_the_deployment_page(page: Page, live_server: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    sign_in(page, live_server, DEMO_USERS[Role.admin])
    page.goto(f"{live_server}/deployments")
    page.get_by_role("link", name="Support chatbot").click()
    section = page.locator("#hosted")
    expect(section.get_by_role("heading", name="Self-host or a hosted API?")).to_be_visible()
    chart = section.locator("#hosted-break-even")
    expect(chart.locator(".main-svg").first).to_be_attached()
    legend = chart.locator("text.legendtext")
    expect(legend.filter(has_text="Self-hosted (replica steps)")).to_have_count(1)
    assert legend.count() >= 2  # and hosted lines
    expect(chart.get_by_text("current traffic")).to_have_count(1)
    note = section.locator("#hosted-governance")
    expect(note).to_contain_text("Data leaves the organisation")
    expect(note).to_contain_text("LLM02:2025")
    expect(note).to_contain_text("Data Privacy")
    rows = section.locator("#hosted-table tbody tr")
    assert rows.count() >= 30
    section.scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "hosted-alternatives.png"), full_page=True)
    # A bad cached share: an inline error keeping what was typed, the section stays.
    page.fill("#cached_share", "lots")
    page.locator("#cached-share-form").get_by_role("button", name="Recompute").click()
    expect(section.locator(".field-error")).to_contain_text("enter a share from 0 to 1")
    expect(page.locator("#cached_share")).to_have_value("lots")
    # A valid one recomputes in place (the chart is drawn again).
    nano = section.locator("#hosted-table tr[data-key='openai_gpt_5_nano'] td").nth(2)
    before = nano.inner_text()
    page.fill("#cached_share", "0.8")
    page.locator("#cached-share-form").get_by_role("button", name="Recompute").click()
    expect(nano).not_to_have_text(before)
    expect(section.locator("#hosted-break-even .main-svg").first).to_be_attached()
    # An admin's own price shows on the catalog page and in the deployment's table.
    page.goto(f"{live_server}/catalog/hosted-models")
    row = page.locator("#hosted-openai_gpt_5_nano")
    row.get_by_text("Set your organisation's prices").click()
    row.locator("input[name='input_per_m_usd']").fill("0.01")
    row.get_by_role("button", name="Save our prices").click()
    expect(page.locator("#hosted-openai_gpt_5_nano")).to_contain_text("organisation price")
    page.screenshot(path=str(SHOTS / "hosted-models.png"))
    row = page.locator("#hosted-openai_gpt_5_nano")
    row.get_by_role("button", name="Use the shipped prices").click()
    expect(page.locator("#hosted-openai_gpt_5_nano")).to_contain_text("shipped default")
