"""Browser journey (issue 20): an architect runs "Find the best portfolio" on a demo deployment,
sees the frontier chart and table, saves the recommended point as a portfolio and compares it with
one the team built by hand. Fails on console errors and unexpected 4xx/5xx (``watched``)."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from app.auth.permissions import Role
from app.demo import DEMO_USERS
from tests.browser.conftest import sign_in
from tests.browser.test_journeys import Watch, plotly_drew, shot, watched  # noqa: F401


def test_architect_searches_saves_the_recommended_point_and_compares(
    watched: tuple[Page, Watch],  # noqa: F811
    live_server: str,
) -> None:
    page, watch = watched
    sign_in(page, live_server, DEMO_USERS[Role.architect])
    page.goto(f"{live_server}/deployments")
    page.get_by_role("link", name="Code assistant").click()
    page.get_by_role("link", name="Find the best portfolio").click()
    page.wait_for_url(re.compile(r"/portfolio-search$"))
    # the latest assessment's failure modes and the deployment's budget are filled in
    expect(page.locator("#f-fm\\.serving_cost\\.severity")).to_have_value("3")
    budget = page.locator("#f-monthly_budget_usd").input_value()
    assert budget
    # a typo is answered inline (422), keeping what was typed
    watch.allowed_status.add(422)
    page.fill("#f-one_off_budget_usd", "lots")
    page.get_by_role("button", name="Find the best portfolio").click()
    expect(page.locator("#results")).to_contain_text("enter a number")
    expect(page.locator("#f-one_off_budget_usd")).to_have_value("lots")
    page.fill("#f-one_off_budget_usd", "")
    page.get_by_role("button", name="Find the best portfolio").click()
    expect(page.locator("#frontier")).to_be_visible(timeout=60_000)
    expect(page.locator("#search-summary")).to_contain_text("serving comes first")
    plotly_drew(page, "chart-frontier")
    shot(page, "portfolio-search")
    row = page.locator("#frontier tr.recommended")
    name = row.locator("input[name='name']")
    name.fill("Searched plan")
    row.get_by_role("button", name="Save as portfolio").click()
    page.wait_for_url(re.compile(r"/portfolios/\d+$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Searched plan")
    saved = page.url.rsplit("/", 1)[1]
    page.get_by_role("link", name="Portfolios").first.click()
    page.check(f"#cmp-{saved}")
    page.check("input[aria-label='Compare Serving first']")
    page.get_by_role("button", name=re.compile("Compare")).click()
    page.wait_for_url(re.compile(r"/portfolios/compare"))
    expect(page.locator("main")).to_contain_text("Searched plan")
    plotly_drew(page, "scatter-chart")
    # the one 422 above was asked for (the typo); Chromium logs every 4xx response as a console
    # error, so that line, and only that one, is expected
    expected = [p for p in watch.problems if "status of 422" in p]
    assert len(expected) == 1
    watch.problems.remove(expected[0])


def test_find_refused_while_a_job_runs_shows_the_servers_reason(
    watched: tuple[Page, Watch],  # noqa: F811
    live_server: str,
) -> None:
    """Review: Find pressed while the previous search job still ran showed only the toast "The
    server answered 409; nothing was changed" (htmx did not swap the 409). The 409 the page
    renders (tests/portfolios/test_portfolio_search_pages.py) is swapped in, its reason shown."""
    page, watch = watched
    sign_in(page, live_server, DEMO_USERS[Role.architect])
    page.goto(f"{live_server}/deployments")
    page.get_by_role("link", name="Code assistant").click()
    page.get_by_role("link", name="Find the best portfolio").click()
    page.wait_for_url(re.compile(r"/portfolio-search$"))
    reason = "your job 7 (portfolio_search) is still running; one heavy job per user at a time"
    watch.allowed_status.add(409)
    page.route(
        "**/portfolio-search",
        lambda route: (
            route.fulfill(
                status=409,
                content_type="text/html; charset=utf-8",
                body=f'<div id="results" aria-live="polite"><div class="card">'
                f'<p class="field-error" role="alert">Not started: {reason}</p></div></div>',
            )
            if route.request.method == "POST"
            else route.continue_()
        ),
    )
    page.get_by_role("button", name="Find the best portfolio").click()
    expect(page.locator("#results")).to_contain_text(f"Not started: {reason}")
    expect(page.locator("#toasts")).not_to_contain_text("The server answered 409")
    # Chromium logs the asked-for 409 as a console error: that line, and only that one
    expected = [p for p in watch.problems if "status of 409" in p]
    assert len(expected) == 1, watch.problems
    watch.problems.remove(expected[0])
