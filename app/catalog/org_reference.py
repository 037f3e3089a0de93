"""Each organisation's own copy of the editable axis matrix (its rule set's is
app/rulesets/defaults.py).

An organisation starts from the shipped defaults (Table 1 of seed 000 as matrix version 1, the
shipped ``ruleset.yaml`` as rule-set version 1). They are created when the organisation is created
(``app.seed.ensure_org_defaults``: CLI ``users create``, demo seeding), by ``axisboard seed`` for
organisations that lack them, and lazily on first read otherwise. Creation
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

SHIPPED_MATRIX_NOTE = "Table 1 of seed 000 (shipped default)"


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
            mv = MatrixVersion(
                org_id=org_id,
                version=1,
                note=SHIPPED_MATRIX_NOTE,
                source=_axes_doc()["source"],
                created_by="system",
            )
            session.add(mv)
            session.flush()
            for axis, dim, level, wording in shipped_matrix_cells():
                session.add(
                    MatrixCell(
                        version_id=mv.id,
                        axis_key=axis,
                        dimension_key=dim,
                        level=level,
                        wording=wording,
                    )
                )
            session.flush()
    except IntegrityError:
        return False  # a concurrent request created it first
    return True
