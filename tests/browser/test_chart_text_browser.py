"""User text in a Plotly chart is drawn as text in a real browser: a portfolio named with
``<a href=…>`` and ``<b>`` shows those characters, and the chart holds no link and no bold run."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from app.auth.permissions import Role
from app.demo import DEMO_USERS
from tests.browser.conftest import sign_in

LINK = '<a href="https://evil.example/x">click</a>'
BOLD = "<b>bold</b> & plain"


def test_portfolio_names_in_charts_are_text(page: Page, live_server: str) -> None:
    sign_in(page, live_server, DEMO_USERS[Role.architect])
    page.goto(f"{live_server}/deployments")
    page.get_by_role("link", name="Support chatbot").click()
    page.get_by_role("link", name="Portfolios").click()
    listing = page.url
    ids = []
    for name in (LINK, BOLD):
        page.goto(f"{listing}/new")
        page.fill("#f-name", name)
        page.get_by_role("button", name="Save and evaluate").click()
        page.wait_for_url(re.compile(r"/portfolios/\d+$"))
        ids.append(page.url.rsplit("/", 1)[1])
    page.goto(f"{live_server}/portfolios/compare?ids={','.join(ids)}")
    scatter = page.locator("#scatter-chart")
    expect(scatter.locator(".main-svg").first).to_be_attached()
    # The legend and the point labels show the names as typed ...
    expect(scatter.locator("text.legendtext", has_text=LINK)).to_have_count(1)
    expect(scatter.locator("text.legendtext", has_text=BOLD)).to_have_count(1)
    # ... and no chart on the page has a link or a bold run made from them.
    assert page.locator(".chart a").count() == 0
    assert page.locator(".chart tspan[style*='bold']").count() == 0
