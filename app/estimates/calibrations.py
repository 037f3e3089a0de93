"""Calibrations: start a torch run or a vLLM-benchmark import as a job, list them, and find the
one an estimate should use (the newest for the organisation, GPU and engine)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from app.audit import service as audit
from app.auth.context import Caller
from app.catalog.repository import CatalogRepository
from app.catalog.service import architecture_of
from app.errors import InvalidInput
from app.estimates import jobs as _jobs  # noqa: F401 - registers its job kinds
from app.estimates.models import Calibration
from app.estimates.repository import CalibrationRepository
from app.estimators.calibration import calibration_memory_bytes
from app.estimators.engines import EngineProfile
from app.jobs import limits
from app.jobs import service as jobs
from app.jobs.models import Job


def latest(session: Session, org_id: int, gpu_key: str, engine: str) -> Calibration | None:
    return CalibrationRepository(session, org_id).latest(gpu_key, engine)


def latest_per_gpu(session: Session, org_id: int, engine: str) -> dict[str, Calibration]:
    """``latest`` for every GPU at once (the GPU comparison): GPU key -> newest calibration."""
    return CalibrationRepository(session, org_id).latest_per_gpu(engine)


def list_for(session: Session, org_id: int) -> list[Calibration]:
    return CalibrationRepository(session, org_id).all()


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


def check_calibration_memory(session: Session, params: dict[str, Any], limit: int) -> None:
    """Refuse (422) a torch calibration whose shapes would not fit this machine's memory."""
    m = CatalogRepository(session).model(params["model"])
    assert m is not None  # _check_keys ran first
    arch = architecture_of(m)
    if arch.is_moe:
        raise InvalidInput("calibration builds dense decoders; pick a dense model", field="model")

    def need(**change: Any) -> int:
        keys = ("prefill_points", "decode_points", "max_layers", "matmul_n", "copy_gib")
        p: dict[str, Any] = {k: params.get(k) for k in keys} | change
        return calibration_memory_bytes(
            arch,
            prefill_points=[tuple(x) for x in p["prefill_points"]],
            decode_points=[tuple(x) for x in p["decode_points"]],
            max_layers=p["max_layers"],
            matmul_n=p["matmul_n"],
            copy_gib=p["copy_gib"],
        )

    total = need()
    if total <= limit:
        return
    if need(max_layers=1) <= limit:
        field = "max_layers"
    elif need(decode_points=[(1, 1)]) <= limit:
        field = "decode_points"
    else:
        field = "prefill_points"
    limits.refuse_over_memory(total, limit, field=field, what=f"calibrating {m.name}")


def start(
    session: Session,
    caller: Caller,
    kind: str,
    params: dict[str, Any],
    key: bytes,
    *,
    torch_memory_limit: int | None = None,
) -> Job:
    """A calibration (torch on this machine: a memory check before anything runs) or a
    vLLM-benchmark import, as an audited job. The routes check the permissions (calibration:run,
    and torch:run as well for a calibration) before they call this."""
    _check_keys(session, params["model"], params["gpu"])
    if kind == "calibration":
        limit = torch_memory_limit or limits.torch_memory_limit_bytes(None)
        check_calibration_memory(session, params, limit)
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
