"""Ed25519 signatures for exported reports and audit-chain checkpoints.

A manifest is a small JSON object (what was exported, the SHA-256 of its content, the audit chain
head, the versions); its signature is Ed25519 over the manifest's RFC 8785 canonical bytes
without the ``signature`` field. The key is ``AXISBOARD_SIGNING_KEY`` (base64 of a 32-byte seed)
or, when unset, derived from the secret key (domain-separated), so a deployment signs
consistently; the public key is published at ``GET /api/v1/audit/public-key``.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from app.config import Settings

ALGORITHM = "Ed25519"


class SignatureError(ValueError):
    pass


def private_key(seed_b64: str | None, secret: str) -> Ed25519PrivateKey:
    if seed_b64:
        seed = base64.b64decode(seed_b64)
        if len(seed) != 32:
            raise SignatureError("the signing key must be base64 of exactly 32 bytes")
    else:
        seed = hashlib.sha256(b"axisboard-report-signing:" + secret.encode()).digest()
    return Ed25519PrivateKey.from_private_bytes(seed)


def report_signing_key(settings: Settings) -> Ed25519PrivateKey:
    """The key that signs reports and checkpoints: ``AXISBOARD_SIGNING_KEY`` or one derived from the
    secret key."""
    return private_key(settings.signing_key, settings.secret_key)


def public_bytes(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_id(public: bytes) -> str:
    return hashlib.sha256(public).hexdigest()[:16]


def canonical(value: Any) -> bytes:
    return rfc8785.dumps(value)


def sign(key: Ed25519PrivateKey, manifest: Mapping[str, Any]) -> dict[str, Any]:
    body = {k: v for k, v in manifest.items() if k != "signature"}
    body["algorithm"] = ALGORITHM
    body["key_id"] = key_id(public_bytes(key))
    signature = key.sign(canonical(body))
    return {**body, "signature": base64.b64encode(signature).decode()}


def verify(public: bytes, manifest: Mapping[str, Any]) -> None:
    """Raise :class:`SignatureError` unless ``manifest`` carries a valid signature."""
    if "signature" not in manifest:
        raise SignatureError("the manifest has no signature")
    if manifest.get("key_id") != key_id(public):
        raise SignatureError(f"signed with key {manifest.get('key_id')}, not {key_id(public)}")
    body = {k: v for k, v in manifest.items() if k != "signature"}
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(
            base64.b64decode(str(manifest["signature"])), canonical(body)
        )
    except (InvalidSignature, ValueError):
        raise SignatureError("the manifest's signature does not verify") from None


def digest(data: Any) -> str:
    return hashlib.sha256(canonical(data)).hexdigest()
