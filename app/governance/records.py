"""Governance's records about a deployment (decisions, evaluations, statements of applicability),
which are never deleted: registered with the deployments (``keeps_records``), so deleting a
deployment that has any archives it instead. Imported by app/governance/models.py, so the check
is there wherever these tables are mapped."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.deployments.repository import keeps_records
from app.governance.models import Decision, Evaluation, SoaVersion


@keeps_records
def has_governance_records(session: Session, org_id: int, deployment_id: int) -> bool:
    for model in (Decision, Evaluation, SoaVersion):
        found = session.execute(
            select(model.id)
            .where(model.org_id == org_id, model.deployment_id == deployment_id)
            .limit(1)
        ).first()
        if found is not None:
            return True
    return False
