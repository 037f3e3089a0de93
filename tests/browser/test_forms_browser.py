"""Forms in a real browser (issue 22 item 7): required fields carry a visible marker, text typed
into a number field reaches the server (a type="number" field would drop it, and the server would
then say the field is missing), comes back in the field and is answered in plain words."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from app.auth.permissions import Role
from app.demo import DEMO_USERS
from tests.browser.conftest import sign_in


def test_typed_text_in_a_number_field_is_kept_and_plainly_refused(
    page: Page, live_server: str
) -> None:
    sign_in(page, live_server, DEMO_USERS[Role.product_lead])
    page.goto(f"{live_server}/deployments/new")
    expect(page.locator("label[for='f-tpot_slo_ms'] .req")).to_be_visible()
    expect(page.locator("label[for='f-use_case'] .req")).to_be_visible()
    expect(page.locator("#f-tpot_slo_ms")).to_have_attribute("aria-required", "true")
    page.fill("#f-name", "Typed text")
    page.fill("#f-use_case", "Answer questions")
    page.fill("#f-n_gpus", "")
    page.locator("#f-n_gpus").press_sequentially("two")
    page.fill("#f-tpot_slo_ms", "0")
    page.get_by_role("button", name="Create deployment").click()
    expect(page.locator("#n_gpus-error")).to_have_text("enter a number")
    expect(page.locator("#f-n_gpus")).to_have_value("two")
    expect(page.locator("#f-n_gpus")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#tpot_slo_ms-error")).to_have_text("enter a number above 0")
    expect(page.locator("#f-name")).to_have_value("Typed text")
    expect(page.locator("body")).not_to_contain_text("Field required")
    expect(page.locator("body")).not_to_contain_text("Input should")
