"""Page weight and page time (issue 22): what each main page costs a browser and the server.

    python -m bench.pages [--database-url postgresql+psycopg://postgres@127.0.0.1/axisboard_bench]
                          [--repeat 5]

Serves the demo org (``bench._server.demo_server``, one worker) and, in Debian's Chromium driven
by Playwright, measures for each main page:

- **transferred**: the bytes on the wire (headers + encoded bodies, as Chromium reports them) of
  a cold visit (fresh browser context, empty cache, signed in) until the network is idle, so
  lazily loaded scripts (Plotly on chart pages) are counted;
- **cold load**: the time from navigation start to the ``load`` event of that cold visit (the
  targets name the dashboard: under 1 s over loopback);
- **server warm**: the median over ``--repeat`` requests of the page's HTML alone (httpx over
  loopback, after one warm-up request), i.e. server time plus a loopback round trip.

Targets: login page under 300 KB transferred; every page under 500 ms warm; the dashboard's cold
first visit under 1 s.
"""

from __future__ import annotations

import argparse
import re
import statistics
import time
from dataclasses import dataclass

import httpx2
from playwright.sync_api import Browser, sync_playwright

from app.auth.permissions import Role
from app.demo import DEMO_PASSWORD, DEMO_USERS
from bench._server import DEFAULT_DATABASE_URL, csrf_token, demo_server

CHROMIUM = "/usr/bin/chromium"
LOGIN_BUDGET_BYTES = 300_000
WARM_BUDGET_MS = 500.0
COLD_DASHBOARD_BUDGET_MS = 1000.0


@dataclass(frozen=True)
class PageCost:
    path: str
    transferred: int
    requests: int
    cold_load_ms: float
    warm_ms: float


def main_pages(client: httpx2.Client) -> list[str]:
    """The pages a first day visits, with ids taken from the demo data."""
    listing = client.get("/deployments").text
    dep = re.search(r'href="/deployments/(\d+)"', listing)
    assert dep, "no deployment on /deployments"
    dep_id = dep.group(1)
    detail = client.get(f"/deployments/{dep_id}").text
    assessment = re.search(r'href="/assessments/(\d+)"', detail)
    pages = ["/", "/deployments", f"/deployments/{dep_id}", f"/deployments/{dep_id}/assessment"]
    if assessment:
        pages.append(f"/assessments/{assessment.group(1)}")
    pages += [
        "/matrix",
        "/profiles",
        "/catalog/failure-modes",
        "/rules",
        "/estimates",
        "/estimates/training",
        "/scaling",
        "/scaling/compute",
        "/catalog/gpus",
        "/catalog/models",
        "/catalog/frameworks",
        "/audit",
    ]
    return pages


def sign_in(client: httpx2.Client, email: str) -> None:
    token = csrf_token(client.get("/login").text)
    r = client.post("/login", data={"email": email, "password": DEMO_PASSWORD, "csrftoken": token})
    assert r.status_code in (200, 303), r.status_code


def cold_visit(
    browser: Browser, base: str, path: str, cookies: list[dict[str, str]]
) -> tuple[int, int, float]:
    """(bytes transferred, requests, ms to the load event) of one visit with an empty cache."""
    context = browser.new_context(viewport={"width": 1300, "height": 900})
    if cookies:
        context.add_cookies(cookies)  # type: ignore[arg-type]
    page = context.new_page()
    sizes: list[int] = []

    def on_finished(request):  # type: ignore[no-untyped-def]
        s = request.sizes()
        sizes.append(s["responseHeadersSize"] + s["responseBodySize"])

    page.on("requestfinished", on_finished)
    page.goto(f"{base}{path}", wait_until="load")
    load_ms = page.evaluate(
        "() => { const n = performance.getEntriesByType('navigation')[0];"
        " return n.loadEventStart - n.startTime; }"
    )
    page.wait_for_load_state("networkidle")
    context.close()
    return sum(sizes), len(sizes), float(load_ms)


def warm_ms(client: httpx2.Client, path: str, repeat: int) -> float:
    client.get(path)
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        r = client.get(path)
        samples.append((time.perf_counter() - t0) * 1e3)
        assert r.status_code == 200, (path, r.status_code)
    return statistics.median(samples)


def measure(base: str, repeat: int) -> list[PageCost]:
    costs: list[PageCost] = []
    with httpx2.Client(base_url=base, follow_redirects=True, timeout=30) as client:
        anon_warm = warm_ms(client, "/login", repeat)
        sign_in(client, DEMO_USERS[Role.admin])
        pages = main_pages(client)
        warm = {p: warm_ms(client, p, repeat) for p in pages}
        cookies = [{"name": c.name, "value": c.value, "url": base} for c in client.cookies.jar]
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        size, n, load = cold_visit(browser, base, "/login", [])
        costs.append(PageCost("/login", size, n, load, anon_warm))
        for path in pages:
            size, n, load = cold_visit(browser, base, path, cookies)
            costs.append(PageCost(path, size, n, load, warm[path]))
        browser.close()
    return costs


def report(costs: list[PageCost]) -> bool:
    print(f"{'page':<34}{'transferred':>13}{'requests':>10}{'cold load':>12}{'warm HTML':>12}")
    for c in costs:
        print(
            f"{c.path:<34}{c.transferred / 1000:>10.1f} KB{c.requests:>10}"
            f"{c.cold_load_ms:>9.0f} ms{c.warm_ms:>9.1f} ms"
        )
    login = next(c for c in costs if c.path == "/login")
    dash = next(c for c in costs if c.path == "/")
    slowest = max(costs, key=lambda c: c.warm_ms)
    checks = {
        f"login transferred {login.transferred / 1000:.1f} KB < 300 KB": login.transferred
        < LOGIN_BUDGET_BYTES,
        f"slowest warm page {slowest.path} {slowest.warm_ms:.1f} ms < 500 ms": slowest.warm_ms
        < WARM_BUDGET_MS,
        f"dashboard cold load {dash.cold_load_ms:.0f} ms < 1000 ms": dash.cold_load_ms
        < COLD_DASHBOARD_BUDGET_MS,
    }
    for text, ok in checks.items():
        print(f"{'MET ' if ok else 'MISSED'} {text}")
    return all(checks.values())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    with demo_server(args.database_url, workers=1) as base:
        ok = report(measure(base, args.repeat))
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
