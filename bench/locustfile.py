"""Locust scenario: the four personas' requests mixed, against a running Axisboard with demo data.

Run through ``python -m bench.load`` (starts the app on Postgres and runs this headless at 20 and
50 users), or by hand against a server of your own:

    PYTHONPATH=. locust -f bench/locustfile.py --headless -u 20 -r 10 -t 90s \
        --host http://127.0.0.1:8000

Each request is named by its type (``page: …``, ``estimate: …``, ``api: …``, ``submit: …``) so the
statistics group by what the issue's targets talk about: pages and estimates.

The statistics are reset ``LOAD_WARMUP_S`` seconds (default 10) after the last user has logged in:
the figures are the steady state, without the burst of simultaneous logins (Argon2 is slow on
purpose) or each server process's first, uncached computations (``bench.load`` measures those
separately).
"""

from __future__ import annotations

import os
import random
import re
from typing import Any

import gevent
from locust import HttpUser, between, task

from app.auth.permissions import Role
from app.demo import DEMO_PASSWORD, DEMO_USERS
from bench.scenario import ESTIMATE, ESTIMATE_PAGES, QUESTIONNAIRE

WARMUP_S = float(os.environ.get("LOAD_WARMUP_S", "10"))
_logged_in = 0


def _all_logged_in(user: HttpUser) -> None:
    """Once every user is in, wait out the warm-up, then start the measured window."""
    global _logged_in
    _logged_in += 1
    runner = user.environment.runner
    if runner is not None and _logged_in == runner.target_user_count:
        gevent.spawn_later(WARMUP_S, runner.stats.reset_all)


def _csrf(html: str) -> str:
    m = re.search(r'name="csrftoken" value="([^"]+)"', html)
    return m.group(1) if m else ""


class Persona(HttpUser):
    abstract = True
    role: Role
    wait_time = between(0.5, 1.5)

    def on_start(self) -> None:
        email = DEMO_USERS[self.role]
        page = self.client.get("/login", name="page: login")
        self.client.post(
            "/login",
            name="submit: login",
            allow_redirects=False,
            data={
                "csrftoken": _csrf(page.text),
                "next": "/",
                "email": email,
                "password": DEMO_PASSWORD,
            },
        )
        r = self.client.post(
            "/api/v1/auth/token",
            name="api: token",
            data={"username": email, "password": DEMO_PASSWORD},
        )
        self.api = {"Authorization": f"Bearer {r.json()['access_token']}"}
        deps = self.client.get("/api/v1/deployments", headers=self.api, name="api: deployments")
        self.deployments = [d["id"] for d in deps.json()["items"]]
        ports = self.client.get("/api/v1/portfolios", headers=self.api, name="api: portfolios")
        self.portfolios = [p["id"] for p in ports.json()]
        _all_logged_in(self)

    def page(self, path: str, name: str) -> Any:
        with self.client.get(path, name=f"page: {name}", catch_response=True) as r:
            if r.status_code != 200 or "<html" not in r.text:
                r.failure(f"{r.status_code}")
            return r

    @property
    def deployment(self) -> int:
        return random.choice(self.deployments)


class ProductLead(Persona):
    role = Role.product_lead
    weight = 3

    @task(3)
    def dashboard(self) -> None:
        self.page("/", "dashboard")
        self.page(f"/deployments/{self.deployment}", "deployment")

    @task(2)
    def assess(self) -> None:
        dep = self.deployment
        form = self.page(f"/deployments/{dep}/assessment", "questionnaire")
        r = self.client.post(
            f"/deployments/{dep}/assessment",
            name="submit: questionnaire",
            data={"csrftoken": _csrf(form.text), **QUESTIONNAIRE},
            allow_redirects=False,
        )
        if r.status_code == 303:
            self.page(r.headers["location"], "recommendation")


class Architect(Persona):
    role = Role.architect
    weight = 3

    @task(4)
    def estimate(self) -> None:
        self.client.post(
            "/api/v1/estimates/inference",
            json=ESTIMATE,
            headers=self.api,
            name="estimate: inference",
        )

    @task(1)
    def compare_gpus(self) -> None:
        self.client.post(
            "/api/v1/estimates/inference/compare-gpus",
            json=ESTIMATE,
            headers=self.api,
            name="estimate: compare GPUs",
        )

    @task(2)
    def portfolios(self) -> None:
        ids = ",".join(str(i) for i in random.sample(self.portfolios, min(3, len(self.portfolios))))
        self.page(f"/portfolios/compare?ids={ids}", "portfolio compare")
        self.page(f"/portfolios/{random.choice(self.portfolios)}", "portfolio")

    @task(1)
    def estimate_page(self) -> None:
        self.page(random.choice(ESTIMATE_PAGES), "estimate form")


class Governance(Persona):
    role = Role.governance
    weight = 2

    @task(2)
    def risks(self) -> None:
        self.page(f"/deployments/{self.deployment}/risks", "risks")

    @task(1)
    def audit(self) -> None:
        self.page("/audit", "audit log")

    @task(1)
    def report(self) -> None:
        self.client.get(
            f"/api/v1/deployments/{self.deployment}/report?format=json",
            headers=self.api,
            name="api: report (JSON)",
        )


class Viewer(Persona):
    role = Role.viewer
    weight = 2

    @task
    def browse(self) -> None:
        self.page("/matrix", "matrix")
        self.page(f"/deployments/{self.deployment}/portfolios", "portfolio list")
