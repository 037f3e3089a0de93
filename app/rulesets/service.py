"""Rule-set versions, per organisation: each starts from the shipped YAML as its version 1
(``app.rulesets.defaults``); an edit is validated against the schema and the catalog in the
database and published as the organisation's next version (an audit event)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.audit import service as audit
from app.auth.context import Caller
from app.catalog.repository import CatalogRepository
from app.errors import Conflict, InvalidInput, NotFound
from app.rules.engine import RuleSet, RuleSetError, parse_ruleset
from app.rules.safe_yaml import YamlRefused, load_ruleset
from app.rulesets.defaults import ensure_ruleset
from app.rulesets.models import RuleSetVersion
from app.rulesets.repository import RuleSetRepository


def versions(session: Session, org_id: int) -> Sequence[RuleSetVersion]:
    ensure_ruleset(session, org_id)
    return RuleSetRepository(session, org_id).versions()


def get_version(session: Session, org_id: int, version: int | None = None) -> RuleSetVersion:
    """The organisation's newest version (or ``version``); the shipped rule set becomes its
    version 1 the first time an organisation without one is read."""
    repo = RuleSetRepository(session, org_id)
    if version is None:
        ensure_ruleset(session, org_id)
        row = repo.newest()
    else:
        row = repo.version(version)
    if row is None:
        raise NotFound("rule set version not found" if version else "no rule set; run seed")
    return row


def _parse_against_catalog(session: Session, body: Any) -> RuleSet:
    repo = CatalogRepository(session)
    return parse_ruleset(
        body,
        axes=[a.key for a in repo.axes()],
        techniques={t.key: t.axis_key for t in repo.techniques()},
        failure_modes=[f.key for f in repo.failure_modes()],
    )


def ruleset_of(session: Session, row: RuleSetVersion) -> RuleSet:
    rs = _parse_against_catalog(session, row.body)
    return RuleSet(row.version, rs.rules)


# Versions are immutable and were validated when published, so each is parsed once per process,
# keyed by organisation and row: one organisation never gets another's parsed version.
_PARSED: dict[tuple[int, int, int], RuleSet] = {}
_PARSED_MAX = 1024


def clear_cache() -> None:
    _PARSED.clear()


def current(session: Session, org_id: int) -> tuple[RuleSetVersion, RuleSet]:
    row = get_version(session, org_id)
    return row, ruleset_of(session, row)


def current_ruleset(session: Session, org_id: int) -> RuleSet:
    """The organisation's newest version, parsed (cached: one small query when it is cached)."""

    repo = RuleSetRepository(session, org_id)
    found = repo.newest_ref()
    if found is None:
        ensure_ruleset(session, org_id)
        found = repo.newest_ref()
    if found is None:
        raise NotFound("no rule set; run seed")
    row_id, version = found
    key = (org_id, row_id, version)
    if key not in _PARSED:
        if len(_PARSED) >= _PARSED_MAX:
            _PARSED.clear()
        _PARSED[key] = ruleset_of(session, get_version(session, org_id, version))
    return _PARSED[key]


def parse_text(session: Session, text: str) -> tuple[Any, RuleSet]:
    """Validate YAML text; errors are :class:`InvalidInput` naming the path (``rules[3].when``)."""
    try:
        body = load_ruleset(text)  # bounded; no anchors, aliases, merge keys or tags
    except YamlRefused as exc:
        raise InvalidInput(str(exc), field="yaml") from None
    if isinstance(body, dict) and "version" not in body:
        body = {"version": 0, **body}  # the version number is assigned on publish
    try:
        rs = _parse_against_catalog(session, body)
    except RuleSetError as exc:
        raise InvalidInput(str(exc), field=exc.path) from None
    if not rs.rules:
        raise InvalidInput("a rule set needs at least one rule", field="rules")
    return body, rs


def publish(
    session: Session, caller: Caller, text: str, note: str, *, audit_key: bytes
) -> RuleSetVersion:
    """The caller's organisation's next version (no other organisation's rule set changes). A
    concurrent publish that took the same version number first is a :class:`Conflict` (409)."""
    body, rs = parse_text(session, text)
    latest = get_version(session, caller.org_id)
    if body.get("rules") == latest.body.get("rules"):
        raise InvalidInput("the rules are unchanged from the current version", field="yaml")
    version = latest.version + 1
    body = {**body, "version": version}
    row = RuleSetVersion(
        org_id=caller.org_id,
        version=version,
        text=text,
        body=body,
        note=note.strip(),
        created_by=caller.email,
    )
    try:
        RuleSetRepository(session, caller.org_id).add(row)
    except IntegrityError:
        raise Conflict(
            f"rule set version {version} was published by someone else while you were editing "
            f"version {latest.version}; reload the rules and apply your change again",
            field="version",
        ) from None
    before = {r["id"]: r for r in latest.body.get("rules", [])}
    after = {r["id"]: r for r in body["rules"]}
    audit.record(
        session,
        audit_key,
        actor=caller.actor,
        action="ruleset.publish",
        entity_type="rule_set_version",
        entity_id=version,
        before={"version": latest.version},
        after={
            "version": version,
            "note": row.note,
            "rules": len(rs.rules),
            "added": sorted(set(after) - set(before)),
            "removed": sorted(set(before) - set(after)),
            "changed": sorted(k for k in set(after) & set(before) if after[k] != before[k]),
        },
    )
    return row
