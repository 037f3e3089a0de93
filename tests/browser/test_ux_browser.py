"""Issue 22 in Chromium: busy indicators (item 10), dashboards by role (item 12, a screenshot per
role) and the matrix edit's direction and preview (item 13)."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import Page, Route, expect

from app.auth.permissions import Role
from app.demo import DEMO_USERS
from tests.browser.conftest import sign_in
from tests.browser.test_journeys import shot


def test_a_slow_action_shows_the_busy_state(page: Page, live_server: str) -> None:
    sign_in(page, live_server, DEMO_USERS[Role.architect])
    page.goto(f"{live_server}/scaling/fit?sample=1")
    held: list[Route] = []
    page.route(re.compile(r".*/scaling/fit$"), lambda route: held.append(route))
    button = page.locator("form[hx-post='/scaling/fit'] button[type=submit]")
    button.click()
    # the answer is held back: after ~300 ms the button says it is working
    expect(button).to_contain_text("Working…")
    expect(button).to_be_disabled()
    expect(page.locator("form[hx-post='/scaling/fit']")).to_have_attribute("aria-busy", "true")
    expect(button.locator(".spinner")).to_be_attached()
    shot(page, "busy-fit")
    assert len(held) == 1
    held[0].continue_()
    # small fits answer inline; this one (50 bootstrap resamples) is over the inline limit: a job
    # whose progress shows where the results will appear
    expect(page.locator("#results")).to_contain_text(re.compile("Fitted constants|runs as a job"))
    if "runs as a job" in (page.locator("#results").text_content() or ""):
        expect(page.locator("#results progress")).to_be_attached()
        # other pages are not queued behind the running fit
        other = page.context.new_page()
        other.goto(f"{live_server}/deployments")
        expect(other.locator("h1")).to_contain_text("Deployments")
        other.close()
    expect(button).to_have_text("Fit")
    expect(button).to_be_enabled()
    assert page.locator("form[hx-post='/scaling/fit']").get_attribute("aria-busy") is None


def test_a_quick_action_does_not_flash_the_busy_state(page: Page, live_server: str) -> None:
    sign_in(page, live_server, DEMO_USERS[Role.admin])
    page.goto(f"{live_server}/audit")
    seen: list[Any] = []
    page.expose_function("ux_seen", lambda text: seen.append(text))
    page.evaluate(
        "() => new MutationObserver(() => { const b = document.querySelector("
        "'form[hx-post=\"/audit/verify\"] button'); if (b && b.textContent.includes('Working'))"
        " window.ux_seen(b.textContent); }).observe(document.body, {subtree: true,"
        " childList: true, characterData: true})"
    )
    page.get_by_role("button", name=re.compile("Verify")).click()
    expect(page.locator("#verify-result")).to_contain_text("Chain intact")
    assert seen == [] or all("Working" in s for s in seen)  # at most a legitimate slow answer


ROLE_SECTIONS = {
    Role.product_lead: ("#role-product-lead", "Your deployments and their assessments"),
    Role.architect: ("#role-architect", "Your portfolios"),
    Role.governance: ("#role-governance", "Awaiting your decision"),
    Role.admin: ("#role-admin-reference", "Reference data versions"),
}


def test_each_role_has_its_own_dashboard(page: Page, live_server: str) -> None:
    for role, (selector, heading) in ROLE_SECTIONS.items():
        page.context.clear_cookies()
        sign_in(page, live_server, DEMO_USERS[role])
        section = page.locator(selector)
        expect(section).to_be_visible()
        expect(section).to_contain_text(heading)
        for other, (other_sel, _) in ROLE_SECTIONS.items():
            if other is not role:
                expect(page.locator(other_sel)).to_have_count(0)
        shot(page, f"dashboard-{role.value}")
    page.context.clear_cookies()
    sign_in(page, live_server, DEMO_USERS[Role.viewer])
    expect(page.locator(".role-section")).to_have_count(0)
    expect(page.locator("main")).to_contain_text("Your organisation")
    shot(page, "dashboard-viewer")


def test_matrix_edit_shows_direction_and_previews_before_publishing(
    page: Page, live_server: str
) -> None:
    sign_in(page, live_server, DEMO_USERS[Role.admin])
    page.goto(f"{live_server}/matrix/edit")
    expect(page.locator("thead")).to_contain_text("5 = cheapest")
    expect(page.locator("thead")).to_contain_text("1 = heaviest governance burden")
    expect(page.get_by_role("button", name=re.compile("Publish version"))).to_have_count(0)
    for dim in ("capability", "cost", "latency", "governance"):
        page.fill(f"input[name='retrieval.{dim}.level']", "1")
    page.get_by_role("button", name="Preview ranking changes").click()
    preview = page.locator("#matrix-preview")
    expect(preview).to_contain_text("nothing saved yet")
    expect(preview).to_contain_text("would change")
    expect(page.locator("input[name='retrieval.cost.level']")).to_have_value("1")
    shot(page, "matrix-edit-preview")
    page.get_by_role("button", name=re.compile("Publish version")).click()
    page.wait_for_url(re.compile(r"/matrix$"))
    expect(page.locator("#toasts")).to_contain_text("published")


def test_role_dashboards_fit_a_phone(browser: Any, live_server: str) -> None:
    """390 × 844: each role's section stays within the screen (its tables scroll inside it)."""
    for role, (selector, _) in ROLE_SECTIONS.items():
        context = browser.new_context(viewport={"width": 390, "height": 844})
        page = context.new_page()
        sign_in(page, live_server, DEMO_USERS[role])
        for box in page.locator(".role-section, " + selector).all():
            right = box.evaluate("el => el.getBoundingClientRect().right")
            assert right <= 390, (role.value, selector, right)
        shot(page, f"phone-dashboard-{role.value}")
        context.close()
