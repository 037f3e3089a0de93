"""Signed exports of the audit report and their offline verification.

Every export (JSON, HTML, PDF, CSV) carries one signature block, ``[axisboard-signature-v1:P]``,
where ``P`` is the base64 of a manifest's RFC 8785 canonical JSON. The manifest names what was
exported (format, deployment, time, author, audit chain head, versions) and holds
``content_sha256``: the SHA-256 of the whole file with ``P`` removed (the block reduced to the
fixed placeholder ``[axisboard-signature-v1:]``); the manifest is signed with Ed25519
(:mod:`app.audit.signing`). So the signature covers every byte of the file outside its own block,
and the block itself must be the canonical encoding of the signed manifest: no byte of a signed
file can change without the check failing. The block is the *last* occurrence of the marker in
the file; the marker starts and ends with characters outside the base64 alphabet, so inserting a
payload can neither create nor hide one, and the file a manifest signs is unique.

Where the block sits:

- JSON: the value of ``integrity.signature``, the document's last member. The verifier refuses
  duplicate keys, NaN/Infinity and anything after the document.
- HTML: a comment after ``</html>``, the last bytes of the file: ``<!-- [block] -->\\n``.
- CSV: the last line, ``# [block]`` followed by CRLF; nothing may follow it.
- PDF: an uncompressed stream referenced from the document catalog (``/AxisboardSignature``),
  written by WeasyPrint with a placeholder of the payload's exact length, then filled in place
  (its length is known in advance: every manifest field but the hash is, and the hash and the
  Ed25519 signature have fixed lengths), so no offset moves. An incremental update appended
  afterwards (an annotation added with pypdf, say) changes the bytes the signature covers.

A detached signature (:func:`detached_signature`) is the same kind of manifest with
``covers: "whole-file"`` and the SHA-256 of every byte of the file as downloaded.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import re
import zipfile
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from app.audit import signing

NAMES = {"json": "JSON", "html": "HTML", "pdf": "PDF", "csv": "CSV"}
MEDIA = {
    "json": "application/json",
    "html": "text/html; charset=utf-8",
    "pdf": "application/pdf",
    "csv": "text/csv; charset=utf-8",
}
SUFFIX = {"json": ".json", "html": ".html", "pdf": ".pdf", "csv": "-risk-register.csv"}
MARK = b"[axisboard-signature-v1:"
END = b"]"
EMBEDDED = "file-outside-signature-block"
DETACHED = "whole-file"
HTML_TAIL = b" -->\n"
CSV_TAIL = b"\r\n"
ATTACHMENT = "axisboard-report.json"
_B64_RUN = re.compile(rb"[A-Za-z0-9+/=]*")


def block(payload: bytes = b"") -> str:
    return (MARK + payload + END).decode("ascii")


def file_name(deployment_id: int, fmt: str) -> str:
    return f"axisboard-report-deployment-{deployment_id}{SUFFIX[fmt]}"


def manifest_fields(data: dict[str, Any], fmt: str, covers: str = EMBEDDED) -> dict[str, Any]:
    return {
        "kind": "axisboard-audit-report",
        "format": fmt,
        "covers": covers,
        "deployment_id": data["scope"]["deployment"]["id"],
        "generated_at": data["generated_at"],
        "generated_by": data["generated_by"],
        "audit_chain_head": data["integrity"]["audit_chain_head"],
        "versions": data["integrity"]["versions"],
    }


def _payload(manifest: dict[str, Any]) -> bytes:
    return base64.b64encode(signing.canonical(manifest))


def payload_length(key: Ed25519PrivateKey, fields: dict[str, Any]) -> int:
    """Length of the block's payload for these fields: the hash (64 hex digits) and the signature
    (64 bytes) have fixed lengths, so a stand-in hash gives the exact figure."""
    return len(_payload(signing.sign(key, {**fields, "content_sha256": "0" * 64})))


def _locate(content: bytes) -> tuple[int, int, int]:
    """(marker start, payload start, payload end) of the last signature block."""
    start = content.rfind(MARK)
    if start < 0:
        raise signing.SignatureError("no signature block ([axisboard-signature-v1:…]) in the file")
    p = start + len(MARK)
    m = _B64_RUN.match(content, p)
    end = m.end() if m else p
    if content[end : end + 1] != END:
        raise signing.SignatureError("the signature block is malformed (no closing bracket)")
    return start, p, end


def _sha_outside(content: bytes, p: int, e: int) -> str:
    h = hashlib.sha256(content[:p])
    h.update(content[e:])
    return h.hexdigest()


def seal(key: Ed25519PrivateKey, fields: dict[str, Any], body: bytes) -> bytes:
    """Fill the last signature block of ``body`` (empty, or a placeholder of the payload's exact
    length where offsets must not move) with the signed manifest of everything else."""
    _, p, e = _locate(body)
    manifest = signing.sign(key, {**fields, "content_sha256": _sha_outside(body, p, e)})
    payload = _payload(manifest)
    if e > p and len(payload) != e - p:
        raise RuntimeError(f"reserved {e - p} bytes for a signature of {len(payload)}")
    return body[:p] + payload + body[e:]


# ---- rendering -----------------------------------------------------------------------------
def _with_signature_slot(data: dict[str, Any], slot: str) -> dict[str, Any]:
    """The report with ``integrity.signature`` set and ``integrity`` last (a new top level and
    integrity section; the rest is shared with ``data``)."""
    out = {k: v for k, v in data.items() if k != "integrity"}
    integrity = {k: v for k, v in data["integrity"].items() if k != "signature"}
    out["integrity"] = {**integrity, "signature": slot}
    return out


def render(key: Ed25519PrivateKey, data: dict[str, Any], fmt: str) -> bytes:
    """The signed file of the report ``data`` in ``fmt`` (json, html, pdf or csv)."""
    from app.governance import report

    data = with_signing_key(data, key)
    fields = manifest_fields(data, fmt)
    if fmt == "json":
        doc = _with_signature_slot(data, block())
        return seal(key, fields, json.dumps(doc, indent=2, ensure_ascii=False).encode())
    if fmt == "csv":
        text = report.risk_register_csv(data) + "# " + block()
        return seal(key, fields, text.encode() + CSV_TAIL)
    if fmt == "html":
        html = report.render_html(data).rstrip("\n") + "\n<!-- " + block()
        return seal(key, fields, html.encode() + HTML_TAIL)
    if fmt == "pdf":
        slot = MARK + b"A" * payload_length(key, fields) + END
        return seal(key, fields, report.render_pdf(data, finisher=_pdf_slot(slot)))
    raise ValueError(f"unknown format {fmt!r}")


def with_signing_key(data: dict[str, Any], key: Ed25519PrivateKey) -> dict[str, Any]:
    """The report naming the key that signs it (the cover shows the fingerprint): Ed25519, its
    key id and the SHA-256 of its raw public key, which ``/api/v1/audit/public-key`` serves."""
    public = signing.public_bytes(key)
    about = {
        "algorithm": "Ed25519",
        "key_id": signing.key_id(public),
        "fingerprint_sha256": hashlib.sha256(public).hexdigest(),
    }
    return {**data, "integrity": {**data["integrity"], "signing_key": about}}


def _pdf_slot(slot: bytes) -> Any:
    """A WeasyPrint finisher adding the uncompressed signature stream, referenced from the
    catalog. Streams are written before the (compressed) object stream and cross-reference
    stream, so nothing readable follows it."""

    def finisher(_document: Any, pdf: Any) -> None:
        import pydyf

        stream = pydyf.Stream([slot], {"Type": "/AxisboardSignature"}, compress=False)
        pdf.add_object(stream)
        pdf.catalog["AxisboardSignature"] = stream.reference

    return finisher


def detached_signature(
    key: Ed25519PrivateKey, data: dict[str, Any], fmt: str, content: bytes, name: str
) -> bytes:
    """A ``.sig`` file: the signed manifest of every byte of ``content`` (JSON)."""
    fields = {**manifest_fields(data, fmt, DETACHED), "file_name": name}
    manifest = signing.sign(key, {**fields, "content_sha256": hashlib.sha256(content).hexdigest()})
    return (json.dumps(manifest, indent=2) + "\n").encode()


def bundle(files: dict[str, bytes]) -> bytes:
    """A zip of the report and its detached signature (one download: the report is generated
    anew on each request, so a signature fetched separately would sign another file)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, content in files.items():
            z.writestr(name, content)
    return buf.getvalue()


# ---- verification (offline) ----------------------------------------------------------------
def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise signing.SignatureError(f"duplicate key {k!r} in the JSON")
        out[k] = v
    return out


def _refuse_constant(name: str) -> Any:
    raise signing.SignatureError(f"{name} is not JSON")


def strict_json(content: bytes, what: str = "JSON") -> Any:
    """Parse JSON refusing duplicate keys, NaN/Infinity, invalid UTF-8 and trailing data."""
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        raise signing.SignatureError(f"the {what} is not UTF-8") from None
    decoder = json.JSONDecoder(
        object_pairs_hook=_refuse_duplicates, parse_constant=_refuse_constant
    )
    start = len(text) - len(text.lstrip())
    try:
        value, end = decoder.raw_decode(text, start)
    except json.JSONDecodeError as exc:
        raise signing.SignatureError(f"the {what} is not valid JSON: {exc.msg}") from None
    except RecursionError:
        raise signing.SignatureError(f"the {what} is nested too deeply") from None
    if text[end:].strip():
        raise signing.SignatureError(f"trailing data after the {what} document")
    return value


def sniff(content: bytes) -> str:
    if content.startswith(b"%PDF-"):
        return "pdf"
    head = content.lstrip()[:20].lower()
    if head.startswith(b"{"):
        return "json"
    if head.startswith((b"<!doctype html", b"<html")):
        return "html"
    return "csv"


def _check_layout(content: bytes, fmt: str, start: int, p: int, e: int) -> None:
    """The block sits where the format puts it, with nothing after it."""
    tail = content[e + len(END) :]
    if fmt == "json":
        doc = strict_json(content)
        integrity = doc.get("integrity") if isinstance(doc, dict) else None
        sig = integrity.get("signature") if isinstance(integrity, dict) else None
        if sig != content[start : e + len(END)].decode("ascii"):
            raise signing.SignatureError(
                "the signature block is not the report's integrity.signature"
            )
    elif fmt == "html" and tail != HTML_TAIL:
        raise signing.SignatureError("data after the signature block (it ends the HTML)")
    elif fmt == "csv":
        line_start = content.rfind(b"\n", 0, start) + 1
        if content[line_start:start] != b"# ":
            raise signing.SignatureError("the CSV's signature line is malformed")
        if tail != CSV_TAIL:
            raise signing.SignatureError("data after the CSV's signature line (it is the last)")
    elif fmt == "pdf" and (tail.count(b"%%EOF") != 1 or not tail.rstrip().endswith(b"%%EOF")):
        raise signing.SignatureError(
            "an incremental update or other data was appended to the PDF after it was signed"
        )


def _decode_manifest(payload: bytes) -> dict[str, Any]:
    try:
        raw = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise signing.SignatureError("the signature block is not base64") from None
    manifest = strict_json(raw, "signature block")
    if not isinstance(manifest, dict):
        raise signing.SignatureError("the signature block holds no manifest")
    try:
        canonical = _payload(manifest)
    except ValueError:
        raise signing.SignatureError("the signed manifest is not canonical JSON") from None
    if canonical != payload:
        raise signing.SignatureError(
            "the signature block is not the canonical encoding of its manifest"
        )
    return manifest


def manifest_of(content: bytes) -> dict[str, Any]:
    """Find the signature block, check the layout and that the file's bytes outside the block are
    the ones its manifest hashed; the manifest's signature is checked by :func:`verify`."""
    fmt = sniff(content)
    start, p, e = _locate(content)
    _check_layout(content, fmt, start, p, e)
    manifest = _decode_manifest(content[p:e])
    if manifest.get("covers") != EMBEDDED:
        raise signing.SignatureError("the signature block does not sign an embedded report")
    if manifest.get("format") != fmt:
        raise signing.SignatureError(
            f"the file is {NAMES[fmt]} but its signature is for a {manifest.get('format')!r} report"
        )
    if _sha_outside(content, p, e) != manifest.get("content_sha256"):
        raise signing.SignatureError(
            f"the {NAMES[fmt]} does not match its signature: it was altered after export"
        )
    return manifest


def verify(content: bytes, public: bytes) -> dict[str, Any]:
    """The verified manifest; :class:`SignatureError` naming what failed otherwise."""
    manifest = manifest_of(content)
    signing.verify(public, manifest)
    return manifest


def verify_detached(content: bytes, signature: bytes, public: bytes) -> dict[str, Any]:
    """Check ``content`` against a detached ``.sig`` file: every byte of it is signed."""
    manifest = strict_json(signature, "signature file")
    if not isinstance(manifest, dict) or manifest.get("covers") != DETACHED:
        raise signing.SignatureError("not a detached signature of an Axisboard report")
    if hashlib.sha256(content).hexdigest() != manifest.get("content_sha256"):
        raise signing.SignatureError(
            "the file does not match its detached signature: it was altered after export"
        )
    signing.verify(public, manifest)
    return manifest
