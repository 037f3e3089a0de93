"""Each organisation's own rule set starts from the shipped ``ruleset.yaml`` as its version 1
(created with the organisation by ``app.seed.ensure_org_defaults``, and lazily on first read);
idempotent and safe under concurrency, like the matrix's (app/catalog/org_reference.py)."""

from __future__ import annotations

import yaml
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.rules.reference import default_ruleset_text
from app.rulesets.models import RuleSetVersion
from app.rulesets.repository import RuleSetRepository

SHIPPED_RULESET_NOTE = "Shipped rule set (seed 000 §6, Table 4 and conclusion)"


def ensure_ruleset(session: Session, org_id: int) -> bool:
    """Give ``org_id`` the shipped rule set as its version 1 when it has none; True if added."""
    if RuleSetRepository(session, org_id).exists():
        return False
    text = default_ruleset_text()
    try:
        with session.begin_nested():
            session.add(
                RuleSetVersion(
                    org_id=org_id,
                    version=1,
                    text=text,
                    body=yaml.safe_load(text),
                    note=SHIPPED_RULESET_NOTE,
                    created_by="system",
                )
            )
            session.flush()
    except IntegrityError:
        return False
    return True


SHIPPED_RULESET_UPDATE_NOTE = (
    SHIPPED_RULESET_NOTE + ", updated by `axisboard seed`: the organisation had not edited the "
    "shipped rule set, whose wording (e.g. gate reasons) has changed since"
)


def refresh_shipped_ruleset(session: Session, org_id: int) -> bool:
    """When the organisation's newest rule set is an unedited shipped one (created by the
    system, never published by a person) whose text differs from today's shipped file, publish
    the shipped file as its next version, so seeding brings old databases the current rule
    wording; an organisation's own edits are never replaced, and older versions stay as they
    were (recommendations cite the version they used). True if a version was added."""
    latest = RuleSetRepository(session, org_id).newest()
    text = default_ruleset_text()
    if latest is None or latest.created_by != "system" or latest.text == text:
        return False
    version = latest.version + 1
    body = {**yaml.safe_load(text), "version": version}
    try:
        with session.begin_nested():
            session.add(
                RuleSetVersion(
                    org_id=org_id,
                    version=version,
                    text=text,
                    body=body,
                    note=SHIPPED_RULESET_UPDATE_NOTE,
                    created_by="system",
                )
            )
            session.flush()
    except IntegrityError:
        return False  # someone published that version first: theirs stands
    return True
