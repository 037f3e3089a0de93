"""Rule-set versions: load the shipped YAML as version 1, validate an edit against the schema and
the catalog in the database, publish it as the next version (an audit event)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.audit import service as audit
from app.auth.context import Caller
from app.auth.permissions import Permission
from app.catalog.repository import CatalogRepository
from app.errors import InvalidInput, NotFound
from app.rules.engine import RuleSet, RuleSetError, parse_ruleset
from app.rules.reference import default_ruleset_text
from app.rules.safe_yaml import YamlRefused, load_ruleset
from app.rulesets.models import RuleSetVersion


def load_default(session: Session) -> bool:
    """Store the shipped rule set as version 1 when no version exists; True if it was added."""
    if session.execute(select(func.count(RuleSetVersion.id))).scalar_one():
        return False
    text = default_ruleset_text()
    body = yaml.safe_load(text)
    session.add(RuleSetVersion(version=1, text=text, body=body, note="Shipped rule set (seed 000 "
                               "§6, Table 4 and conclusion)", created_by="system"))  # fmt: skip
    session.flush()
    return True


def versions(session: Session) -> Sequence[RuleSetVersion]:
    return (
        session.execute(select(RuleSetVersion).order_by(RuleSetVersion.version.desc()))
        .scalars()
        .all()
    )


def get_version(session: Session, version: int | None = None) -> RuleSetVersion:
    stmt = select(RuleSetVersion)
    if version is None:
        stmt = stmt.order_by(RuleSetVersion.version.desc()).limit(1)
    else:
        stmt = stmt.where(RuleSetVersion.version == version)
    row = session.execute(stmt).scalar_one_or_none()
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


# Versions are immutable and were validated when published, so each is parsed once per process.
_PARSED: dict[tuple[int, int], RuleSet] = {}


def clear_cache() -> None:
    _PARSED.clear()


def current(session: Session) -> tuple[RuleSetVersion, RuleSet]:
    row = get_version(session)
    return row, ruleset_of(session, row)


def current_ruleset(session: Session) -> RuleSet:
    """The newest version, parsed (cached by version: one small query when it is cached)."""
    found = session.execute(
        select(RuleSetVersion.id, RuleSetVersion.version)
        .order_by(RuleSetVersion.version.desc())
        .limit(1)
    ).first()
    if found is None:
        raise NotFound("no rule set; run seed")
    key = (found.id, found.version)
    if key not in _PARSED:
        _PARSED[key] = ruleset_of(session, get_version(session, found.version))
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
    caller.require(Permission.rules_edit)
    body, rs = parse_text(session, text)
    latest = get_version(session)
    if body.get("rules") == latest.body.get("rules"):
        raise InvalidInput("the rules are unchanged from the current version", field="yaml")
    version = latest.version + 1
    body = {**body, "version": version}
    row = RuleSetVersion(version=version, text=text, body=body, note=note.strip(),
                         created_by=caller.email)  # fmt: skip
    session.add(row)
    session.flush()
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
