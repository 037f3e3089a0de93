"""Checkpoints of the audit-chain head outside the database, written after every commit that
appends events (file and Redis stores), and a verification that tells each organisation only its
own figures (issue 17, items 5 and 10). Runs on SQLite and, with TEST_DATABASE_URL, Postgres."""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from app.audit import checkpoints, signing
from app.audit import service as audit
from app.audit.chain import GENESIS_HASH, ChainedEvent, compute_hash, verify_chain_for
from app.audit.models import AuditEvent
from app.config import Settings
from tests.factories import api_headers, create_deployment, create_user, deployment_payload

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _bypass(session: Session, sql: str, params: dict[str, Any]) -> None:
    """What a database superuser can do: the append-only trigger disabled on Postgres."""
    pg = session.get_bind().dialect.name == "postgresql"
    if pg:
        session.execute(
            text("ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update_delete")
        )
    session.execute(text(sql), params)
    if pg:
        session.execute(
            text("ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_update_delete")
        )
    session.expire_all()


def _ids(session: Session, org_id: int | None = None) -> list[int]:
    stmt = select(AuditEvent.id).order_by(AuditEvent.id)
    if org_id is not None:
        stmt = stmt.where(AuditEvent.org_id == org_id)
    return list(session.execute(stmt).scalars())


def _new_deployments(client: TestClient, h: dict[str, str], n: int, prefix: str) -> None:
    for i in range(n):
        r = client.post(
            "/api/v1/deployments", json=deployment_payload(name=f"{prefix} {i}"), headers=h
        )
        assert r.status_code == 201, r.text


def test_a_deleted_tail_is_caught_without_any_export(
    client: TestClient, session: Session, settings: Settings
) -> None:
    """No report exported, no cron: the appends themselves checkpointed the head, so deleting
    the newest events (as a superuser, trigger disabled) turns /api/v1/audit/verify red."""
    admin = create_user(session, role="admin")
    h = api_headers(client, admin.email)
    _new_deployments(client, h, 3, "Tail")
    assert client.get("/api/v1/audit/verify", headers=h).json()["ok"] is True
    ids = _ids(session)
    _bypass(session, "DELETE FROM audit_events WHERE id >= :i", {"i": ids[-2]})
    assert audit.verify(session, settings.audit_hmac_key).ok  # every remaining link holds…
    v = client.get("/api/v1/audit/verify", headers=h).json()
    assert v["ok"] is False  # …but the checkpoint outside the database names the gone head
    assert "tail was deleted" in v["reason"]
    assert v["first_bad_event_id"] == ids[-1]  # the caller's own event


def test_every_committed_append_moves_the_checkpoint(session: Session, settings: Settings) -> None:
    user = create_user(session)
    session.commit()
    first = checkpoints.latest(settings)
    assert first is not None
    assert first["event_id"] == _ids(session)[-1]
    signing.verify(signing.public_bytes(signing.report_signing_key(settings)), first)
    create_deployment(session, user=user, name="Second")
    assert checkpoints.latest(settings) == first  # not before the commit
    session.commit()
    second = checkpoints.latest(settings)
    assert second is not None
    assert second["event_id"] == _ids(session)[-1] > first["event_id"]
    assert second["org_id"] == user.org_id


def test_rolled_back_appends_leave_no_checkpoint(session: Session, settings: Settings) -> None:
    user = create_user(session)
    session.rollback()
    assert checkpoints.latest(settings) is None
    user = create_user(session)
    session.commit()
    kept = checkpoints.latest(settings)
    assert kept is not None
    nested = session.begin_nested()
    create_deployment(session, user=user, name="Rolled back")
    nested.rollback()
    session.commit()
    assert checkpoints.latest(settings) == kept  # the savepoint's event never existed
    assert audit.verify_with_checkpoint(session, settings).ok


def _cp(settings: Settings, event_id: int) -> dict[str, Any]:
    return checkpoints._checkpoint(settings, event_id, f"{event_id:064x}", 1)


@pytest.fixture(params=["file", "redis"])
def store_settings(
    request: pytest.FixtureRequest, settings: Settings, tmp_path: Path
) -> Iterator[Settings]:
    if request.param == "file":
        s = settings.model_copy(update={"audit_checkpoint_path": tmp_path / "cp.jsonl"})
    else:
        redis.Redis.from_url(REDIS_URL).ping()  # Redis must be up: fail, never skip
        s = settings.model_copy(update={"audit_checkpoint_url": REDIS_URL})
    store = checkpoints.store_for(s)
    store.clear()
    yield s
    store.clear()


def test_checkpoints_never_move_back(store_settings: Settings) -> None:
    store = checkpoints.store_for(store_settings)
    assert store.latest() is None
    assert store.advance(_cp(store_settings, 5))
    assert not store.advance(_cp(store_settings, 3))
    five = store.latest()
    assert five is not None
    assert five["event_id"] == 5
    # concurrent replicas: whichever order they land in, the highest head stays
    ids = list(range(6, 46))

    def replica(chunk: list[int]) -> None:
        for n in reversed(chunk):
            store.advance(_cp(store_settings, n))

    threads = [threading.Thread(target=replica, args=(ids[i::4],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    latest = store.latest()
    assert latest is not None
    assert latest["event_id"] == 45


def test_the_redis_store_catches_a_deleted_tail(session: Session, settings: Settings) -> None:
    redis.Redis.from_url(REDIS_URL).ping()
    shared = settings.model_copy(update={"audit_checkpoint_url": REDIS_URL})
    store = checkpoints.store_for(shared)
    store.clear()
    checkpoints.install(shared)
    try:
        user = create_user(session)
        for i in range(3):
            create_deployment(session, user=user, name=f"R{i}")
        session.commit()
        ids = _ids(session)
        raw = redis.Redis.from_url(REDIS_URL).hget("axisboard:audit:checkpoint", "event_id")
        assert raw is not None
        assert int(raw) == ids[-1]
        assert not Path(settings.audit_checkpoint_path).exists()  # nothing in the file store
        assert audit.verify_with_checkpoint(session, shared).ok
        _bypass(session, "DELETE FROM audit_events WHERE id = :i", {"i": ids[-1]})
        r = audit.verify_with_checkpoint(session, shared, user.org_id)
        assert not r.ok
        assert r.first_bad_event_id == ids[-1]
        assert "tail was deleted" in (r.reason or "")
    finally:
        store.clear()


def test_an_unreachable_store_fails_neither_the_write_nor_silently_the_check(
    session: Session, settings: Settings
) -> None:
    """The store down: writes and exports are still answered (the commit stands, the error is
    logged), and /api/v1/audit/verify says it cannot rule out a deleted tail instead of ok."""
    from app.main import build_asgi
    from tests.conftest import use_test_session

    down = settings.model_copy(update={"audit_checkpoint_url": "redis://127.0.0.1:1/0"})
    wrapped = build_asgi(down)
    use_test_session(wrapped.fastapi_app, session)  # type: ignore[attr-defined]
    admin = create_user(session, role="admin")
    with TestClient(wrapped, base_url="http://testserver") as c:
        h = api_headers(c, admin.email)
        _new_deployments(c, h, 1, "Down")
        dep = c.get("/api/v1/deployments", headers=h).json()["items"][0]["id"]
        r = c.get(f"/api/v1/deployments/{dep}/report?format=csv", headers=h)
        assert r.status_code == 200, r.text
        v = c.get("/api/v1/audit/verify", headers=h).json()
    assert v["ok"] is False
    assert "cannot read the checkpoint" in v["reason"]


def test_verify_tells_each_organisation_only_its_own_figures(
    client: TestClient, session: Session
) -> None:
    a = create_user(session, org="Org A", role="admin")
    b = create_user(session, org="Org B", role="admin")
    ha, hb = api_headers(client, a.email), api_headers(client, b.email)
    _new_deployments(client, ha, 2, "A")
    _new_deployments(client, hb, 3, "B")
    own_a, own_b = _ids(session, a.org_id), _ids(session, b.org_id)
    va = client.get("/api/v1/audit/verify", headers=ha).json()
    assert va == {
        "ok": True,
        "events_checked": len(own_a),
        "first_bad_event_id": None,
        "reason": None,
    }
    assert client.get("/api/v1/audit/verify", headers=hb).json()["events_checked"] == len(own_b)
    _new_deployments(client, hb, 4, "B more")
    assert client.get("/api/v1/audit/verify", headers=ha).json() == va  # B's work is invisible
    # B's newest events deleted: A learns that the shared chain lost its tail, nothing of B's
    b_ids = _ids(session, b.org_id)
    _bypass(session, "DELETE FROM audit_events WHERE id >= :i", {"i": b_ids[-2]})
    va = client.get("/api/v1/audit/verify", headers=ha).json()
    assert va["ok"] is False
    assert va["first_bad_event_id"] is None
    assert va["events_checked"] == len(own_a)
    assert not re.search(r"\d", va["reason"])
    vb = client.get("/api/v1/audit/verify", headers=hb).json()
    assert vb["first_bad_event_id"] == b_ids[-1]  # B is told which of its events is gone
    # a changed event of B's in the middle: A is told at its own next event, never B's id
    _bypass(session, "UPDATE audit_events SET action = 'x' WHERE id = :i", {"i": own_b[0]})
    va = client.get("/api/v1/audit/verify", headers=ha).json()
    assert va["ok"] is False
    later_a = [i for i in _ids(session, a.org_id) if i > own_b[0]]
    assert va["first_bad_event_id"] == (later_a[0] if later_a else None)
    assert not re.search(r"\d", va["reason"])


def _chain(key: bytes, orgs: list[int]) -> list[ChainedEvent]:
    out, prev = [], GENESIS_HASH
    for i, org in enumerate(orgs, 1):
        content = {"org_id": org, "n": i}
        h = compute_hash(key, content, prev)
        out.append(ChainedEvent(i, content, prev, h))
        prev = h
    return out


def test_verify_chain_for_counts_and_names_only_the_organisation() -> None:
    key = b"k" * 32
    evs = _chain(key, [1, 2, 2, 1, 2, 1])
    ok = verify_chain_for(key, evs, 1)
    assert (ok.ok, ok.events_checked) == (True, 3)
    assert verify_chain_for(key, evs, 2).events_checked == 3
    # org 2's event 3 removed: the break shows at event 4 (org 1's), named to org 1
    r = verify_chain_for(key, evs[:2] + evs[3:], 1)
    assert (r.ok, r.first_bad_event_id, r.events_checked) == (False, 4, 2)
    # org 2's event 5 altered: org 1 is told at its event 6
    edited = ChainedEvent(5, {"org_id": 2, "n": 99}, evs[4].prev_hash, evs[4].hash)
    r = verify_chain_for(key, [*evs[:4], edited, evs[5]], 1)
    assert (r.ok, r.first_bad_event_id) == (False, 6)
    assert "5" not in (r.reason or "")
    # after org 1's newest event: no id at all
    r = verify_chain_for(key, [*evs[:5], ChainedEvent(6, {"org_id": 2}, "x", "y")], 1)
    assert (r.ok, r.first_bad_event_id, r.events_checked) == (False, None, 2)
    assert "after your organisation's newest event" in (r.reason or "")
