"""Signed checkpoints of the audit-chain head, kept outside the database, so a deleted tail of the
chain — which the hash links alone cannot reveal — is detected.

A checkpoint names the newest event (id, hash, organisation) and is signed with the report key
(Ed25519). It is written after every commit that appended audit events, by whichever process
committed (app, worker, CLI): :func:`install` registers a SQLAlchemy ``after_commit`` hook, and
:func:`app.audit.service.record` tells it which events the transaction added. The store keeps the
checkpoint with the highest event id (concurrent writers never move it back), in one place every
replica shares:

- ``file`` (default): ``AXISBOARD_AUDIT_CHECKPOINT_PATH``, one JSON line, replaced atomically
  (temporary file, fsync, rename) under an exclusive ``flock``; put it on a volume every replica
  mounts.
- ``redis``: ``AXISBOARD_AUDIT_CHECKPOINT_URL=redis://host:6379/1``, a hash updated by a Lua
  script (compare and set); run Redis with persistence (``appendonly yes``).
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import structlog
from sqlalchemy import event, inspect
from sqlalchemy.orm import Session

from app.audit import signing
from app.audit.models import AuditEvent
from app.audit.repository import AuditRepository
from app.config import Settings

log = structlog.get_logger(__name__)

KIND = "axisboard-audit-checkpoint"
PENDING = "axisboard_audit_appended"  # session.info key: events appended in this transaction


class CheckpointError(RuntimeError):
    """The checkpoint store cannot be read or written."""


class Store(Protocol):
    name: str

    def advance(self, cp: dict[str, Any]) -> bool:
        """Store ``cp`` unless a checkpoint of a later event is there; True when stored."""

    def latest(self) -> dict[str, Any] | None: ...

    def clear(self) -> None: ...


class FileStore:
    """One JSON line in a file, replaced atomically under an exclusive lock. Lines written by
    earlier versions (one per checkpoint, appended) are read too: the highest event id wins."""

    name = "file"

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def _read(self) -> dict[str, Any] | None:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise CheckpointError(f"cannot read the checkpoint file: {exc.strerror}") from None
        best: dict[str, Any] | None = None
        for line in text.splitlines():
            if not line.strip():
                continue
            try:
                cp = json.loads(line)
                eid = int(cp["event_id"])
            except (ValueError, TypeError, KeyError):
                raise CheckpointError("the checkpoint file is not JSON lines") from None
            if best is None or eid > int(best["event_id"]):
                best = cp
        return best

    def latest(self) -> dict[str, Any] | None:
        return self._read()

    def advance(self, cp: dict[str, Any]) -> bool:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path.with_name(self.path.name + ".lock"), "a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                cur = self._read()
                if cur is not None and int(cur["event_id"]) >= int(cp["event_id"]):
                    return False
                tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
                with open(tmp, "w", encoding="utf-8") as f:
                    f.write(json.dumps(cp, sort_keys=True) + "\n")
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, self.path)
                dir_fd = os.open(self.path.parent, os.O_RDONLY)
                try:
                    os.fsync(dir_fd)
                finally:
                    os.close(dir_fd)
                return True
        except OSError as exc:
            raise CheckpointError(f"cannot write the checkpoint file: {exc.strerror}") from None

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)


# Compare-and-set in one step: concurrent replicas never replace a later head with an earlier one.
_ADVANCE = """
local cur = redis.call('HGET', KEYS[1], 'event_id')
if cur and tonumber(cur) >= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'event_id', ARGV[1], 'checkpoint', ARGV[2])
return 1
"""


class RedisStore:
    """A Redis hash (``event_id``, ``checkpoint``) shared by every replica."""

    name = "redis"

    def __init__(self, url: str, key: str = "axisboard:audit:checkpoint") -> None:
        import redis

        self.key = key
        self._redis = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
        self._advance = self._redis.register_script(_ADVANCE)

    def advance(self, cp: dict[str, Any]) -> bool:
        import redis

        try:
            args: list[int | str] = [int(cp["event_id"]), json.dumps(cp, sort_keys=True)]
            done = self._advance(keys=[self.key], args=args)
        except redis.RedisError as exc:
            raise CheckpointError(f"cannot write the checkpoint to Redis: {exc}") from None
        return bool(done)

    def latest(self) -> dict[str, Any] | None:
        import redis

        try:
            raw: Any = self._redis.hget(self.key, "checkpoint")
        except redis.RedisError as exc:
            raise CheckpointError(f"cannot read the checkpoint from Redis: {exc}") from None
        if raw is None:
            return None
        try:
            cp: dict[str, Any] = json.loads(raw)
        except ValueError:
            raise CheckpointError("the checkpoint in Redis is not JSON") from None
        return cp

    def clear(self) -> None:
        self._redis.delete(self.key)


_stores: dict[tuple[str, str], Store] = {}
_stores_lock = threading.Lock()


def store_for(settings: Settings) -> Store:
    """The store the settings name (one per URL or path and process: Redis pools are reused)."""
    url = settings.audit_checkpoint_url
    ident = ("url", url) if url else ("path", str(settings.audit_checkpoint_path))
    with _stores_lock:
        if ident not in _stores:
            if url and url.startswith(("redis://", "rediss://", "unix://")):
                _stores[ident] = RedisStore(url)
            elif url and url.startswith("file://"):
                _stores[ident] = FileStore(Path(url.removeprefix("file://")))
            elif url:
                raise CheckpointError(
                    "AXISBOARD_AUDIT_CHECKPOINT_URL must be redis://… or file://…"
                )
            else:
                _stores[ident] = FileStore(Path(settings.audit_checkpoint_path))
        return _stores[ident]


def _checkpoint(
    settings: Settings, event_id: int, hash_: str, org_id: int | None
) -> dict[str, Any]:
    return signing.sign(
        signing.report_signing_key(settings),
        {
            "kind": KIND,
            "event_id": event_id,
            "hash": hash_,
            "org_id": org_id,
            "created_at": datetime.now(UTC).isoformat(),
        },
    )


def write(session: Session, settings: Settings) -> dict[str, Any] | None:
    """Checkpoint the head as the session sees it; None when the chain is empty."""
    head = AuditRepository(session).head()
    if head is None:
        return None
    cp = _checkpoint(settings, head.id, head.hash, head.org_id)
    store_for(settings).advance(cp)
    return cp


def latest(settings: Settings) -> dict[str, Any] | None:
    return store_for(settings).latest()


@dataclass(frozen=True, slots=True)
class Check:
    ok: bool
    reason: str | None = None
    event_id: int | None = None  # the checkpointed head
    org_id: int | None = None  # its organisation


def check(session: Session, settings: Settings) -> Check:
    """The database against the latest checkpoint."""
    try:
        cp = latest(settings)
    except CheckpointError as exc:
        return Check(False, f"{exc}: a deleted tail of the chain cannot be ruled out")
    if cp is None:
        return Check(True)
    try:
        signing.verify(signing.public_bytes(signing.report_signing_key(settings)), cp)
        event_id, org_id = int(cp["event_id"]), cp.get("org_id")
    except (signing.SignatureError, KeyError, TypeError, ValueError) as exc:
        return Check(False, f"the latest checkpoint is not authentic: {exc}")
    row = AuditRepository(session).hash_of(event_id)
    if row is None:
        return Check(
            False,
            "the newest events of the chain are missing: the head checkpointed "
            "outside the database is gone, so the chain's tail was deleted",
            event_id,
            org_id,
        )
    if row != cp["hash"]:
        return Check(
            False,
            "the chain's head differs from its checkpoint outside the database",
            event_id,
            org_id,
        )
    return Check(True, None, event_id, org_id)


# ---- checkpoint after every commit that appended events ------------------------------------
_installed: Settings | Callable[[], Settings] | None = None
_hook_lock = threading.Lock()


def install(settings: Settings | Callable[[], Settings], *, replace: bool = True) -> None:
    """Checkpoint after every commit that appended audit events, into the store of ``settings``
    (or of what the callable returns, asked at the first checkpoint). The app installs its
    settings; the worker and the CLI install theirs unless some are (``replace`` False), so a
    process that embeds them keeps its own."""
    global _installed
    with _hook_lock:
        if not event.contains(Session, "after_commit", _after_commit):
            event.listen(Session, "after_commit", _after_commit)
            event.listen(Session, "after_soft_rollback", _after_soft_rollback)
        if replace or _installed is None:
            _installed = settings


def installed() -> Settings | None:
    target = _installed
    return target() if callable(target) else target


def appended(session: Session, ev: AuditEvent) -> None:
    """Note an event this transaction appended (called by :func:`app.audit.service.record`)."""
    session.info.setdefault(PENDING, []).append((ev, ev.id, ev.hash, ev.org_id))


def _after_commit(session: Session) -> None:
    if session.in_nested_transaction():  # a savepoint released: the transaction goes on
        return
    pending = session.info.pop(PENDING, None)
    if not pending:
        return
    settings = installed()
    if settings is None:
        return
    # events appended inside a savepoint that was rolled back are no longer persistent
    kept = [(eid, h, org) for ev, eid, h, org in pending if inspect(ev).persistent]
    if not kept:
        return
    eid, h, org = max(kept)
    try:
        store_for(settings).advance(_checkpoint(settings, eid, h, org))
    except CheckpointError as exc:  # committed already: say so loudly, the next append retries
        log.error("audit checkpoint not written", event_id=eid, error=str(exc))


def _after_soft_rollback(session: Session, previous_transaction: Any) -> None:
    if previous_transaction.parent is None:
        session.info.pop(PENDING, None)
