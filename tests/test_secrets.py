"""Secrets never leave where they belong: passwords, API tokens, session cookies and the secret key
appear in no log line, no error response and no audit payload, whatever the request does (a
failed or successful login, a token used and revoked, a crash inside a handler)."""

from __future__ import annotations

import hashlib
import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.audit.models import AuditEvent
from app.config import Settings
from app.logging import configure_logging
from tests.factories import PASSWORD, create_deployment, create_user, csrf_from


@pytest.fixture(params=["console", "json"])
def log_text(request: pytest.FixtureRequest, asgi: Any) -> Iterator[io.StringIO]:
    """Every log record, rendered by the app's own formatter (console or JSON), at DEBUG."""
    configure_logging("DEBUG", json=request.param == "json")
    root = logging.getLogger()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(root.handlers[0].formatter if root.handlers else None)
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)
    configure_logging("WARNING")


def test_secrets_stay_out_of_logs_errors_and_audit_payloads(
    client: TestClient, session: Session, settings: Settings, asgi: Any,
    log_text: io.StringIO, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    user = create_user(session, role="admin")
    create_deployment(session, user=user)
    session.commit()
    wrong = "Tr0ub4dor&3-wrong-guess"
    responses = []

    # Logins, failed and successful, on the API and the login form.
    responses.append(client.post("/api/v1/auth/token",
                                 data={"username": user.email, "password": wrong}))  # fmt: skip
    page = client.get("/login")
    responses.append(client.post("/login", data={"csrftoken": csrf_from(page.text),
                     "email": user.email, "password": wrong, "next": "/"}))  # fmt: skip
    ok = client.post("/login", data={"csrftoken": csrf_from(client.get("/login").text),
                     "email": user.email, "password": PASSWORD, "next": "/"},
                     follow_redirects=False)  # fmt: skip
    assert ok.status_code == 303
    cookie = client.cookies.get(settings.session_cookie_name)
    assert cookie
    issued = client.post("/api/v1/auth/token", data={"username": user.email,
                                                     "password": PASSWORD})  # fmt: skip
    token = issued.json()["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}

    # The token used, then revoked and used again; a malformed one; a page with a bad cookie.
    responses.append(client.get("/api/v1/auth/me", headers=bearer))
    responses.append(client.post("/api/v1/deployments", json={"name": ""}, headers=bearer))
    responses.append(client.post("/api/v1/auth/revoke", headers=bearer))
    responses.append(client.get("/api/v1/auth/me", headers=bearer))
    responses.append(client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}x"}))

    # A crash inside a handler: a generic 500, logged without the request's credentials.
    again = client.post("/api/v1/auth/token", data={"username": user.email, "password": PASSWORD})
    fresh = again.json()["access_token"]

    def boom(*_: Any, **__: Any) -> None:
        raise RuntimeError("handler crashed")

    monkeypatch.setattr("app.catalog.api.CatalogRepository.gpus", boom)
    crash_client = TestClient(asgi, raise_server_exceptions=False)
    crashed = crash_client.get("/api/v1/gpus", headers={"Authorization": f"Bearer {fresh}"})
    assert crashed.status_code == 500
    assert "Traceback" not in crashed.text
    assert "handler crashed" not in crashed.text
    responses.append(crashed)

    secrets = {
        "password": PASSWORD,
        "wrong password": wrong,
        "api token": token,
        "second api token": fresh,
        "token digest": hashlib.sha256(token.encode()).hexdigest(),
        "session cookie": cookie,
        "secret key": settings.secret_key,
        "audit key": settings.audit_hmac_key.hex(),
    }
    logs = log_text.getvalue()
    assert "unhandled error" in logs  # the crash is logged, with its traceback
    assert "handler crashed" in logs
    bodies = [r.text + json.dumps(dict(r.headers)) for r in responses]
    events = [json.dumps([e.action, e.before, e.after], default=str)
              for e in session.scalars(select(AuditEvent))]  # fmt: skip
    assert any("user.create" in e for e in events), "creating the user is audited"
    for what, value in secrets.items():
        assert value not in logs, f"the {what} is in the logs"
        for body in bodies:
            assert value not in body, f"the {what} is in an error response"
        for event in events:
            assert value not in event, f"the {what} is in an audit payload"
    for event in events:
        assert "password" not in event.lower(), event  # not even a hash of it
