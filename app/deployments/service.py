"""Deployment use cases: validate against the catalog, write, and record the audit event."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.audit import service as audit
from app.auth.context import Caller
from app.catalog.repository import CatalogRepository
from app.db import utcnow
from app.deployments.models import Deployment
from app.deployments.repository import DeploymentRepository
from app.deployments.schemas import DeploymentCreate, DeploymentUpdate
from app.errors import Conflict, InvalidInput, NotFound

_FIELD_TO_COLUMN = {"model": "model_key", "gpu": "gpu_key"}
# null: back to the default shape; human_oversight back to "not stated"
_NULLABLE = frozenset({"peak_to_average", "hourly_profile", "human_oversight"})


def _check_catalog_keys(session: Session, values: dict[str, Any]) -> None:
    catalog = CatalogRepository(session)
    if "model" in values and catalog.model(values["model"]) is None:
        keys = ", ".join(m.key for m in catalog.models())
        raise InvalidInput(f"unknown model '{values['model']}'; known: {keys}", field="model")
    if "gpu" in values and catalog.gpu(values["gpu"]) is None:
        keys = ", ".join(g.key for g in catalog.gpus())
        raise InvalidInput(f"unknown gpu '{values['gpu']}'; known: {keys}", field="gpu")


def _to_columns(values: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in values.items():
        if k == "segments":
            v = [s if isinstance(s, dict) else s.model_dump(mode="json") for s in v]
        elif k == "regulatory_flags":
            v = [str(f) for f in v]
        elif k in ("profile", "human_oversight") and v is not None:
            v = str(v)
        out[_FIELD_TO_COLUMN.get(k, k)] = v
    return out


@contextmanager
def _name_race(
    repo: DeploymentRepository, name: str | None, *, exclude_id: int | None = None
) -> Iterator[None]:
    """Write in a savepoint: a concurrent request that took the same name between our check and
    our write trips the unique constraint, which is the same 409 as the check (not a 500)."""
    try:
        with repo.session.begin_nested():
            yield
    except IntegrityError:
        if name is None or not repo.name_taken(name, exclude_id=exclude_id):
            raise
        raise Conflict(f"a deployment named '{name}' already exists", field="name") from None


def get(session: Session, caller: Caller, deployment_id: int) -> Deployment:
    dep = DeploymentRepository(session, caller.org_id).get(deployment_id)
    if dep is None:
        raise NotFound(f"deployment {deployment_id} not found")
    return dep


def require_active(dep: Deployment) -> None:
    """Archived deployments keep their records but take no new work."""
    if dep.archived_at is not None:
        raise Conflict(
            f"deployment '{dep.name}' is archived (it has governance records); "
            "its records stay readable but it takes no changes",
            field="deployment_id",
        )


def list_(
    session: Session, caller: Caller, *, limit: int, offset: int, archived: str = "exclude"
) -> tuple[Sequence[Deployment], int]:
    """``archived``: exclude (default), include or only archived deployments."""
    return DeploymentRepository(session, caller.org_id).list(
        limit=limit, offset=offset, archived=archived
    )


def create(
    session: Session, caller: Caller, data: DeploymentCreate, *, audit_key: bytes
) -> Deployment:
    repo = DeploymentRepository(session, caller.org_id)
    values = data.model_dump()
    _check_catalog_keys(session, values)
    if repo.name_taken(data.name):
        raise Conflict(f"a deployment named '{data.name}' already exists", field="name")
    with _name_race(repo, data.name):
        dep = repo.add(Deployment(**_to_columns(values)))
    audit.record(
        session,
        audit_key,
        actor=caller.actor,
        action="deployment.create",
        entity_type="deployment",
        entity_id=dep.id,
        after=dep.audit_dict(),
    )
    return dep


def update(
    session: Session,
    caller: Caller,
    deployment_id: int,
    data: DeploymentUpdate,
    *,
    audit_key: bytes,
) -> Deployment:
    repo = DeploymentRepository(session, caller.org_id)
    dep = get(session, caller, deployment_id)
    require_active(dep)
    values = data.model_dump(exclude_unset=True)
    nulls = [k for k, v in values.items() if v is None and k not in _NULLABLE]
    if nulls:
        raise InvalidInput(f"{nulls[0]} may not be null", field=nulls[0])
    _check_catalog_keys(session, values)
    # The traffic shape is a ratio or a profile: setting one clears the other.
    if values.get("peak_to_average") is not None:
        values["hourly_profile"] = None
    if values.get("hourly_profile") is not None:
        values["peak_to_average"] = None
    if "name" in values and repo.name_taken(values["name"], exclude_id=dep.id):
        raise Conflict(f"a deployment named '{values['name']}' already exists", field="name")
    before = dep.audit_dict()
    with _name_race(repo, values.get("name"), exclude_id=dep.id):
        for col, v in _to_columns(values).items():
            setattr(dep, col, v)
        session.flush()
    audit.record(
        session,
        audit_key,
        actor=caller.actor,
        action="deployment.update",
        entity_type="deployment",
        entity_id=dep.id,
        before=before,
        after=dep.audit_dict(),
    )
    return dep


def delete(session: Session, caller: Caller, deployment_id: int, *, audit_key: bytes) -> str:
    """Delete the deployment, or archive it when it has governance records (decisions,
    evaluations): those are never deleted. Returns "deleted", "archived" or "already archived"."""
    repo = DeploymentRepository(session, caller.org_id)
    dep = get(session, caller, deployment_id)
    before = dep.audit_dict()
    if dep.archived_at is not None:
        return "already archived"
    if repo.has_governance_records(dep.id):
        dep.archived_at, dep.archived_by = utcnow(), caller.email
        session.flush()
        audit.record(
            session,
            audit_key,
            actor=caller.actor,
            action="deployment.archive",
            entity_type="deployment",
            entity_id=dep.id,
            before=before,
            after={
                **dep.audit_dict(),
                "archived_by": caller.email,
                "reason": "it has governance decisions or evaluations",
            },
        )
        return "archived"
    repo.delete(dep)
    audit.record(
        session,
        audit_key,
        actor=caller.actor,
        action="deployment.delete",
        entity_type="deployment",
        entity_id=deployment_id,
        before=before,
    )
    return "deleted"
