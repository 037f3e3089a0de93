"""Tamper tests: an altered or re-signed export, a deleted event and a deleted tail after a
checkpoint are each detected, with the offending item named; `axisboard verify-report` offline."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import zipfile
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
    client.post(
        f"/api/v1/deployments/{dep.id}/assessments",
        json={"answers": [{"failure_mode": "factual_staleness", "severity": 3}]},
        headers=h,
    )
    key = client.get("/api/v1/audit/public-key").json()
    return {"dep": dep.id, "h": h, "pub": base64.b64decode(key["public_key"]), "key": key}


def _export(client: TestClient, w: dict, fmt: str) -> bytes:  # type: ignore[type-arg]
    r = client.get(f"/api/v1/deployments/{w['dep']}/report?format={fmt}", headers=w["h"])
    assert r.status_code == 200, r.text[:300]
    return r.content


def test_public_key_is_published(world: dict, settings: Settings) -> None:  # type: ignore[type-arg]
    assert world["key"]["algorithm"] == "Ed25519"
    assert world["pub"] == signing.public_bytes(signing.report_signing_key(settings))


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["json", "html", "pdf", "csv"])
def test_every_format_verifies_offline(client: TestClient, world: dict, fmt: str) -> None:  # type: ignore[type-arg]
    m = export.verify(_export(client, world, fmt), world["pub"])
    assert m["format"] == fmt
    assert m["deployment_id"] == world["dep"]


def test_rendering_leaves_the_report_data_as_it_was() -> None:
    """render() copies only the top level and the integrity section: the data it was given keeps
    its contents (no signature slot added to it)."""
    key = signing.private_key(None, "a secret")
    data = {
        "scope": {"deployment": {"id": 7}},
        "generated_at": "2026-01-01T00:00:00Z",
        "generated_by": "g@example.test",
        "recommendations": [{"items": [{"score": 1.0}]}],
        "integrity": {"audit_chain_head": "abc", "versions": {"rules": "1"}},
    }
    before = json.loads(json.dumps(data))
    out = export.render(key, data, "json")
    assert data == before
    doc = json.loads(out)
    assert doc["integrity"]["signature"].startswith("[axisboard-signature-v1:")
    assert list(doc)[-1] == "integrity"  # the block is the document's last member
    m = export.verify(out, signing.public_bytes(key))
    assert m["deployment_id"] == 7
    assert m["covers"] == export.EMBEDDED


def test_altered_exports_are_caught(client: TestClient, world: dict) -> None:  # type: ignore[type-arg]
    raw = _export(client, world, "json")
    data = json.loads(raw)
    data["recommendations"][0]["items"][0]["score"] = 99.9
    forged = json.dumps(data, indent=2, ensure_ascii=False).encode()
    with pytest.raises(signing.SignatureError, match="altered after export"):
        export.verify(forged, world["pub"])
    # re-computing the hash in the manifest does not help: the signature covers it
    _, p, e = export._locate(forged)
    manifest = json.loads(base64.b64decode(forged[p:e]))
    manifest["content_sha256"] = hashlib.sha256(forged[:p] + forged[e:]).hexdigest()
    payload = base64.b64encode(signing.canonical(manifest))
    fixed = forged[:p] + payload + forged[e:]
    with pytest.raises(signing.SignatureError, match="signature does not verify"):
        export.verify(fixed, world["pub"])
    other = signing.public_bytes(signing.private_key(None, "another secret"))
    with pytest.raises(signing.SignatureError, match="signed with key"):
        export.verify(raw, other)
    csv_text = _export(client, world, "csv").decode().replace("LLM08:2025", "LLM99:2025", 1)
    with pytest.raises(signing.SignatureError, match="CSV does not match"):
        export.verify(csv_text.encode(), world["pub"])
    html = _export(client, world, "html").decode().replace('"score": ', '"score": 1', 1)
    with pytest.raises(signing.SignatureError):
        export.verify(html.encode(), world["pub"])


def _refused(content: bytes, pub: bytes, match: str) -> None:
    with pytest.raises(signing.SignatureError, match=match):
        export.verify(content, pub)


def test_any_byte_outside_the_block_is_covered(client: TestClient, world: dict) -> None:  # type: ignore[type-arg]
    """One byte changed anywhere (first, last, every 97th) in each text format is refused; so is
    one changed inside the signature block."""
    for fmt in ("json", "html", "csv"):
        good = _export(client, world, fmt)
        export.verify(good, world["pub"])
        _, p, e = export._locate(good)
        positions = sorted({0, 1, p - 1, e, len(good) - 1, *range(2, len(good), 97)})
        for i in positions:
            if p <= i < e:
                continue
            bad = bytearray(good)
            bad[i] = bad[i] ^ 0x01 if bad[i] not in b"{[" else bad[i]  # keep it sniffable
            if bytes(bad) == good:
                continue
            with pytest.raises(signing.SignatureError):
                export.verify(bytes(bad), world["pub"])
        mid = (p + e) // 2
        inside = good[:mid] + (b"B" if good[mid : mid + 1] != b"B" else b"C") + good[mid + 1 :]
        with pytest.raises(signing.SignatureError):
            export.verify(inside, world["pub"])


def test_tampered_html_is_refused(client: TestClient, world: dict, tmp_path: Path) -> None:  # type: ignore[type-arg]
    good = _export(client, world, "html")
    pub = world["pub"]
    assert b"<h2>1. Scope and criteria</h2>" in good
    # one byte of a heading
    _refused(good.replace(b"<h2>1. Scope", b"<h2>1. Scopf", 1), pub, "HTML does not match")
    # an injected paragraph
    injected = good.replace(b"<h2>8. ", b"<p>Approved by the board.</p><h2>8. ", 1)
    _refused(injected, pub, "HTML does not match")
    # the report data block the old scheme checked is covered like every other byte
    _refused(
        good.replace(b'id="axisboard-report-data">{', b'id="axisboard-report-data">{ ', 1),
        pub,
        "HTML does not match",
    )
    # trailing data, and a block copied to the end of an altered file
    _refused(good + b"<p>added</p>\n", pub, "data after the signature block")
    start, _, e = export._locate(good)
    copied = injected + b"<!-- " + good[start : e + 1] + export.HTML_TAIL
    _refused(copied, pub, "HTML does not match")
    # the CLI on the downloaded file alone (this installation's key)
    f = tmp_path / "report.html"
    f.write_bytes(good.replace(b"<h2>1. Scope", b"<h2>1. Scopf", 1))
    r = CliRunner().invoke(cli, ["verify-report", str(f)])
    assert r.exit_code == 1
    assert "NOT VALID" in r.output


@pytest.mark.slow
def test_tampered_pdf_is_refused(client: TestClient, world: dict, tmp_path: Path) -> None:  # type: ignore[type-arg]
    from pypdf import PdfReader, PdfWriter
    from pypdf.annotations import FreeText

    good = _export(client, world, "pdf")
    pub = world["pub"]
    reader = PdfReader(io.BytesIO(good))
    assert "/AxisboardSignature" in reader.trailer["/Root"]  # the block's stream, in the catalog
    assert export.ATTACHMENT in reader.attachments
    # a visible annotation added as an incremental update (the original bytes kept, as a signed
    # PDF would be edited)
    writer = PdfWriter(io.BytesIO(good), incremental=True)
    writer.add_annotation(
        page_number=0, annotation=FreeText(text="Approved", rect=(50, 550, 200, 650))
    )
    out = io.BytesIO()
    writer.write(out)
    annotated = out.getvalue()
    assert annotated.startswith(good)
    _refused(annotated, pub, "incremental update")
    f = tmp_path / "annotated.pdf"
    f.write_bytes(annotated)
    key = world["key"]["public_key"]
    r = CliRunner().invoke(cli, ["verify-report", str(f), "--public-key", key])
    assert r.exit_code == 1
    assert "incremental update" in r.output
    # the same annotation in a rewritten file
    rewriter = PdfWriter(clone_from=io.BytesIO(good))
    rewriter.add_annotation(
        page_number=0, annotation=FreeText(text="Approved", rect=(50, 550, 200, 650))
    )
    out = io.BytesIO()
    rewriter.write(out)
    with pytest.raises(signing.SignatureError):
        export.verify(out.getvalue(), pub)
    # one byte in the middle of a content stream, and trailing data
    mid = len(good) // 2
    _refused(good[:mid] + bytes([good[mid] ^ 1]) + good[mid + 1 :], pub, "PDF does not match")
    _refused(good + b"% trailing\n", pub, "appended")


def test_tampered_csv_is_refused(client: TestClient, world: dict) -> None:  # type: ignore[type-arg]
    good = _export(client, world, "csv")
    pub = world["pub"]
    assert good.splitlines()[-1].startswith(b"# [axisboard-signature-v1:")
    _refused(
        good + b"ISO/IEC 42001,A.9.9,Injected control,,adopted,,\r\n",
        pub,
        "data after the CSV's signature line",
    )
    first_row_end = good.index(b"\r\n") + 2
    inserted = good[:first_row_end] + b"OWASP,LLM00,Injected,,adopted,,\r\n" + good[first_row_end:]
    _refused(inserted, pub, "CSV does not match")
    # the signature line copied below a row added after it
    lines = good.split(b"\r\n")
    moved = b"\r\n".join([*lines[:-2], b"OWASP,LLM00,Injected,,adopted,,", lines[-2], b""])
    _refused(moved, pub, "CSV does not match")


def test_tampered_json_is_refused(client: TestClient, world: dict) -> None:  # type: ignore[type-arg]
    good = _export(client, world, "json")
    pub = world["pub"]
    # a duplicate key: a lenient parser keeps the last value, a reader may see the first
    first = b'"generated_by": "someone@else.test",\n  "generated_by": '
    dup = good.replace(b'"generated_by": ', first, 1)
    _refused(dup, pub, "duplicate key 'generated_by'")
    _refused(good + b"\n{}", pub, "trailing data")
    _refused(good + b"\n", pub, "JSON does not match")  # even whitespace is a change
    _refused(good.replace(b"{", b'{\n  "x": NaN,', 1), pub, "NaN is not JSON")
    # the block moved out of integrity.signature
    doc = json.loads(good)
    sig = doc["integrity"].pop("signature")
    doc["integrity"]["note"] = "x"
    doc["integrity"]["signature"] = export.block()
    doc["z"] = sig
    _refused(json.dumps(doc, indent=2, ensure_ascii=False).encode(), pub, "integrity.signature")


@pytest.mark.slow
def test_detached_signature(client: TestClient, world: dict, tmp_path: Path) -> None:  # type: ignore[type-arg]
    for fmt in ("pdf", "json"):
        r = client.get(
            f"/api/v1/deployments/{world['dep']}/report?format={fmt}&detached=1", headers=world["h"]
        )
        assert r.status_code == 200
        assert r.headers["content-type"] == "application/zip"
        name = export.file_name(world["dep"], fmt)
        assert r.headers["content-disposition"] == f'attachment; filename="{name}.zip"'
        with zipfile.ZipFile(io.BytesIO(r.content)) as z:
            assert sorted(z.namelist()) == [name, f"{name}.sig"]
            content, sig = z.read(name), z.read(f"{name}.sig")
        m = export.verify_detached(content, sig, world["pub"])
        assert (m["format"], m["covers"], m["file_name"]) == (fmt, "whole-file", name)
        assert export.verify(content, world["pub"])["format"] == fmt  # embedded one too
        f, s = tmp_path / name, tmp_path / f"{name}.sig"
        f.write_bytes(content)
        s.write_bytes(sig)
        key = world["key"]["public_key"]
        ok = CliRunner().invoke(
            cli, ["verify-report", str(f), "--signature", str(s), "--public-key", key]
        )
        assert ok.exit_code == 0, ok.output
        assert "detached signature" in ok.output
        f.write_bytes(content + b"\n")
        bad = CliRunner().invoke(
            cli, ["verify-report", str(f), "--signature", str(s), "--public-key", key]
        )
        assert bad.exit_code == 1
        assert "does not match its detached signature" in bad.output
    # an embedded manifest is no detached signature (it does not sign the whole file)
    json_file = _export(client, world, "json")
    _, p, e = export._locate(json_file)
    embedded = base64.b64decode(json_file[p:e])
    with pytest.raises(signing.SignatureError, match="not a detached signature"):
        export.verify_detached(json_file[:p] + json_file[e:], embedded, world["pub"])
    page = client.get(
        f"/api/v1/deployments/{world['dep']}/report?format=csv&detached=maybe", headers=world["h"]
    )
    assert page.status_code == 422
    assert "detached" in page.text


@pytest.mark.slow
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


def test_the_report_anchors_to_its_organisations_newest_event(
    client: TestClient,
    session: Session,
    world: dict,  # type: ignore[type-arg]
) -> None:
    other = create_user(session, org="Elsewhere", role="admin")
    for i in range(3):
        create_deployment(session, user=other, name=f"Other {i}")
    session.commit()
    head = json.loads(_export(client, world, "json"))["integrity"]["audit_chain_head"]
    lead_org = session.execute(select(AuditEvent.org_id).where(AuditEvent.id == head["event_id"]))
    assert lead_org.scalar_one() != other.org_id
    others = select(AuditEvent.id).where(AuditEvent.org_id == other.org_id)
    assert head["event_id"] < max(session.execute(others).scalars())


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
