"""Hash chain of audit events (pure: standard library and rfc8785 only).

Each event's ``hash`` is HMAC-SHA256, keyed by a server secret, over the RFC 8785 canonical
JSON of the event's content together with the previous event's hash. Changing, inserting or
deleting any event breaks the chain from that point on; without the key nobody can recompute it.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import rfc8785

GENESIS_HASH = "0" * 64
MASK = "***"
SECRET_FIELDS = frozenset(
    {"password", "password_hash", "token", "token_hash", "secret", "secret_key", "api_key"}
)


def mask_secrets(value: Any) -> Any:
    """Return a copy with every secret-looking key's value replaced by ``***``."""
    if isinstance(value, Mapping):
        return {
            k: (MASK if str(k).lower() in SECRET_FIELDS else mask_secrets(v))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [mask_secrets(v) for v in value]
    return value


def canonical_bytes(content: Mapping[str, Any]) -> bytes:
    return rfc8785.dumps(dict(content))


def compute_hash(key: bytes, content: Mapping[str, Any], prev_hash: str) -> str:
    body = canonical_bytes({"event": dict(content), "prev_hash": prev_hash})
    return hmac.new(key, body, hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class ChainedEvent:
    id: int
    content: Mapping[str, Any]
    prev_hash: str
    hash: str


@dataclass(frozen=True, slots=True)
class VerifyResult:
    ok: bool
    events_checked: int
    first_bad_event_id: int | None
    reason: str | None = None


def verify_chain(key: bytes, events: Iterable[ChainedEvent]) -> VerifyResult:
    """Walk events in id order; report the first whose link or hash does not hold."""
    expected_prev = GENESIS_HASH
    checked = 0
    for ev in events:
        checked += 1
        if ev.prev_hash != expected_prev:
            return VerifyResult(
                False, checked, ev.id, "prev_hash does not match the previous event"
            )
        if not hmac.compare_digest(compute_hash(key, ev.content, ev.prev_hash), ev.hash):
            return VerifyResult(False, checked, ev.id, "hash does not match the event's content")
        expected_prev = ev.hash
    return VerifyResult(True, checked, None, None)


def verify_chain_for(key: bytes, events: Iterable[ChainedEvent], org_id: int) -> VerifyResult:
    """:func:`verify_chain` over the whole shared chain, told to one organisation: the count and
    the event named are its own. A break at another organisation's event is reported at the
    organisation's next event (or none, when it has no later one), with no id of the other's."""
    expected_prev = GENESIS_HASH
    checked = 0
    it = iter(events)
    for ev in it:
        own = ev.content.get("org_id") == org_id
        checked += 1 if own else 0
        if ev.prev_hash != expected_prev:
            reason = "prev_hash does not match the previous event"
        elif not hmac.compare_digest(compute_hash(key, ev.content, ev.prev_hash), ev.hash):
            reason = "hash does not match the event's content"
        else:
            expected_prev = ev.hash
            continue
        if own:
            return VerifyResult(False, checked, ev.id, reason)
        nxt = next((e.id for e in it if e.content.get("org_id") == org_id), None)
        where = (
            "before this event of your organisation"
            if nxt is not None
            else "after your organisation's newest event"
        )
        return VerifyResult(
            False,
            checked,
            nxt,
            f"the shared chain is broken {where}: an event was changed, inserted or removed",
        )
    return VerifyResult(True, checked, None, None)
