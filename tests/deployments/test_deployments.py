from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from app.audit.models import AuditEvent
from app.cli import alembic_config
from app.db import make_engine, make_sessionmaker, session_scope
from app.deployments import service as deployments
from app.deployments.models import Deployment
from app.deployments.repository import DeploymentRepository
from app.deployments.schemas import DeploymentCreate
from app.errors import Conflict
from app.seed import load_reference_data
from tests.factories import (
    AUDIT_KEY,
    api_headers,
    caller_for,
    create_deployment,
    create_user,
    csrf,
    deployment_payload,
    page_login,
)
from tests.rendering import Renders


def _count(session: Session) -> int:
    return session.execute(select(func.count(Deployment.id))).scalar_one()


class TestApiCrud:
    def test_create_read_update_delete(self, client: TestClient, session: Session) -> None:
        user = create_user(session, role="product_lead")
        h = api_headers(client, user.email)
        r = client.post("/api/v1/deployments", json=deployment_payload(name="Chat"), headers=h)
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["model"] == "llama_3_1_8b"
        assert body["gpu"] == "h100_sxm_80gb"
        assert body["segments"] == [{"name": "EU", "risk": "high"}, {"name": "US", "risk": "low"}]
        assert r.headers["location"] == f"/api/v1/deployments/{body['id']}"
        dep_id = body["id"]
        assert client.get(f"/api/v1/deployments/{dep_id}", headers=h).json()["name"] == "Chat"
        r = client.patch(f"/api/v1/deployments/{dep_id}", json={"n_gpus": 4}, headers=h)
        assert r.status_code == 200
        assert r.json()["n_gpus"] == 4
        assert r.json()["name"] == "Chat"
        listing = client.get("/api/v1/deployments", headers=h).json()
        assert listing["total"] == 1
        assert listing["items"][0]["id"] == dep_id
        assert client.delete(f"/api/v1/deployments/{dep_id}", headers=h).status_code == 204
        assert client.get(f"/api/v1/deployments/{dep_id}", headers=h).status_code == 404

    def test_every_change_is_audited(self, client: TestClient, session: Session) -> None:
        user = create_user(session, role="architect")
        h = api_headers(client, user.email)
        dep_id = client.post("/api/v1/deployments", json=deployment_payload(), headers=h).json()[
            "id"
        ]
        client.patch(f"/api/v1/deployments/{dep_id}", json={"n_gpus": 2}, headers=h)
        client.delete(f"/api/v1/deployments/{dep_id}", headers=h)
        actions = session.execute(
            select(AuditEvent.action, AuditEvent.before, AuditEvent.after)
            .where(AuditEvent.entity_type == "deployment", AuditEvent.entity_id == str(dep_id))
            .order_by(AuditEvent.id)
        ).all()
        assert [a[0] for a in actions] == [
            "deployment.create",
            "deployment.update",
            "deployment.delete",
        ]
        assert actions[1][1]["n_gpus"] == 1
        assert actions[1][2]["n_gpus"] == 2
        assert actions[2][2] is None


class TestValidation:
    @pytest.mark.parametrize(
        ("overrides", "field"),
        [
            ({"model": "gpt-17"}, "model"),
            ({"gpu": "tpu_v9"}, "gpu"),
            ({"n_gpus": 0}, "n_gpus"),
            ({"engine": "magic"}, "engine"),
            ({"profile": "hobby"}, "profile"),
            ({"ttft_slo_ms": -5}, "ttft_slo_ms"),
            ({"mean_output_tokens": 0}, "mean_output_tokens"),
            ({"regulatory_flags": ["made_up"]}, "regulatory_flags"),
            ({"segments": [{"name": "EU", "risk": "extreme"}]}, "segments"),
            (
                {"segments": [{"name": "EU", "risk": "low"}, {"name": "eu", "risk": "high"}]},
                "segments",
            ),
            ({"name": ""}, "name"),
            ({"unexpected": 1}, "unexpected"),
        ],
    )
    def test_bad_input_is_422_naming_the_field(
        self, client: TestClient, session: Session, overrides: dict[str, object], field: str
    ) -> None:
        user = create_user(session)
        h = api_headers(client, user.email)
        before = _count(session)
        r = client.post("/api/v1/deployments", json=deployment_payload(**overrides), headers=h)
        assert r.status_code == 422, r.text
        body = r.json()
        if isinstance(body["detail"], list):
            assert any(field in [str(p) for p in e["loc"]] for e in body["detail"]), body
        else:
            assert body["field"] == field
        assert _count(session) == before

    def test_nan_and_inf_refused(self, client: TestClient, session: Session) -> None:
        user = create_user(session)
        h = api_headers(client, user.email)
        raw = deployment_payload()
        import json as _json

        body = _json.dumps(raw).replace('"ttft_slo_ms": 500', '"ttft_slo_ms": NaN')
        r = client.post(
            "/api/v1/deployments", content=body, headers={**h, "Content-Type": "application/json"}
        )
        assert r.status_code == 422

    def test_duplicate_name_is_409(self, client: TestClient, session: Session) -> None:
        user = create_user(session)
        h = api_headers(client, user.email)
        assert (
            client.post(
                "/api/v1/deployments", json=deployment_payload(name="Same"), headers=h
            ).status_code
            == 201
        )
        r = client.post("/api/v1/deployments", json=deployment_payload(name="same"), headers=h)
        assert r.status_code == 409
        assert r.json()["field"] == "name"

    def test_patch_null_refused(self, client: TestClient, session: Session) -> None:
        user = create_user(session)
        dep = create_deployment(session, user=user)
        h = api_headers(client, user.email)
        r = client.patch(f"/api/v1/deployments/{dep.id}", json={"n_gpus": None}, headers=h)
        assert r.status_code == 422

    def test_oversized_body_is_413(self, client: TestClient, session: Session) -> None:
        user = create_user(session)
        h = api_headers(client, user.email)
        r = client.post(
            "/api/v1/deployments",
            content=b"{" + b" " * 2_000_000 + b"}",
            headers={**h, "Content-Type": "application/json"},
        )
        assert r.status_code == 413


class TestTenancy:
    """Every deployment route, given another organisation's id, answers 404 and changes nothing."""

    def test_api_routes(self, client: TestClient, session: Session) -> None:
        other = create_user(session, org="Other Org")
        theirs = create_deployment(session, user=other, name="Theirs")
        me = create_user(session, org="Acme", role="admin")
        h = api_headers(client, me.email)
        assert client.get(f"/api/v1/deployments/{theirs.id}", headers=h).status_code == 404
        assert (
            client.patch(
                f"/api/v1/deployments/{theirs.id}", json={"n_gpus": 9}, headers=h
            ).status_code
            == 404
        )
        assert client.delete(f"/api/v1/deployments/{theirs.id}", headers=h).status_code == 404
        assert client.get("/api/v1/deployments", headers=h).json()["total"] == 0
        session.refresh(theirs)
        assert theirs.n_gpus == 1

    def test_page_routes(self, client: TestClient, session: Session) -> None:
        other = create_user(session, org="Other Org")
        theirs = create_deployment(session, user=other, name="Theirs")
        me = create_user(session, org="Acme", role="admin")
        page_login(client, me.email)
        token = csrf(client)
        assert client.get(f"/deployments/{theirs.id}").status_code == 404
        assert client.get(f"/deployments/{theirs.id}/edit").status_code == 404
        r = client.post(
            f"/deployments/{theirs.id}/edit",
            data={"csrftoken": token, **deployment_payload(name="Hijack")},
        )
        assert r.status_code == 404
        r = client.post(f"/deployments/{theirs.id}/delete", data={"csrftoken": token})
        assert r.status_code == 404
        assert "Theirs" not in client.get("/deployments").text
        session.refresh(theirs)
        assert theirs.name == "Theirs"

    def test_same_name_allowed_in_different_orgs(
        self, client: TestClient, session: Session
    ) -> None:
        create_deployment(session, user=create_user(session, org="Other Org"), name="Chat")
        me = create_user(session, org="Acme")
        h = api_headers(client, me.email)
        assert (
            client.post(
                "/api/v1/deployments", json=deployment_payload(name="Chat"), headers=h
            ).status_code
            == 201
        )


class TestPages:
    def _form(self, **overrides: object) -> dict[str, object]:
        p = deployment_payload(**overrides)
        if not isinstance(p["segments"], str):
            p["segments"] = "\n".join(f"{s['name']}: {s['risk']}" for s in p["segments"])
        return p

    def test_create_via_form(self, client: TestClient, session: Session, rendered: Renders) -> None:
        user = create_user(session, role="product_lead")
        page_login(client, user.email)
        assert client.get("/deployments/new").status_code == 200
        form = rendered.last("deployments/form.html").context
        assert form["deployment"] is None
        assert form["errors"] == {}
        assert form["values"]["engine"] == "vllm"  # the defaults a new deployment starts from
        assert ("vllm", "vllm") in form["engine_options"]
        data = {"csrftoken": csrf(client), **self._form(name="Form made")}
        r = client.post("/deployments/new", data=data, follow_redirects=False)
        assert r.status_code == 303, r.text
        detail = client.get(r.headers["location"])
        page = rendered.last()
        assert page.template == "deployments/detail.html"
        assert page.context["deployment"].name == "Form made"
        assert page.context["flash"]["message"] == "Deployment 'Form made' created."
        dep_id = page.context["deployment"].id
        client.get(f"/deployments/{dep_id}/assessments-panel")  # the hub's panels (htmx)
        assert rendered.last("assessments/deployment_panel.html").context["assessments"] == []
        client.get(f"/deployments/{dep_id}/portfolios-panel")
        assert rendered.last("portfolios/deployment_panel.html").context["portfolio_count"] == 0
        assert "Form made" in detail.text
        assert "Deployment &#39;Form made&#39; created." in detail.text

    def test_form_errors_inline_and_values_kept(
        self, client: TestClient, session: Session, rendered: Renders
    ) -> None:
        user = create_user(session)
        page_login(client, user.email)
        before = _count(session)
        data = {
            "csrftoken": csrf(client),
            **self._form(name="Keep me", n_gpus="0", segments="EU high"),
        }
        r = client.post("/deployments/new", data=data)
        assert r.status_code == 422
        page = rendered.last()
        assert (page.template, page.status_code) == ("deployments/form.html", 422)
        assert set(page.context["errors"]) == {"n_gpus", "segments"}
        assert page.context["values"]["name"] == "Keep me"  # what was typed is kept
        assert page.context["values"]["segments"] == "EU high"
        assert 'id="n_gpus-error"' in r.text
        assert 'id="segments-error"' in r.text
        assert 'value="Keep me"' in r.text
        assert _count(session) == before

    def test_edit_and_delete_via_form(
        self, client: TestClient, session: Session, rendered: Renders
    ) -> None:
        user = create_user(session, role="architect")
        dep = create_deployment(session, user=user, name="Before")
        page_login(client, user.email)
        assert 'value="Before"' in client.get(f"/deployments/{dep.id}/edit").text
        form = rendered.last("deployments/form.html").context
        assert form["deployment"] is dep
        assert form["values"]["name"] == "Before"
        data = {"csrftoken": csrf(client), **self._form(name="After")}
        r = client.post(f"/deployments/{dep.id}/edit", data=data, follow_redirects=False)
        assert r.status_code == 303
        session.refresh(dep)
        assert dep.name == "After"
        r = client.post(
            f"/deployments/{dep.id}/delete",
            data={"csrftoken": csrf(client)},
            follow_redirects=False,
        )
        assert r.status_code == 303
        assert client.get(f"/deployments/{dep.id}").status_code == 404

    def test_user_text_is_escaped(
        self, client: TestClient, session: Session, rendered: Renders
    ) -> None:
        user = create_user(session)
        create_deployment(
            session,
            user=user,
            name="<script>alert(1)</script>",
            use_case="<img src=x onerror=alert(1)>",
        )
        page_login(client, user.email)
        html = client.get("/deployments").text
        listing = rendered.last("deployments/list.html").context
        assert [d.name for d in listing["deployments"]] == ["<script>alert(1)</script>"]
        assert (listing["total"], listing["archived"]) == (1, "exclude")
        assert "<script>alert(1)</script>" not in html
        assert "&lt;script&gt;" in html


class TestConcurrentNames:
    """Two requests creating (or renaming to) the same name at once: both pass the name check,
    the unique constraint stops the second write, and that is the same 409 as the check, with
    nothing written (API and form). The real race, two sessions on Postgres, is at the end."""

    @pytest.fixture
    def check_passes_once(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """The name check answers "free" once, as it did for the request that lost the race."""
        real = DeploymentRepository.name_taken
        calls = {"n": 0}

        def racing(repo: DeploymentRepository, name: str, *, exclude_id: int | None = None) -> bool:
            calls["n"] += 1
            return False if calls["n"] == 1 else real(repo, name, exclude_id=exclude_id)

        monkeypatch.setattr(DeploymentRepository, "name_taken", racing)

    @pytest.fixture
    def owner(self, session: Session) -> Any:
        user = create_user(session, role="product_lead")
        create_deployment(session, user=user, name="Racer")
        create_deployment(session, user=user, name="Other")
        session.commit()
        return user

    def _written(self, session: Session) -> tuple[int, int]:
        session.expire_all()
        return _count(session), session.execute(select(func.count(AuditEvent.id))).scalar_one()

    def test_api_create(
        self, client: TestClient, session: Session, owner: Any, check_passes_once: None
    ) -> None:
        h = api_headers(client, owner.email)
        before = self._written(session)
        r = client.post("/api/v1/deployments", json=deployment_payload(name="Racer"), headers=h)
        assert r.status_code == 409, r.text
        assert r.json() == {"detail": "a deployment named 'Racer' already exists", "field": "name"}
        assert self._written(session) == before
        ok = client.post("/api/v1/deployments", json=deployment_payload(name="Free"), headers=h)
        assert ok.status_code == 201  # the request's transaction was left usable

    def test_api_rename(
        self, client: TestClient, session: Session, owner: Any, check_passes_once: None
    ) -> None:
        h = api_headers(client, owner.email)
        other = client.get("/api/v1/deployments", headers=h).json()["items"]
        other_id = next(d["id"] for d in other if d["name"] == "Other")
        before = self._written(session)
        r = client.patch(f"/api/v1/deployments/{other_id}", json={"name": "Racer"}, headers=h)
        assert r.status_code == 409, r.text
        assert r.json()["field"] == "name"
        assert self._written(session) == before
        assert client.get(f"/api/v1/deployments/{other_id}", headers=h).json()["name"] == "Other"

    def test_form_create_keeps_what_was_typed(
        self, client: TestClient, session: Session, owner: Any, check_passes_once: None
    ) -> None:
        page_login(client, owner.email)
        form = {**deployment_payload(name="Racer", use_case="Typed use case"), "segments": ""}
        before = self._written(session)
        r = client.post("/deployments/new", data={"csrftoken": csrf(client), **form})
        assert r.status_code == 409
        assert "already exists" in r.text
        assert 'value="Typed use case"' in r.text or "Typed use case" in r.text
        assert "Traceback" not in r.text
        assert self._written(session) == before


def _postgres_url() -> str | None:
    url = os.environ.get("TEST_DATABASE_URL", "")
    return url if url.startswith("postgresql") else None


@pytest.fixture
def race_db() -> Iterator[sessionmaker[Session]]:
    """A migrated Postgres database of its own (``<test database>_race``): the race needs two
    connections that commit, which the per-test transaction of the other tests cannot give."""
    base = make_url(_postgres_url() or "")
    name = f"{base.database}_race"
    admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        c.execute(text(f'CREATE DATABASE "{name}"'))
    url = base.set(database=name).render_as_string(hide_password=False)
    command.upgrade(alembic_config(url), "head")
    engine = make_engine(url)
    factory = make_sessionmaker(engine)
    with session_scope(factory) as s:
        load_reference_data(s)
    yield factory
    engine.dispose()
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.mark.skipif(
    _postgres_url() is None,
    reason="two committing sessions on Postgres (CI sets TEST_DATABASE_URL); the forced "
    "IntegrityError path above runs on every backend",
)
def test_a_real_race_for_one_name_is_one_201_and_one_409(
    race_db: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    with session_scope(race_db) as s:
        user = create_user(s, role="product_lead")
        caller = caller_for(s, user)
    # Each request waits after its name check until the other has checked too: both see "free".
    both_checked = threading.Barrier(2, timeout=10)
    checked = threading.local()
    real = DeploymentRepository.name_taken

    def check_then_wait(repo: DeploymentRepository, name: str, **kw: Any) -> bool:
        taken = real(repo, name, **kw)
        if not getattr(checked, "done", False):
            checked.done = True
            both_checked.wait()
        return taken

    monkeypatch.setattr(DeploymentRepository, "name_taken", check_then_wait)
    outcomes: list[str] = []

    def request() -> None:
        try:
            with session_scope(race_db) as s:
                data = DeploymentCreate.model_validate(deployment_payload(name="Racer"))
                deployments.create(s, caller, data, audit_key=AUDIT_KEY)
            outcomes.append("created")
        except Conflict as exc:
            outcomes.append(f"conflict on {exc.field}")

    threads = [threading.Thread(target=request) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(outcomes) == ["conflict on name", "created"]
    with session_scope(race_db) as s:
        names = s.execute(select(Deployment.name)).scalars().all()
    assert names == ["Racer"]
