"""Signed exports of the audit report and their offline verification.

Every export carries a manifest signed with the deployment's Ed25519 key (:mod:`app.audit.signing`):
JSON in ``integrity.manifest``; HTML in a ``<script type="application/json"
id="axisboard-report-data">`` block holding the whole report data; PDF as the embedded file
``axisboard-report.json``; CSV as a last line ``# axisboard-manifest,<base64 JSON>``. For the first
three the manifest's ``content_sha256`` covers the report data (RFC 8785 canonical JSON, without
the manifest); for CSV it covers the bytes above the manifest line.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from app.audit import signing

CSV_MARK = "# axisboard-manifest,"
DATA_BLOCK = re.compile(
    r'<script type="application/json" id="axisboard-report-data">(.*?)</script>', re.S
)
ATTACHMENT = "axisboard-report.json"


def without_manifest(data: dict[str, Any]) -> dict[str, Any]:
    """The report without its manifest: a new top level and ``integrity`` section; the rest is
    shared with ``data`` (a deep copy of a large report cost a tenth of its export)."""
    out = dict(data)
    integrity = out.get("integrity")
    if isinstance(integrity, dict):
        out["integrity"] = {k: v for k, v in integrity.items() if k != "manifest"}
    return out


def _manifest(key: Ed25519PrivateKey, data: dict[str, Any], fmt: str, sha: str) -> dict[str, Any]:
    return signing.sign(key, {
        "kind": "axisboard-audit-report", "format": fmt,
        "deployment_id": data["scope"]["deployment"]["id"],
        "generated_at": data["generated_at"], "generated_by": data["generated_by"],
        "audit_chain_head": data["integrity"]["audit_chain_head"],
        "versions": data["integrity"]["versions"], "content_sha256": sha,
    })  # fmt: skip


def signed(key: Ed25519PrivateKey, data: dict[str, Any], fmt: str) -> dict[str, Any]:
    """The report data with its signed manifest (JSON, HTML and PDF exports)."""
    out = without_manifest(data)
    out["integrity"]["manifest"] = _manifest(key, out, fmt, signing.digest(out))
    return out


def sign_csv(key: Ed25519PrivateKey, data: dict[str, Any], text: str) -> str:
    sha = hashlib.sha256(text.encode()).hexdigest()
    blob = base64.b64encode(json.dumps(_manifest(key, data, "csv", sha)).encode()).decode()
    return text + CSV_MARK + blob + "\n"


# ---- verification (offline) ----------------------------------------------------------------
def _data_check(data: dict[str, Any]) -> dict[str, Any]:
    manifest = data.get("integrity", {}).get("manifest")
    if not isinstance(manifest, dict):
        raise signing.SignatureError("no manifest in the report")
    if signing.digest(without_manifest(data)) != manifest.get("content_sha256"):
        raise signing.SignatureError("the report data does not match its manifest: it was "
                                     "altered after export")  # fmt: skip
    return manifest


def manifest_of(content: bytes) -> dict[str, Any]:
    """Find the manifest in an export of any format and check the content against it."""
    if content.startswith(b"%PDF"):
        from pypdf import PdfReader

        files = PdfReader(io.BytesIO(content)).attachments
        if ATTACHMENT not in files:
            raise signing.SignatureError(f"no {ATTACHMENT} attached to the PDF")
        return _data_check(json.loads(files[ATTACHMENT][0]))
    text = content.decode("utf-8", errors="strict")
    stripped = text.lstrip()
    if stripped.startswith("{"):
        return _data_check(json.loads(text))
    if stripped.lower().startswith("<!doctype html") or stripped.startswith("<html"):
        m = DATA_BLOCK.search(text)
        if m is None:
            raise signing.SignatureError("no report data block in the HTML")
        return _data_check(json.loads(m.group(1)))
    body, mark, rest = text.rpartition(CSV_MARK)
    if not mark:
        raise signing.SignatureError("no manifest line in the CSV")
    manifest: dict[str, Any] = json.loads(base64.b64decode(rest.strip()))
    if hashlib.sha256(body.encode()).hexdigest() != manifest.get("content_sha256"):
        raise signing.SignatureError("the CSV does not match its manifest: it was altered "
                                     "after export")  # fmt: skip
    return manifest


def verify(content: bytes, public: bytes) -> dict[str, Any]:
    """The verified manifest; :class:`SignatureError` naming what failed otherwise."""
    manifest = manifest_of(content)
    signing.verify(public, manifest)
    return manifest
