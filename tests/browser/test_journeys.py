"""One end-to-end journey per persona through the real pages in headless Chromium.

Every journey fails on a browser console error, a failed request or an unexpected 4xx/5xx
response (the ``watched`` fixture), checks that Plotly drew its SVG where a chart belongs, and
saves screenshots of the main pages under ``SCREENSHOT_DIR`` (default ``var/screenshots``).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from app.auth.permissions import Role
from app.demo import DEMO_USERS
from tests.browser.conftest import sign_in

SHOTS = Path(os.environ.get("SCREENSHOT_DIR", "var/screenshots"))


class Watch:
    def __init__(self) -> None:
        self.problems: list[str] = []
        self.failed: list[tuple[str, str, str]] = []  # (url, why, resource type): judged at the end
        self.downloads: set[str] = set()
        self.allowed_status: set[int] = set()

    def unexpected(self) -> list[str]:
        # A link that downloads a file ends its navigation as "aborted": that is the download. A
        # background htmx request (the notifications badge) still in flight when the test moves to
        # the next page is cancelled by the browser ("aborted"), not failed by the server: a
        # server error shows as its status code above.
        # Likewise a script, style sheet or image still loading when the test navigates on is
        # cancelled by the browser (seen: the Plotly bundle on a fast click-through).
        aborted = [
            f"request failed: {u} {why}"
            for u, why, kind in self.failed
            if not (
                "ERR_ABORTED" in why
                and (
                    u in self.downloads
                    or kind in ("xhr", "fetch", "script", "stylesheet", "image", "font")
                )
            )
        ]
        return self.problems + aborted


@pytest.fixture
def watched(browser: Browser) -> Iterator[tuple[Page, Watch]]:
    context = browser.new_context(viewport={"width": 1300, "height": 900}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(20_000)
    watch = Watch()
    page.on("console", lambda m: m.type == "error" and watch.problems.append(f"console: {m.text}"))
    page.on("pageerror", lambda e: watch.problems.append(f"page error: {e}"))
    page.on(
        "requestfailed", lambda r: watch.failed.append((r.url, str(r.failure), r.resource_type))
    )
    page.on("download", lambda d: watch.downloads.add(d.url))
    page.on(
        "response",
        lambda r: (
            r.status >= 400
            and r.status not in watch.allowed_status
            and watch.problems.append(f"{r.status} {r.request.method} {r.url}")
        ),
    )
    yield page, watch
    context.close()
    assert watch.unexpected() == []


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def plotly_drew(page: Page, chart_id: str) -> None:
    expect(page.locator(f"#{chart_id} .main-svg").first).to_be_attached()


def test_product_lead_creates_a_deployment_and_gets_a_recommendation(
    watched: tuple[Page, Watch], live_server: str
) -> None:
    page, _ = watched
    sign_in(page, live_server, DEMO_USERS[Role.product_lead])
    shot(page, "dashboard")
    page.goto(f"{live_server}/deployments/new")
    page.fill("#f-name", "Claims triage assistant")
    page.fill("#f-use_case", "Route insurance claims and draft replies")
    page.select_option("#f-model", "llama_3_1_8b")
    page.select_option("#f-profile", "enterprise")
    page.select_option("#f-gpu", "h100_sxm_80gb")
    page.fill("#f-n_gpus", "1")
    page.select_option("#f-engine", "vllm")
    page.fill("#f-requests_per_day", "20000")
    page.fill("#f-mean_input_tokens", "1200")
    page.fill("#f-mean_output_tokens", "250")
    page.fill("#f-ttft_slo_ms", "800")
    page.fill("#f-tpot_slo_ms", "50")
    page.fill("#f-monthly_budget_usd", "6000")
    page.check("input[name='regulatory_flags'][value='pii']")
    page.fill("#f-segments", "EU claimants: high\nUS claimants: low")
    page.get_by_role("button", name="Create deployment").click()
    page.wait_for_url(re.compile(r"/deployments/\d+$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Claims triage assistant")
    shot(page, "deployment")

    page.get_by_role("link", name="New assessment").click()
    share = page.locator("input[name='fm.factual_staleness.share']")
    expect(share).to_have_count(0)
    page.locator("input[name='fm.factual_staleness.severity'][value='3']").check()
    expect(share).to_be_visible()  # the follow-ups came in by htmx
    share.fill("40")
    page.locator("input[name='fm.factual_staleness.corpus_tokens']").fill("2e7")
    page.locator("input[name='fm.factual_staleness.cross_document'][value='no']").check()
    page.locator("input[name='fm.policy_noncompliance.severity'][value='2']").check()
    page.locator("input[name='fm.policy_noncompliance.share']").fill("5")
    expect(page.locator("#preview li").first).to_contain_text("RAG")
    shot(page, "questionnaire")
    page.get_by_role("button", name="Submit assessment").click()
    page.wait_for_url(re.compile(r"/assessments/\d+$"))
    expect(page.locator("article.rec-card").first).to_contain_text("RAG")
    plotly_drew(page, "score-chart")
    shot(page, "recommendation")


def test_architect_estimates_compares_gpus_and_compares_two_portfolios(
    watched: tuple[Page, Watch], live_server: str
) -> None:
    page, _ = watched
    sign_in(page, live_server, DEMO_USERS[Role.architect])
    page.goto(
        f"{live_server}/estimates?model=llama_3_1_8b&gpu=h100_sxm_80gb&n_gpus=1"
        "&engine=vllm&input_tokens=2000&output_tokens=300&batch_size=8"
    )
    expect(page.locator("#results")).to_contain_text("TTFT")
    plotly_drew(page, "chart-memory")
    plotly_drew(page, "chart-cost")
    shot(page, "estimate")
    page.goto(
        f"{live_server}/estimates/compare?model=llama_3_1_70b&n_gpus=4&engine=vllm"
        "&input_tokens=2000&output_tokens=300&batch_size=8"
    )
    expect(page.locator("main")).to_contain_text("H100")
    shot(page, "compare-gpus")

    page.goto(f"{live_server}/deployments")
    page.get_by_role("link", name="Support chatbot").click()
    page.get_by_role("link", name="Portfolios").click()
    ids = []
    plans = (
        ("Retrieval first", ["rag"]),
        ("Serve then retrieve", ["rag", "paged_attention_speculative"]),
    )
    for name, techniques in plans:
        page.get_by_role("link", name="New portfolio").click()
        page.fill("#f-name", name)
        for t in techniques:
            page.check(f"input[name='use'][value='{t}']")
        page.get_by_role("button", name="Save and evaluate").click()
        page.wait_for_url(re.compile(r"/portfolios/\d+$"))
        expect(page.get_by_role("heading", level=1)).to_contain_text(name)
        ids.append(page.url.rsplit("/", 1)[1])
        page.go_back()
        page.goto(page.url.rsplit("/new", 1)[0])
    for i in ids:
        page.check(f"#cmp-{i}")
    page.get_by_role("button", name=re.compile("Compare")).click()
    page.wait_for_url(re.compile(r"/portfolios/compare"))
    for chart in ("radar-chart", "suitability-chart", "scatter-chart"):
        plotly_drew(page, chart)
    shot(page, "portfolio-compare")


def test_governance_approves_records_a_regression_exports_and_verifies(
    watched: tuple[Page, Watch], live_server: str
) -> None:
    page, _ = watched
    sign_in(page, live_server, DEMO_USERS[Role.governance])
    page.goto(f"{live_server}/deployments")
    page.get_by_role("link", name="Code assistant").click()
    dep_url = page.url
    page.locator("#assessments a", has_text="#").first.click()
    page.locator("#decision input[name='decision'][value='approved']").check()
    page.fill("#dec-comment", "Serving first, as ranked")
    page.get_by_role("button", name="Record the decision").click()
    expect(page.locator("#decision table")).to_contain_text("approved")  # swapped in by htmx

    page.goto(f"{dep_url}/evaluations")
    page.fill("#f-label", "Serving pilot, week 2")
    page.fill("#f-tolerance", "0")
    page.fill(
        "#f-results_csv",
        "segment,metric,phase,value,higher_is_better\n"
        "Python,pass@1,before,0.62,true\nPython,pass@1,after,0.70,true\n"
        "Security-sensitive modules,pass@1,before,0.55,true\n"
        "Security-sensitive modules,pass@1,after,0.48,true\n",
    )
    page.get_by_role("button", name="Record", exact=True).click()
    page.wait_for_url(re.compile(r"/evaluations/\d+$"))
    expect(page.locator("main")).to_contain_text("Security-sensitive modules")
    expect(page.locator("main")).to_contain_text("regress")
    shot(page, "evaluation")

    page.goto(dep_url)
    with page.expect_download() as pdf:
        page.get_by_role("link", name="PDF", exact=True).click()
    assert pdf.value.suggested_filename.endswith(".pdf")
    assert Path(pdf.value.path()).read_bytes()[:5] == b"%PDF-"
    with page.expect_download() as js:
        page.get_by_role("link", name="JSON", exact=True).click()
    report = json.loads(Path(js.value.path()).read_text())
    assert report["scope"]["deployment"]["name"] == "Code assistant"
    assert report["integrity"]["signature"].startswith("[axisboard-signature-v1:")

    page.goto(f"{live_server}/audit")
    page.get_by_role("button", name=re.compile("Verify")).click()
    expect(page.locator("#verify-result")).to_contain_text("Chain intact")
    shot(page, "audit")


def test_admin_edits_the_matrix_and_publishes_rules_after_a_dry_run(
    watched: tuple[Page, Watch], live_server: str
) -> None:
    page, _ = watched
    sign_in(page, live_server, DEMO_USERS[Role.admin])
    page.goto(f"{live_server}/matrix/edit")
    level = page.locator("input[name='retrieval.cost.level']")
    level.fill("3")
    page.fill("#note", "Vector store hosting now bundled")
    page.get_by_role("button", name="Preview ranking changes").click()
    expect(page.locator("#matrix-preview")).to_contain_text("nothing saved yet")
    shot(page, "matrix-preview")
    page.get_by_role("button", name=re.compile("Publish version")).click()
    page.wait_for_url(re.compile(r"/matrix"))
    expect(page.locator("main")).to_contain_text("Vector store hosting now bundled")
    plotly_drew(page, "matrix-heatmap")
    shot(page, "matrix")

    page.goto(f"{live_server}/rules/edit")
    yaml_box = page.locator("#f-yaml")
    text = yaml_box.input_value()
    rule = "{fact: fm.factual_staleness.severity, op: ge, value: 1}"
    assert rule in text
    yaml_box.fill(text.replace(rule, rule.replace("value: 1", "value: 2"), 1))
    page.fill("#f-note", "RAG only from moderate staleness up")
    page.get_by_role("button", name="Validate and dry-run", exact=True).click()
    expect(page.locator("#dry-run")).to_contain_text("Dry run against")
    shot(page, "rules-dry-run")
    page.get_by_role("button", name=re.compile("Publish as v")).click()
    expect(page.locator("main")).to_contain_text("RAG only from moderate staleness up")
