from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter

from app.catalog import service
from app.catalog.repository import CatalogRepository
from app.catalog.schemas import (
    AxesOut,
    AxisOut,
    AxisRating,
    FailureModeOut,
    GpuOut,
    ModelOut,
    ParameterOut,
    TechniqueOut,
)
from app.db import SessionDep
from app.estimators.techniques import PARAMS, UNPRICED
from app.web.deps import ApiCaller

router = APIRouter(tags=["catalog"])


@router.get("/axes", response_model=AxesOut)
def list_axes(session: SessionDep, _caller: ApiCaller) -> AxesOut:
    matrix = service.current_matrix(session)
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
        for a in CatalogRepository(session).axes()
    ]
    return AxesOut(matrix_version=matrix.version, items=items)


@router.get("/failure-modes", response_model=list[FailureModeOut])
def list_failure_modes(session: SessionDep, _caller: ApiCaller) -> object:
    return CatalogRepository(session).failure_modes()


@router.get("/techniques", response_model=list[TechniqueOut])
def list_techniques(session: SessionDep, _caller: ApiCaller) -> list[TechniqueOut]:
    """Each technique with its axis and the parameters a portfolio item may set."""
    return [
        TechniqueOut(
            key=t.key, axis=t.axis_key, name=t.name, description=t.description,
            citation=t.citation, priced=t.key not in UNPRICED,
            parameters=[ParameterOut(**{**asdict(p), "choices": list(p.choices)})
                        for p in PARAMS.get(t.key, ())],
        )
        for t in CatalogRepository(session).techniques()
    ]  # fmt: skip


@router.get("/gpus", response_model=list[GpuOut])
def list_gpus(session: SessionDep, _caller: ApiCaller) -> object:
    return CatalogRepository(session).gpus()


@router.get("/models", response_model=list[ModelOut])
def list_models(session: SessionDep, _caller: ApiCaller) -> list[ModelOut]:
    return [
        ModelOut(
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
            **{
                k: v
                for k, v in service.model_counts(m).items()
                if k
                in (
                    "total_params",
                    "active_params",
                    "non_embedding_params",
                    "kv_bytes_per_token_bf16",
                )
            },
        )
        for m in CatalogRepository(session).models()
    ]
