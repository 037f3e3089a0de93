"""Catalog use cases: the current matrix, derived suitability, admin edits (versioned)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from app.audit import service as audit
from app.auth.context import Caller
from app.auth.permissions import Permission
from app.catalog.models import Gpu, MatrixCell, MatrixVersion, ModelArch
from app.catalog.repository import CatalogRepository
from app.errors import InvalidInput, NotFound
from app.estimators.architecture import ARCH_FIELDS, Architecture
from app.estimators.hardware import GpuSpec
from app.rules.matrix import DIMENSIONS, LEVEL_MAX, LEVEL_MIN, suitability_table


@dataclass(frozen=True, slots=True)
class MatrixView:
    version: int
    created_at: str
    created_by: str | None
    note: str
    levels: dict[str, dict[str, int]]
    wording: dict[str, dict[str, str]]


def matrix_view(mv: MatrixVersion) -> MatrixView:
    levels: dict[str, dict[str, int]] = {}
    wording: dict[str, dict[str, str]] = {}
    for c in mv.cells:
        levels.setdefault(c.axis_key, {})[c.dimension_key] = c.level
        wording.setdefault(c.axis_key, {})[c.dimension_key] = c.wording
    return MatrixView(
        mv.version, mv.created_at.isoformat(), mv.created_by, mv.note, levels, wording
    )


def current_matrix(session: Session, version: int | None = None) -> MatrixView:
    repo = CatalogRepository(session)
    mv = repo.matrix_version(version) if version is not None else repo.current_matrix()
    if mv is None:
        raise NotFound("matrix version not found" if version else "no matrix loaded; run seed")
    return matrix_view(mv)


def suitability(session: Session, matrix: MatrixView) -> dict[str, dict[str, float]]:
    profiles = {p.key: p.weights for p in CatalogRepository(session).profiles()}
    return suitability_table(matrix.levels, profiles)


def edit_matrix(
    session: Session,
    caller: Caller,
    changes: dict[tuple[str, str], tuple[int, str]],
    note: str,
    *,
    audit_key: bytes,
) -> MatrixView:
    """A new matrix version: the current one with ``changes`` ((axis, dim) -> (level, words))."""
    caller.require(Permission.matrix_edit)
    repo = CatalogRepository(session)
    current = repo.current_matrix()
    if current is None:
        raise NotFound("no matrix loaded")
    axes = {a.key for a in repo.axes()}
    for (axis, dim), (level, words) in changes.items():
        if axis not in axes:
            raise InvalidInput(f"unknown axis '{axis}'", field="axis")
        if dim not in DIMENSIONS:
            raise InvalidInput(f"unknown dimension '{dim}'", field="dimension")
        if not LEVEL_MIN <= level <= LEVEL_MAX:
            raise InvalidInput(
                f"level for {axis}/{dim} must be {LEVEL_MIN}-{LEVEL_MAX}", field=f"{axis}.{dim}"
            )
        if not words.strip() or len(words) > 300:
            raise InvalidInput(
                f"wording for {axis}/{dim} must be 1-300 characters", field=f"{axis}.{dim}.wording"
            )
    old = matrix_view(current)
    effective = {
        k: v
        for k, v in changes.items()
        if (old.levels[k[0]][k[1]], old.wording[k[0]][k[1]]) != (v[0], v[1].strip())
    }
    if not effective:
        raise InvalidInput("no cell changed; nothing to save", field="cells")
    mv = MatrixVersion(
        version=current.version + 1,
        note=note.strip()[:500],
        source=current.source,
        created_by=caller.email,
    )
    session.add(mv)
    session.flush()
    for c in current.cells:
        level, words = effective.get((c.axis_key, c.dimension_key), (c.level, c.wording))
        session.add(
            MatrixCell(
                version_id=mv.id,
                axis_key=c.axis_key,
                dimension_key=c.dimension_key,
                level=level,
                wording=words.strip(),
            )
        )
    session.flush()
    session.refresh(mv)
    audit.record(
        session,
        audit_key,
        actor=caller.actor,
        action="matrix.version.create",
        entity_type="matrix_version",
        entity_id=mv.version,
        before={f"{a}.{d}": [old.levels[a][d], old.wording[a][d]] for (a, d) in effective},
        after={f"{a}.{d}": [lv, w.strip()] for (a, d), (lv, w) in effective.items()}
        | {"note": mv.note},
    )
    return matrix_view(mv)


def set_gpu_price(
    session: Session, caller: Caller, gpu_key: str, price: float | None, *, audit_key: bytes
) -> None:
    caller.require(Permission.catalog_edit)
    gpu = CatalogRepository(session).gpu(gpu_key)
    if gpu is None:
        raise NotFound(f"gpu {gpu_key} not found")
    if price is not None and not (0 < price < 1000):
        raise InvalidInput(
            "price per GPU-hour must be between 0 and 1000 USD", field="price_per_hour_usd"
        )
    before = {"price_per_hour_usd": gpu.price_per_hour_usd, "price_source": gpu.price_source}
    gpu.price_per_hour_usd = price
    gpu.price_source = f"set by {caller.email}" if price is not None else ""
    session.flush()
    audit.record(
        session,
        audit_key,
        actor=caller.actor,
        action="gpu.price.update",
        entity_type="gpu",
        entity_id=gpu_key,
        before=before,
        after={"price_per_hour_usd": price, "price_source": gpu.price_source},
    )


def architecture_of(m: ModelArch) -> Architecture:
    return Architecture(**{f: getattr(m, f) for f in ARCH_FIELDS}, name=m.name)


def gpu_spec_of(g: Gpu) -> GpuSpec:
    return GpuSpec(
        key=g.key,
        name=g.name,
        memory_gb=g.memory_gb,
        bandwidth_tbps=g.bandwidth_tbps,
        bf16_tflops_dense=g.bf16_tflops_dense,
        usable_memory_gib=g.usable_memory_gib,
        fp8_tflops_dense=g.fp8_tflops_dense,
        int8_tops_dense=g.int8_tops_dense,
        price_per_hour_usd=g.price_per_hour_usd,
    )


def model_counts(m: ModelArch) -> dict[str, Any]:
    """Parameter counts derived from a catalog model's architecture fields."""
    a = architecture_of(m)
    return {
        "total_params": a.total_params,
        "active_params": a.active_params,
        "non_embedding_params": a.non_embedding_params,
        "kv_bytes_per_token_bf16": int(a.kv_bytes_per_token(2.0)),
        "gqa_group": a.gqa_group,
        "mlp_attention_ratio": round(a.mlp_attention_ratio, 3),
    }
