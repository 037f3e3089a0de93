from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from app.audit import service as audit
from app.audit.chain import GENESIS_HASH, ChainedEvent, compute_hash, mask_secrets, verify_chain
from app.audit.models import AuditEvent
from tests.factories import api_headers, create_deployment, create_user


def test_chain_links_and_verifies(session: Session, audit_key: bytes) -> None:
    user = create_user(session, audit_key=audit_key)
    for i in range(3):
        create_deployment(session, user=user, audit_key=audit_key, name=f"D{i}")
    events = session.execute(select(AuditEvent).order_by(AuditEvent.id)).scalars().all()
    assert events[0].prev_hash == GENESIS_HASH
    for a, b in zip(events, events[1:], strict=False):
        assert b.prev_hash == a.hash
    result = audit.verify(session, audit_key)
    assert result.ok
    assert result.events_checked == len(events)
    assert result.first_bad_event_id is None


def test_verify_detects_wrong_key(session: Session, audit_key: bytes) -> None:
    create_user(session, audit_key=audit_key)
    assert not audit.verify(session, b"another-key").ok


def test_pure_chain_detects_deletion_and_edit() -> None:
    key = b"k"
    evs, prev = [], GENESIS_HASH
    for i in range(4):
        content = {"action": "x", "n": i}
        h = compute_hash(key, content, prev)
        evs.append(ChainedEvent(id=i + 1, content=content, prev_hash=prev, hash=h))
        prev = h
    assert verify_chain(key, evs).ok
    r = verify_chain(key, evs[:1] + evs[2:])
    assert not r.ok
    assert r.first_bad_event_id == 3
    edited = ChainedEvent(
        id=2, content={"action": "x", "n": 99}, prev_hash=evs[1].prev_hash, hash=evs[1].hash
    )
    r = verify_chain(key, [evs[0], edited, *evs[2:]])
    assert not r.ok
    assert r.first_bad_event_id == 2
    assert "content" in (r.reason or "")


def test_secrets_masked() -> None:
    assert mask_secrets({"password": "p", "nested": [{"token_hash": "t", "ok": 1}]}) == {
        "password": "***",
        "nested": [{"token_hash": "***", "ok": 1}],
    }


def test_tamper_detected_after_bypassing_guard(session: Session, audit_key: bytes) -> None:
    """Modify a row directly (trigger disabled on Postgres): verify names the altered event."""
    user = create_user(session, audit_key=audit_key)
    create_deployment(session, user=user, audit_key=audit_key, name="Original")
    target = session.execute(
        select(AuditEvent).where(AuditEvent.action == "deployment.create")
    ).scalar_one()
    pg = session.get_bind().dialect.name == "postgresql"
    if pg:
        session.execute(
            text("ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update_delete")
        )
    session.execute(
        text("UPDATE audit_events SET actor_email = 'someone-else@x.test' WHERE id = :i"),
        {"i": target.id},
    )
    if pg:
        session.execute(
            text("ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_update_delete")
        )
    session.expire_all()
    result = audit.verify(session, audit_key)
    assert not result.ok
    assert result.first_bad_event_id == target.id


def test_postgres_trigger_refuses_update_delete_truncate(
    session: Session, audit_key: bytes
) -> None:
    if session.get_bind().dialect.name != "postgresql":
        # SQLite has no such trigger; the guarantee is Postgres-only and CI runs on Postgres.
        assert session.get_bind().dialect.name == "sqlite"
        return
    create_user(session, audit_key=audit_key)
    for stmt in (
        "UPDATE audit_events SET action = 'x'",
        "DELETE FROM audit_events",
        "TRUNCATE audit_events",
    ):
        nested = session.begin_nested()
        with pytest.raises(DBAPIError, match="append-only"):
            session.execute(text(stmt))
        nested.rollback()


def test_audit_api_scoped_and_paginated(
    client: TestClient, session: Session, audit_key: bytes
) -> None:
    other = create_user(session, org="Other", audit_key=audit_key)
    create_deployment(session, user=other, audit_key=audit_key, name="Secret project")
    gov = create_user(session, org="Acme", role="governance", audit_key=audit_key)
    h = api_headers(client, gov.email)
    r = client.get("/api/v1/audit/events", headers=h)
    assert r.status_code == 200
    assert all("Secret project" not in str(e["after"]) for e in r.json()["items"])
    admin = create_user(session, org="Acme", role="admin", audit_key=audit_key)
    for i in range(3):
        create_deployment(session, user=admin, audit_key=audit_key, name=f"P{i}")
    page = client.get("/api/v1/audit/events?limit=2&action=deployment.create", headers=h).json()
    assert page["total"] == 3
    assert len(page["items"]) == 2
    v = client.get("/api/v1/audit/verify", headers=h).json()
    assert v["ok"] is True
    # Acme's own events (two users, three deployments); Other's are checked but not counted
    assert v["events_checked"] == 5


def test_user_creation_audited_without_password(session: Session, audit_key: bytes) -> None:
    create_user(session, email="pw@acme.test", audit_key=audit_key)
    ev = (
        session.execute(select(AuditEvent).where(AuditEvent.action == "user.create"))
        .scalars()
        .all()
    )
    assert ev
    assert all("password" not in str(e.after).lower() for e in ev)
