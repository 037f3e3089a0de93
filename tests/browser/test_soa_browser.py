"""The statement of applicability and the report fit to file in headless Chromium (issue 21,
items 1, 3 and 5): start a statement, exclude a control with a justification, be refused for one
the clauses need (inline, what was typed kept), attach a file (read in the page, stored with its
SHA-256), submit it; then the report with its contents, SoA and EU AI Act sections. Screenshots
go under ``SCREENSHOT_DIR`` (default ``var/screenshots``)."""

from __future__ import annotations

import hashlib
import re

from playwright.sync_api import FilePayload, Page, expect

from app.auth.permissions import Role
from app.demo import DEMO_USERS
from tests.browser.conftest import sign_in
from tests.browser.test_journeys import Watch, shot, watched  # noqa: F401  (the fixture)

EVIDENCE = b"Log review, November 2026: retention 180 days, no gaps.\n"


def test_governance_writes_the_statement_of_applicability_and_reads_the_report(
    watched: tuple[Page, Watch],  # noqa: F811
    live_server: str,
) -> None:
    page, watch = watched
    watch.allowed_status.add(422)  # the refused exclusion answers 422 with the form
    sign_in(page, live_server, DEMO_USERS[Role.governance])
    page.goto(f"{live_server}/deployments")
    page.get_by_role("link", name="Contract analysis").click()
    dep_url = page.url
    page.get_by_role("link", name="Statement of applicability").click()
    page.wait_for_url(f"{dep_url}/soa")
    button = page.get_by_role("button", name=re.compile("Start the statement|New version"))
    button.click()
    expect(page.locator("main")).to_contain_text(re.compile(r"Version \d+"))

    # a control the clauses need cannot be excluded: refused inline, what was typed kept
    page.locator("summary", has_text="Edit A.5.2").click()
    page.select_option("#ap-A\\.5\\.2", "no")
    page.select_option("#ba-A\\.5\\.2", "risk_assessment")
    page.fill("#re-A\\.5\\.2", "RA-7")
    page.fill("#ju-A\\.5\\.2", "We think impact assessment is not needed here")
    page.get_by_role("button", name="Save A.5.2").click()
    expect(page.locator("main")).to_contain_text("cannot be excluded")
    expect(page.locator("#ju-A\\.5\\.2")).to_have_value(
        "We think impact assessment is not needed here"
    )

    # an exclusion on an external requirement, with its justification
    page.locator("summary", has_text="Edit A.10.4").click()
    page.select_option("#ap-A\\.10\\.4", "no")
    page.select_option("#ba-A\\.10\\.4", "external_requirement")
    page.fill("#re-A\\.10\\.4", "Service agreement SA-3 §2")
    page.fill("#ju-A\\.10\\.4", "Customers receive no output: the agreement keeps it in-house")
    page.get_by_role("button", name="Save A.10.4").click()
    expect(page.locator("#c-A\\.10\\.4")).to_contain_text("excluded on an external requirement")

    # evidence: a file read by the page, stored with its SHA-256
    page.locator("summary", has_text="Edit A.6.2.8").click()
    payload: FilePayload = {"name": "log-review.txt", "mimeType": "text/plain", "buffer": EVIDENCE}
    page.set_input_files("#fi-A\\.6\\.2\\.8", files=[payload])
    expect(page.locator("#b64-A\\.6\\.2\\.8")).not_to_have_value("")
    page.locator("#c-A\\.6\\.2\\.8 + tr").get_by_role("button", name="Add evidence").click()
    row = page.locator("#c-A\\.6\\.2\\.8")
    expect(row).to_contain_text("log-review.txt")
    expect(row).to_contain_text(hashlib.sha256(EVIDENCE).hexdigest()[:12])
    page.get_by_role("button", name="Submit for approval").click()
    expect(page.locator("main")).to_contain_text("submitted")
    expect(page.locator("main")).to_contain_text("someone else decides on it")
    shot(page, "soa")

    page.goto(f"{dep_url}/risks")
    expect(page.locator("#eu-ai-act")).to_contain_text("EU AI Act")
    shot(page, "risks-eu-ai-act")

    page.goto(f"{dep_url}/report")
    main = page.locator("body")
    expect(main).to_contain_text("Contents")
    expect(main).to_contain_text("8. ISO/IEC 42001 statement of applicability")
    expect(main).to_contain_text("9. EU AI Act obligations")
    expect(main).to_contain_text("Excluded on an external requirement (Service agreement SA-3 §2)")
    expect(main).to_contain_text("fingerprint")
    shot(page, "report")
    # the browser logs the refused form's 422 (a full page answered with the form) as a console
    # error: that one is expected
    watch.problems[:] = [p for p in watch.problems if "status of 422" not in p]
