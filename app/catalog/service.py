"""Catalog use cases: an organisation's current matrix, derived suitability, its admins' edits
(versioned per organisation), effective GPU prices (organisation price, else the shipped default)
and the platform operator's changes to shipped default prices."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.audit import service as audit
from app.audit.service import Actor
from app.auth.context import Caller
from app.auth.models import PlatformOperator
from app.catalog.models import (
    PRICE_KINDS,
    Gpu,
    GpuPriceOverride,
    MatrixCell,
    MatrixVersion,
    ModelArch,
)
from app.catalog.org_reference import ensure_matrix
from app.catalog.repository import CatalogRepository
from app.errors import Conflict, Forbidden, InvalidInput, NotFound
from app.estimators.architecture import ARCH_FIELDS, Architecture
from app.estimators.hardware import GpuSpec
from app.estimators.quality import figures_from_dicts
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


def current_matrix(session: Session, org_id: int, version: int | None = None) -> MatrixView:
    """The organisation's newest matrix version (or ``version``); created from the shipped
    Table 1 the first time an organisation without one is read."""
    repo = CatalogRepository(session)
    if version is not None:
        mv = repo.matrix_version(org_id, version)
        if mv is None:
            raise NotFound(f"matrix version {version} not found")
        return matrix_view(mv)
    mv = repo.current_matrix(org_id)
    if mv is None:
        ensure_matrix(session, org_id)
        mv = repo.current_matrix(org_id)
    if mv is None:
        raise NotFound("no matrix loaded; run seed")
    return matrix_view(mv)


def suitability(session: Session, matrix: MatrixView) -> dict[str, dict[str, float]]:
    profiles = {p.key: p.weights for p in CatalogRepository(session).profiles()}
    return suitability_table(matrix.levels, profiles)


def _check_changes(
    repo: CatalogRepository, changes: dict[tuple[str, str], tuple[int, str]]
) -> None:
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


def edit_matrix(
    session: Session,
    caller: Caller,
    changes: dict[tuple[str, str], tuple[int, str]],
    note: str,
    *,
    audit_key: bytes,
) -> MatrixView:
    """The caller's organisation's next matrix version: its current one with ``changes``
    ((axis, dim) -> (level, words)). Another organisation's matrix is untouched. A concurrent
    publish that took the same version number first is a :class:`Conflict` (409)."""
    repo = CatalogRepository(session)
    current_matrix(session, caller.org_id)  # creates the shipped version 1 if missing
    current = repo.current_matrix(caller.org_id)
    if current is None:
        raise NotFound("no matrix loaded")
    _check_changes(repo, changes)
    old = matrix_view(current)
    effective = {
        k: v
        for k, v in changes.items()
        if (old.levels[k[0]][k[1]], old.wording[k[0]][k[1]]) != (v[0], v[1].strip())
    }
    if not effective:
        raise InvalidInput("no cell changed; nothing to save", field="cells")
    version = current.version + 1
    try:
        with session.begin_nested():
            mv = MatrixVersion(
                org_id=caller.org_id,
                version=version,
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
    except IntegrityError:
        raise Conflict(
            f"matrix version {version} was published by someone else while you were editing "
            f"version {current.version}; reload the matrix and apply your change again",
            field="version",
        ) from None
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


def candidate_matrix(
    session: Session, org_id: int, changes: dict[tuple[str, str], tuple[int, str]]
) -> tuple[MatrixView, dict[str, dict[str, int]], int]:
    """The organisation's current matrix, the levels it would have with ``changes`` applied (not
    saved; for the preview before publishing), and how many cells actually change. Bad changes are
    :class:`InvalidInput` naming the cell, as :func:`edit_matrix` would raise them."""
    repo = CatalogRepository(session)
    old = current_matrix(session, org_id)
    _check_changes(repo, changes)
    levels = {a: dict(dims) for a, dims in old.levels.items()}
    changed = 0
    for (axis, dim), (level, words) in changes.items():
        if (old.levels[axis][dim], old.wording[axis][dim]) != (level, words.strip()):
            changed += 1
        levels[axis][dim] = level
    if not changed:
        raise InvalidInput("no cell changed; nothing to save", field="cells")
    return old, levels, changed


# ---- GPU prices: shipped default (platform operator) and organisation overrides -----------
MAX_PRICE_USD = 1000.0
PRICE_FIELD = "price_per_hour_usd"


@dataclass(frozen=True, slots=True)
class GpuPrice:
    """The $/GPU-hour an organisation's estimates use for a GPU, and where it comes from."""

    price_per_hour_usd: float | None
    origin: str  # "organisation" | "shipped_default" | "unpriced"
    source: str  # human-readable: what the price is and who set it
    kind: str | None = None  # an organisation price's kind (PRICE_KINDS)
    note: str = ""
    default_price_per_hour_usd: float | None = None
    default_source: str = ""


def effective_price(g: Gpu, override: GpuPriceOverride | None) -> GpuPrice:
    dflt, dflt_source = g.price_per_hour_usd, g.price_source
    if override is not None:
        desc = PRICE_KINDS.get(override.kind, override.kind)
        note = f": {override.note}" if override.note else ""
        return GpuPrice(
            override.price_per_hour_usd,
            "organisation",
            f"organisation price ({desc}{note}), set by {override.set_by}",
            override.kind,
            override.note,
            dflt,
            dflt_source,
        )
    if g.price_per_hour_usd is not None:
        return GpuPrice(
            g.price_per_hour_usd,
            "shipped_default",
            f"shipped default: {g.price_source}",
            default_price_per_hour_usd=dflt,
            default_source=dflt_source,
        )
    return GpuPrice(
        None,
        "unpriced",
        "no shipped default price and no organisation price",
        default_price_per_hour_usd=dflt,
        default_source=dflt_source,
    )


def effective_prices(session: Session, org_id: int) -> list[tuple[Gpu, GpuPrice]]:
    """Every catalog GPU with the organisation's effective price (one query for overrides)."""
    repo = CatalogRepository(session)
    overrides = repo.price_overrides(org_id)
    return [(g, effective_price(g, overrides.get(g.key))) for g in repo.gpus()]


def gpu_price(session: Session, org_id: int, g: Gpu) -> GpuPrice:
    return effective_price(g, CatalogRepository(session).price_override(org_id, g.key))


def org_gpu_spec(session: Session, org_id: int, g: Gpu) -> GpuSpec:
    """The estimators' GPU with the organisation's effective price."""
    return gpu_spec_of(g, gpu_price(session, org_id, g).price_per_hour_usd)


def _check_price(price: float) -> None:
    if not (0 < price < MAX_PRICE_USD):
        raise InvalidInput(
            f"price per GPU-hour must be between 0 and {MAX_PRICE_USD:.0f} USD", field=PRICE_FIELD
        )


def _gpu_or_404(session: Session, gpu_key: str) -> Gpu:
    gpu = CatalogRepository(session).gpu(gpu_key)
    if gpu is None:
        raise NotFound(f"gpu {gpu_key} not found")
    return gpu


def _price_state(p: GpuPrice) -> dict[str, Any]:
    return {
        "price_per_hour_usd": p.price_per_hour_usd,
        "price_origin": p.origin,
        "kind": p.kind,
        "note": p.note,
    }


def set_org_price(
    session: Session,
    caller: Caller,
    gpu_key: str,
    price: float,
    kind: str,
    note: str,
    *,
    audit_key: bytes,
) -> GpuPrice:
    """The caller's organisation's own $/GPU-hour for a GPU (audited under that organisation);
    the shipped default and every other organisation's prices are untouched."""
    gpu = _gpu_or_404(session, gpu_key)
    _check_price(price)
    if kind not in PRICE_KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(PRICE_KINDS)}", field="kind")
    note = note.strip()
    if len(note) > 500:
        raise InvalidInput("note must be at most 500 characters", field="note")
    repo = CatalogRepository(session)
    row = repo.price_override(caller.org_id, gpu_key)
    before = effective_price(gpu, row)
    if row is None:
        row = GpuPriceOverride(
            org_id=caller.org_id,
            gpu_key=gpu_key,
            price_per_hour_usd=price,
            kind=kind,
            note=note,
            set_by=caller.email,
        )
        try:
            with session.begin_nested():
                session.add(row)
                session.flush()
        except IntegrityError:
            raise Conflict(
                f"a price for {gpu_key} was set by someone else at the same time; reload",
                field=PRICE_FIELD,
            ) from None
    else:
        row.price_per_hour_usd, row.kind, row.note, row.set_by = price, kind, note, caller.email
        session.flush()
    after = effective_price(gpu, row)
    audit.record(
        session,
        audit_key,
        actor=caller.actor,
        action="gpu.price.set",
        entity_type="gpu",
        entity_id=gpu_key,
        before=_price_state(before),
        after=_price_state(after),
    )
    return after


def remove_org_price(
    session: Session, caller: Caller, gpu_key: str, *, audit_key: bytes
) -> GpuPrice:
    """Drop the organisation's own price: its estimates use the shipped default again
    (idempotent: without an own price nothing changes and nothing is recorded)."""
    gpu = _gpu_or_404(session, gpu_key)
    row = CatalogRepository(session).price_override(caller.org_id, gpu_key)
    if row is None:
        return effective_price(gpu, None)
    before = effective_price(gpu, row)
    session.delete(row)
    session.flush()
    after = effective_price(gpu, None)
    audit.record(
        session,
        audit_key,
        actor=caller.actor,
        action="gpu.price.remove",
        entity_type="gpu",
        entity_id=gpu_key,
        before=_price_state(before),
        after=_price_state(after),
    )
    return after


def set_default_price(
    session: Session,
    operator: PlatformOperator,
    gpu_key: str,
    price: float | None,
    source: str,
    *,
    audit_key: bytes,
) -> Gpu:
    """A platform operator's change to the shipped default price (``None``: unpriced), used by
    every organisation without its own price. Audited as a platform event (no organisation)."""
    if not operator.is_active:
        raise Forbidden("this platform operator is deactivated")
    gpu = _gpu_or_404(session, gpu_key)
    source = source.strip()
    if price is not None:
        _check_price(price)
        if not source:
            raise InvalidInput("say where the price comes from (offer, date)", field="source")
    if len(source) > 500:
        raise InvalidInput("source must be at most 500 characters", field="source")
    before = {"price_per_hour_usd": gpu.price_per_hour_usd, "price_source": gpu.price_source}
    gpu.price_per_hour_usd = price
    gpu.price_source = source if price is not None else ""
    session.flush()
    actor = Actor(id=None, email=f"operator:{operator.email}", org_id=None)
    audit.record(
        session,
        audit_key,
        actor=actor,
        action="gpu.default_price.update",
        entity_type="gpu",
        entity_id=gpu_key,
        before=before,
        after={"price_per_hour_usd": price, "price_source": gpu.price_source},
    )
    return gpu


def architecture_of(m: ModelArch) -> Architecture:
    return Architecture(
        **{f: getattr(m, f) for f in ARCH_FIELDS},
        name=m.name,
        quality=figures_from_dicts(m.quality),
    )


def gpu_spec_of(g: Gpu, price_per_hour_usd: float | None = None) -> GpuSpec:
    """The estimators' GPU. Unpriced unless a price is given: use :func:`org_gpu_spec` for an
    organisation's effective price."""
    return GpuSpec(
        key=g.key,
        name=g.name,
        memory_gb=g.memory_gb,
        bandwidth_tbps=g.bandwidth_tbps,
        bf16_tflops_dense=g.bf16_tflops_dense,
        usable_memory_gib=g.usable_memory_gib,
        fp8_tflops_dense=g.fp8_tflops_dense,
        int8_tops_dense=g.int8_tops_dense,
        price_per_hour_usd=price_per_hour_usd,
    )


@dataclass(frozen=True, slots=True)
class ModelCounts:
    """Parameter counts derived from a catalog model's architecture fields."""

    total_params: int
    active_params: int
    non_embedding_params: int
    kv_bytes_per_token_bf16: int
    gqa_group: int
    mlp_attention_ratio: float


def model_counts(m: ModelArch) -> ModelCounts:
    """Parameter counts derived from a catalog model's architecture fields."""
    a = architecture_of(m)
    return ModelCounts(
        total_params=a.total_params,
        active_params=a.active_params,
        non_embedding_params=a.non_embedding_params,
        kv_bytes_per_token_bf16=int(a.kv_bytes_per_token(2.0)),
        gqa_group=a.gqa_group,
        mlp_attention_ratio=round(a.mlp_attention_ratio, 3),
    )
