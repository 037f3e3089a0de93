"""Secrets never leave where they belong: passwords, API tokens, session cookies and the secret key
appear in no log line, no error response and no audit payload, whatever the request does (a
failed or successful login, a token used and revoked, a crash inside a handler)."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
from collections.abc import Iterator
from secrets import token_bytes, token_hex, token_urlsafe
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.audit.models import AuditEvent
from app.config import (
    MIN_SECRET_BITS,
    Environment,
    Settings,
    estimated_bits,
    secret_key_problem,
)
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
    client: TestClient,
    session: Session,
    settings: Settings,
    asgi: Any,
    log_text: io.StringIO,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    user = create_user(session, role="admin")
    create_deployment(session, user=user)
    session.commit()
    wrong = "Tr0ub4dor&3-wrong-guess"
    responses = []

    # Logins, failed and successful, on the API and the login form.
    responses.append(
        client.post("/api/v1/auth/token", data={"username": user.email, "password": wrong})
    )
    page = client.get("/login")
    responses.append(
        client.post(
            "/login",
            data={
                "csrftoken": csrf_from(page.text),
                "email": user.email,
                "password": wrong,
                "next": "/",
            },
        )
    )
    ok = client.post(
        "/login",
        data={
            "csrftoken": csrf_from(client.get("/login").text),
            "email": user.email,
            "password": PASSWORD,
            "next": "/",
        },
        follow_redirects=False,
    )
    assert ok.status_code == 303
    cookie = client.cookies.get(settings.session_cookie_name)
    assert cookie
    issued = client.post("/api/v1/auth/token", data={"username": user.email, "password": PASSWORD})
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
    events = [
        json.dumps([e.action, e.before, e.after], default=str)
        for e in session.scalars(select(AuditEvent))
    ]
    assert any("user.create" in e for e in events), "creating the user is audited"
    for what, value in secrets.items():
        assert value not in logs, f"the {what} is in the logs"
        for body in bodies:
            assert value not in body, f"the {what} is in an error response"
        for event in events:
            assert value not in event, f"the {what} is in an audit payload"
    for event in events:
        assert "password" not in event.lower(), event  # not even a hash of it


WEAK_KEYS = [
    "a" * 32,
    "a" * 64,
    "ab" * 32,
    "abcdefghij" * 4,  # 10 distinct characters but a repeated run
    "0123456789abcdef" * 4,  # 16 distinct, 256 "bits" by frequency alone: repeated
    "correct horse battery staple abc",
    "password" + "1234567890" * 3,
]


@pytest.mark.parametrize("key", WEAK_KEYS)
def test_production_refuses_low_entropy_secret_keys(key: str) -> None:
    with pytest.raises(ValidationError) as exc:
        Settings(environment=Environment.production, secret_key=key)
    message = str(exc.value)
    assert "AXISBOARD_SECRET_KEY" in message
    assert "openssl rand -hex 32" in message
    assert key not in message  # the error never prints the key back
    assert key[:12] not in message
    Settings(environment=Environment.development, secret_key=key)  # development takes anything


def test_random_secret_keys_pass() -> None:
    """What the README tells people to run (`openssl rand -hex 32`) and its usual equivalents are
    accepted every time (300 draws each)."""
    for _ in range(300):
        for key in (token_hex(32), token_urlsafe(32), base64.b64encode(token_bytes(32)).decode()):
            assert secret_key_problem(key) is None, key
            assert estimated_bits(key) >= MIN_SECRET_BITS
    assert estimated_bits("a" * 32) == 0
    Settings(environment=Environment.production, secret_key=token_hex(32))
