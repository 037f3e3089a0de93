"""Each organisation's own copy of the editable reference data: its axis matrix and its rule set.

An organisation starts from the shipped defaults (Table 1 of seed 000 as matrix version 1, the
shipped ``ruleset.yaml`` as rule-set version 1). They are created when the organisation is created
(``auth.service.get_or_create_org``: CLI ``users create``, demo seeding, the admin UI), by
``axisboard seed`` for organisations that lack them, and lazily on first read otherwise. Creation
is idempotent and safe under concurrency: a racing creator's unique-constraint violation is
absorbed and the winner's row used.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import yaml
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.catalog.models import MatrixCell, MatrixVersion
from app.catalog.repository import CatalogRepository
from app.rules.reference import default_ruleset_text
from app.rulesets.models import RuleSetVersion
from app.rulesets.repository import RuleSetRepository

SHIPPED_MATRIX_NOTE = "Table 1 of seed 000 (shipped default)"
SHIPPED_RULESET_NOTE = "Shipped rule set (seed 000 §6, Table 4 and conclusion)"


@cache
def _axes_doc() -> dict[str, Any]:
    text = (resources.files("app.catalog") / "data" / "axes.yaml").read_text(encoding="utf-8")
    doc: dict[str, Any] = yaml.safe_load(text)
    return doc


def shipped_matrix_cells() -> list[tuple[str, str, int, str]]:
    """(axis, dimension, level, wording) of the shipped matrix, in file order."""
    return [
        (a["key"], dim, int(level), wording)
        for a in _axes_doc()["axes"]
        for dim, (level, wording) in a["matrix"].items()
    ]


def ensure_matrix(session: Session, org_id: int) -> bool:
    """Give ``org_id`` the shipped matrix as its version 1 when it has none; True if added."""
    if CatalogRepository(session).current_matrix_ref(org_id) is not None:
        return False
    try:
        with session.begin_nested():
            mv = MatrixVersion(org_id=org_id, version=1, note=SHIPPED_MATRIX_NOTE,
                               source=_axes_doc()["source"], created_by="system")  # fmt: skip
            session.add(mv)
            session.flush()
            for axis, dim, level, wording in shipped_matrix_cells():
                session.add(MatrixCell(version_id=mv.id, axis_key=axis, dimension_key=dim,
                                       level=level, wording=wording))  # fmt: skip
            session.flush()
    except IntegrityError:
        return False  # a concurrent request created it first
    return True


def ensure_ruleset(session: Session, org_id: int) -> bool:
    """Give ``org_id`` the shipped rule set as its version 1 when it has none; True if added."""
    if RuleSetRepository(session, org_id).exists():
        return False
    text = default_ruleset_text()
    try:
        with session.begin_nested():
            session.add(RuleSetVersion(org_id=org_id, version=1, text=text,
                                       body=yaml.safe_load(text), note=SHIPPED_RULESET_NOTE,
                                       created_by="system"))  # fmt: skip
            session.flush()
    except IntegrityError:
        return False
    return True


def ensure_org_defaults(session: Session, org_id: int) -> None:
    ensure_matrix(session, org_id)
    ensure_ruleset(session, org_id)
