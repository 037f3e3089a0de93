"""The catalog tables fit the window (issue 22, item 6), in a real Chromium: /catalog/gpus (with
the admin's price forms, the widest case) and /catalog/models scroll sideways neither on a
390 px phone nor on a 1400 px desktop; on the phone every GPU's price is on screen, and a long
source is folded into a <details> that opens in place without widening the page."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, expect

from app.auth.permissions import Role
from app.demo import DEMO_USERS
from tests.browser.conftest import sign_in

VIEWPORTS = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1400, "height": 900}}


def _overflow(page: Page) -> int:
    """How far the page scrolls sideways (0: not at all)."""
    return int(
        page.evaluate(
            "() => Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"
            " - document.documentElement.clientWidth"
        )
    )


@pytest.mark.parametrize("viewport", sorted(VIEWPORTS))
@pytest.mark.parametrize("role", [Role.admin, Role.product_lead])
def test_catalog_tables_fit_without_sideways_scroll(
    browser: Browser, live_server: str, viewport: str, role: Role
) -> None:
    phone = viewport == "phone"
    context = browser.new_context(viewport=VIEWPORTS[viewport], is_mobile=phone, has_touch=phone)  # type: ignore[arg-type]
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        sign_in(page, live_server, DEMO_USERS[role])
        for path in ("/catalog/gpus", "/catalog/models"):
            page.goto(f"{live_server}{path}")
            page.wait_for_load_state("networkidle")
            assert _overflow(page) <= 0, (
                f"{path} scrolls sideways by {_overflow(page)} px at {viewport} as {role.value}"
            )
            # a folded source opens in place: still no sideways scroll
            source = page.locator("details.source").first
            source.locator("summary").click()
            expect(source).to_have_attribute("open", "")
            assert _overflow(page) <= 0, f"{path}: an open source widens the page ({viewport})"
        page.goto(f"{live_server}/catalog/gpus")
        width = VIEWPORTS[viewport]["width"]
        prices = page.locator("#gpu-table strong.price").all()
        assert len(prices) >= 10
        for price in prices:  # every price is within the window, none cut off at the right
            price.scroll_into_view_if_needed()
            box = price.bounding_box()
            assert box is not None
            assert box["x"] >= 0, (viewport, box)
            assert box["x"] + box["width"] <= width, (viewport, box)
        if role is Role.admin:
            form = page.locator("#gpu-table form.inline").first
            box = form.bounding_box()
            assert box is not None
            assert box["x"] + box["width"] <= width, ("the price form is cut off", box)
    finally:
        context.close()
