"""Governance's records about a deployment (decisions, evaluations, statements of applicability),
which are never deleted: registered with the deployments (``keeps_records``), so deleting a
deployment that has any archives it instead. Imported by app/governance/models.py, so the check
is there wherever these tables are mapped."""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.deployments.repository import keeps_records


@keeps_records
def has_governance_records(session: Session, org_id: int, deployment_id: int) -> bool:
    # imported here: app/governance/models.py imports this module, and the repository the models
    from app.governance.repository import GovernanceRepository

    return GovernanceRepository(session, org_id).has_records(deployment_id)
