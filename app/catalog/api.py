from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path

from app.auth.context import Caller
from app.auth.deps import ApiCaller
from app.auth.guards import api_requires
from app.auth.operators import OperatorDep
from app.auth.permissions import Permission
from app.catalog import service
from app.catalog.hosted_api import router as hosted_router
from app.catalog.models import Gpu, ModelArch
from app.catalog.repository import CatalogRepo, CatalogRepository
from app.catalog.schemas import (
    AxesOut,
    AxisOut,
    AxisRating,
    DefaultPriceIn,
    FailureModeOut,
    GpuOut,
    ModelOut,
    OrgPriceIn,
    ParameterOut,
    QualityOut,
    TechniqueOut,
)
from app.db import SessionDep
from app.errors import NotFound
from app.estimators.quality import figures_from_dicts, headline
from app.estimators.techniques import PARAMS, UNPRICED
from app.web.deps import SettingsDep

KeyPath = Annotated[str, Path(min_length=1, max_length=48, pattern=r"^[a-z0-9_]+$")]

router = APIRouter(tags=["catalog"])


@router.get("/axes", response_model=AxesOut)
def list_axes(session: SessionDep, catalog: CatalogRepo, caller: ApiCaller) -> AxesOut:
    """Your organisation's current matrix (its own versions; another organisation's edits never
    show here)."""
    matrix = service.current_matrix(session, caller.org_id)
    suit = service.suitability(session, matrix)
    items = [
        AxisOut(
            key=a.key,
            name=a.name,
            stage=a.stage,
            description=a.description,
            ratings={
                d: AxisRating(level=matrix.levels[a.key][d], wording=matrix.wording[a.key][d])
                for d in matrix.levels[a.key]
            },
            suitability={p: suit[p][a.key] for p in suit},
        )
        for a in catalog.axes()
    ]
    return AxesOut(matrix_version=matrix.version, items=items)


@router.get("/failure-modes", response_model=list[FailureModeOut])
def list_failure_modes(session: SessionDep, catalog: CatalogRepo, _caller: ApiCaller) -> object:
    return catalog.failure_modes()


@router.get("/techniques", response_model=list[TechniqueOut])
def list_techniques(
    session: SessionDep, catalog: CatalogRepo, _caller: ApiCaller
) -> list[TechniqueOut]:
    """Each technique with its axis and the parameters a portfolio item may set."""
    return [
        TechniqueOut(
            key=t.key,
            axis=t.axis_key,
            name=t.name,
            description=t.description,
            citation=t.citation,
            priced=t.key not in UNPRICED,
            parameters=[
                ParameterOut(**{**asdict(p), "choices": list(p.choices)})
                for p in PARAMS.get(t.key, ())
            ],
        )
        for t in catalog.techniques()
    ]


def gpu_out(g: Gpu, p: service.GpuPrice) -> GpuOut:
    return GpuOut(
        key=g.key,
        name=g.name,
        memory_gb=g.memory_gb,
        usable_memory_gib=g.usable_memory_gib,
        bandwidth_tbps=g.bandwidth_tbps,
        bf16_tflops_dense=g.bf16_tflops_dense,
        fp8_tflops_dense=g.fp8_tflops_dense,
        int8_tops_dense=g.int8_tops_dense,
        fp4_tflops_dense=g.fp4_tflops_dense,
        tdp_w=g.tdp_w,
        notes=g.notes,
        source=g.source,
        price_per_hour_usd=p.price_per_hour_usd,
        price_source=p.source,
        price_origin=p.origin,
        price_kind=p.kind,
        price_note=p.note,
        default_price_per_hour_usd=p.default_price_per_hour_usd,
        default_price_source=p.default_source,
    )


@router.get("/gpus", response_model=list[GpuOut])
def list_gpus(session: SessionDep, caller: ApiCaller) -> list[GpuOut]:
    """Every GPU with your organisation's effective price and where it comes from."""
    return [gpu_out(g, p) for g, p in service.effective_prices(session, caller.org_id)]


_PRICE_ERRORS: dict[int | str, dict[str, Any]] = {
    403: {"description": "Your role may not set prices"},
    404: {"description": "Unknown GPU"},
    422: {"description": "Invalid price, kind or note; names the field"},
}


@router.put("/gpus/{key}/price", response_model=GpuOut, responses=_PRICE_ERRORS)
def set_gpu_price(
    key: KeyPath,
    data: OrgPriceIn,
    session: SessionDep,
    catalog: CatalogRepo,
    caller: Annotated[Caller, Depends(api_requires(Permission.catalog_edit))],
    settings: SettingsDep,
) -> GpuOut:
    """Your organisation's own $/GPU-hour for a GPU (reserved, spot, owned hardware amortised,
    negotiated, ...): its estimates, recommendations and portfolios use it instead of the shipped
    default; no other organisation's figures change. Audited."""
    p = service.set_org_price(
        session,
        caller,
        key,
        data.price_per_hour_usd,
        data.kind,
        data.note,
        audit_key=settings.audit_hmac_key,
    )
    return gpu_out(_gpu(catalog, key), p)


@router.delete("/gpus/{key}/price", response_model=GpuOut, responses=_PRICE_ERRORS)
def remove_gpu_price(
    key: KeyPath,
    session: SessionDep,
    catalog: CatalogRepo,
    caller: Annotated[Caller, Depends(api_requires(Permission.catalog_edit))],
    settings: SettingsDep,
) -> GpuOut:
    """Drop your organisation's own price: the shipped default applies again. Audited."""
    p = service.remove_org_price(session, caller, key, audit_key=settings.audit_hmac_key)
    return gpu_out(_gpu(catalog, key), p)


@router.put(
    "/operator/gpus/{key}/default-price",
    response_model=GpuOut,
    tags=["operator"],
    responses={
        401: {"description": "Not a platform operator's token"},
        403: {"description": "An organisation's token: organisations cannot change defaults"},
        404: {"description": "Unknown GPU"},
        422: {"description": "Invalid price or source; names the field"},
    },
)
def set_default_price(
    key: KeyPath,
    data: DefaultPriceIn,
    session: SessionDep,
    operator: OperatorDep,
    settings: SettingsDep,
) -> GpuOut:
    """Platform operators only (token from ``axisboard operators create``): the shipped default
    $/GPU-hour used by every organisation without its own price. Audited (no organisation)."""
    g = service.set_default_price(
        session,
        operator,
        key,
        data.price_per_hour_usd,
        data.source,
        audit_key=settings.audit_hmac_key,
    )
    return gpu_out(g, service.effective_price(g, None))


def _gpu(catalog: CatalogRepository, key: str) -> Gpu:
    g = catalog.gpu(key)
    if g is None:
        raise NotFound(f"gpu {key} not found")
    return g


@router.get("/models", response_model=list[ModelOut])
def list_models(session: SessionDep, catalog: CatalogRepo, _caller: ApiCaller) -> list[ModelOut]:
    return [_model_out(m) for m in catalog.models()]


def _model_out(m: ModelArch) -> ModelOut:
    counts = service.model_counts(m)
    return ModelOut(
        key=m.key,
        name=m.name,
        n_layers=m.n_layers,
        d_model=m.d_model,
        d_ff=m.d_ff,
        n_heads=m.n_heads,
        n_kv_heads=m.n_kv_heads,
        d_head=m.d_head,
        vocab=m.vocab,
        tied_embeddings=m.tied_embeddings,
        n_experts=m.n_experts,
        experts_per_token=m.experts_per_token,
        published_total_params=m.published_total_params,
        source=m.source,
        quality={
            b: QualityOut(value=f.value, source=f.source, setting=f.setting, kind=f.kind)
            for b, f in headline(figures_from_dicts(m.quality)).items()
        },
        total_params=counts.total_params,
        active_params=counts.active_params,
        non_embedding_params=counts.non_embedding_params,
        kv_bytes_per_token_bf16=counts.kv_bytes_per_token_bf16,
    )


# The hosted LLM API catalog and a deployment's hosted alternatives (app/catalog/hosted_api.py).
router.include_router(hosted_router)
