"""Calibrations: start a torch run or a vLLM-benchmark import as a job, list them, and find the
one an estimate should use (the newest for the organisation, GPU and engine)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.audit import service as audit
from app.auth.context import Caller
from app.catalog.repository import CatalogRepository
from app.errors import InvalidInput
from app.estimates.models import Calibration
from app.estimators.engines import EngineProfile
from app.jobs import handlers as _handlers  # noqa: F401 - registers the job kinds
from app.jobs import service as jobs
from app.jobs.models import Job


def latest(session: Session, org_id: int, gpu_key: str, engine: str) -> Calibration | None:
    stmt = (
        select(Calibration)
        .where(
            Calibration.org_id == org_id,
            Calibration.gpu_key == gpu_key,
            Calibration.engine == engine,
        )
        .order_by(Calibration.id.desc())
        .limit(1)
    )
    return session.scalars(stmt).first()


def latest_per_gpu(session: Session, org_id: int, engine: str) -> dict[str, Calibration]:
    """``latest`` for every GPU at once (the GPU comparison): GPU key -> newest calibration."""
    newest = (
        select(func.max(Calibration.id))
        .where(Calibration.org_id == org_id, Calibration.engine == engine)
        .group_by(Calibration.gpu_key)
    )
    return {
        c.gpu_key: c for c in session.scalars(select(Calibration).where(Calibration.id.in_(newest)))
    }


def list_for(session: Session, org_id: int) -> list[Calibration]:
    stmt = select(Calibration).where(Calibration.org_id == org_id).order_by(Calibration.id.desc())
    return list(session.scalars(stmt))


def apply(eng: EngineProfile, cal: Calibration | None) -> tuple[EngineProfile, dict[str, Any]]:
    """The engine profile with the calibration's efficiencies, and what to say about it."""
    if cal is None:
        return eng, {"calibration": None}
    calibrated = eng.with_overrides(
        prefill_efficiency=cal.prefill_efficiency, decode_efficiency=cal.decode_efficiency
    )
    return calibrated, {
        "calibration": {
            "id": cal.id,
            "source": cal.source,
            "device": cal.device,
            "created_at": cal.created_at.isoformat(),
            "prefill_efficiency": cal.prefill_efficiency,
            "decode_efficiency": cal.decode_efficiency,
            "replaces": {"prefill": eng.prefill_efficiency, "decode": eng.decode_efficiency},
        }
    }


def _check_keys(session: Session, model: str, gpu: str) -> None:
    repo = CatalogRepository(session)
    if repo.model(model) is None:
        raise InvalidInput(f"unknown model '{model}'", field="model")
    if repo.gpu(gpu) is None:
        raise InvalidInput(f"unknown gpu '{gpu}'", field="gpu")


def start(session: Session, caller: Caller, kind: str, params: dict[str, Any], key: bytes) -> Job:
    _check_keys(session, params["model"], params["gpu"])
    full = {**params, "org_id": caller.org_id, "created_by": caller.email}
    job = jobs.create(
        session, org_id=caller.org_id, kind=kind, params=full, created_by=caller.email
    )
    summary = {k: v for k, v in params.items() if k != "bench"}
    audit.record(
        session,
        key,
        actor=caller.actor,
        action=f"job.{kind}.start",
        entity_type="job",
        entity_id=job.id,
        after=summary,
        org_id=caller.org_id,
    )
    return job
