"""Tamper tests: an altered or re-signed export, a deleted event and a deleted tail after a
checkpoint are each detected, with the offending item named; `axisboard verify-report` offline."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from app.audit import checkpoints, signing
from app.audit import service as audit
from app.audit.models import AuditEvent
from app.cli import cli
from app.config import Settings
from app.governance import export
from tests.factories import api_headers, create_deployment, create_user


@pytest.fixture
def world(client: TestClient, session: Session, settings: Settings) -> dict[str, Any]:
    lead = create_user(session, role="product_lead")
    dep = create_deployment(session, user=lead)
    session.commit()
    h = api_headers(client, lead.email)
    client.post(f"/api/v1/deployments/{dep.id}/assessments", json={"answers": [
        {"failure_mode": "factual_staleness", "severity": 3}]}, headers=h)  # fmt: skip
    key = client.get("/api/v1/audit/public-key").json()
    return {"dep": dep.id, "h": h, "pub": base64.b64decode(key["public_key"]), "key": key}


def _export(client: TestClient, w: dict, fmt: str) -> bytes:  # type: ignore[type-arg]
    r = client.get(f"/api/v1/deployments/{w['dep']}/report?format={fmt}", headers=w["h"])
    assert r.status_code == 200, r.text[:300]
    return r.content


def test_public_key_is_published(world: dict, settings: Settings) -> None:  # type: ignore[type-arg]
    assert world["key"]["algorithm"] == "Ed25519"
    assert world["pub"] == signing.public_bytes(settings.report_signing_key)


@pytest.mark.parametrize("fmt", ["json", "html", "pdf", "csv"])
def test_every_format_verifies_offline(client: TestClient, world: dict, fmt: str) -> None:  # type: ignore[type-arg]
    m = export.verify(_export(client, world, fmt), world["pub"])
    assert m["format"] == fmt
    assert m["deployment_id"] == world["dep"]


def test_signing_leaves_the_report_data_as_it_was() -> None:
    """signed() and without_manifest() copy only the top level and the integrity section: the
    data they were given keeps its manifest (or lack of one) and its contents."""
    key = signing.private_key(None, "a secret")
    data = {"scope": {"deployment": {"id": 7}}, "generated_at": "2026-01-01T00:00:00Z",
            "generated_by": "g@example.test", "recommendations": [{"items": [{"score": 1.0}]}],
            "integrity": {"audit_chain_head": "abc", "versions": {"rules": "1"}}}  # fmt: skip
    before = json.loads(json.dumps(data))
    out = export.signed(key, data, "json")
    assert data == before
    assert "manifest" in out["integrity"]
    assert export.without_manifest(out) == before
    assert "manifest" in out["integrity"]  # still there after without_manifest
    m = export.verify(json.dumps(out).encode(), signing.public_bytes(key))
    assert m["deployment_id"] == 7


def test_altered_exports_are_caught(client: TestClient, world: dict) -> None:  # type: ignore[type-arg]
    data = json.loads(_export(client, world, "json"))
    data["recommendations"][0]["items"][0]["score"] = 99.9
    with pytest.raises(signing.SignatureError, match="altered after export"):
        export.verify(json.dumps(data).encode(), world["pub"])
    # re-computing the hash does not help: the signature covers it
    data["integrity"]["manifest"]["content_sha256"] = signing.digest(export.without_manifest(data))
    with pytest.raises(signing.SignatureError, match="signature does not verify"):
        export.verify(json.dumps(data).encode(), world["pub"])
    other = signing.public_bytes(signing.private_key(None, "another secret"))
    with pytest.raises(signing.SignatureError, match="signed with key"):
        export.verify(_export(client, world, "json"), other)
    csv_text = _export(client, world, "csv").decode().replace("LLM08:2025", "LLM99:2025", 1)
    with pytest.raises(signing.SignatureError, match="CSV does not match"):
        export.verify(csv_text.encode(), world["pub"])
    html = _export(client, world, "html").decode().replace('"score": ', '"score": 1', 1)
    with pytest.raises(signing.SignatureError):
        export.verify(html.encode(), world["pub"])


def test_verify_report_cli(client: TestClient, world: dict, tmp_path: Path) -> None:  # type: ignore[type-arg]
    good = tmp_path / "report.pdf"
    good.write_bytes(_export(client, world, "pdf"))
    key = world["key"]["public_key"]
    r = CliRunner().invoke(cli, ["verify-report", str(good), "--public-key", key])
    assert r.exit_code == 0, r.output
    assert "valid: pdf report" in r.output
    bad = tmp_path / "report.json"
    data = json.loads(_export(client, world, "json"))
    data["inventory"]["system_name"] = "Something else"
    bad.write_text(json.dumps(data))
    r = CliRunner().invoke(cli, ["verify-report", str(bad), "--public-key", key])
    assert r.exit_code == 1
    assert "altered after export" in r.output


def _bypass(session: Session, sql: str, params: dict) -> None:  # type: ignore[type-arg]
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


def test_deleted_event_in_the_middle_is_named(session: Session, settings: Settings) -> None:
    user = create_user(session)
    for i in range(3):
        create_deployment(session, user=user, name=f"D{i}")
    ids = session.execute(select(AuditEvent.id).order_by(AuditEvent.id)).scalars().all()
    _bypass(session, "DELETE FROM audit_events WHERE id = :i", {"i": ids[-2]})
    r = audit.verify_with_checkpoint(session, settings)
    assert not r.ok
    assert r.first_bad_event_id == ids[-1]
    assert "prev_hash" in (r.reason or "")


def test_deleted_tail_after_a_checkpoint_is_detected(session: Session, settings: Settings) -> None:
    user = create_user(session)
    for i in range(3):
        create_deployment(session, user=user, name=f"D{i}")
    cp = checkpoints.write(session, settings)
    assert cp is not None
    assert audit.verify_with_checkpoint(session, settings).ok
    # the last two events vanish: every remaining link still holds…
    _bypass(session, "DELETE FROM audit_events WHERE id >= :i", {"i": cp["event_id"] - 1})
    assert audit.verify(session, settings.audit_hmac_key).ok
    # …but the checkpoint outside the database names the missing head
    r = audit.verify_with_checkpoint(session, settings)
    assert not r.ok
    assert r.first_bad_event_id == cp["event_id"]
    assert "tail was deleted" in (r.reason or "")


def test_a_forged_checkpoint_is_refused(session: Session, settings: Settings) -> None:
    create_user(session)
    cp = checkpoints.write(session, settings)
    assert cp is not None
    forged = {**cp, "event_id": cp["event_id"] + 1000}
    Path(settings.audit_checkpoint_path).write_text(json.dumps(forged) + "\n")
    r = audit.verify_with_checkpoint(session, settings)
    assert not r.ok
    assert "not authentic" in (r.reason or "")
