"""Catalog queries. The catalog (axes, GPUs, models, ...) is shared by all organisations; matrix
versions and GPU price overrides belong to one organisation and are always queried by it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import Depends
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.catalog.hosted_models import HostedModelPrice
from app.catalog.models import (
    Axis,
    Dimension,
    Evidence,
    FailureMode,
    Framework,
    Gpu,
    GpuPriceOverride,
    MatrixVersion,
    ModelArch,
    Profile,
    Technique,
)
from app.db import SessionDep


class CatalogRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def axes(self) -> Sequence[Axis]:
        return self.session.execute(select(Axis).order_by(Axis.position)).scalars().all()

    def axis(self, key: str) -> Axis | None:
        return self.session.get(Axis, key)

    def dimensions(self) -> Sequence[Dimension]:
        return self.session.execute(select(Dimension).order_by(Dimension.position)).scalars().all()

    def profiles(self) -> Sequence[Profile]:
        return self.session.execute(select(Profile).order_by(Profile.key)).scalars().all()

    def current_matrix(self, org_id: int) -> MatrixVersion | None:
        return self.session.execute(
            select(MatrixVersion)
            .where(MatrixVersion.org_id == org_id)
            .order_by(MatrixVersion.version.desc())
            .limit(1)
        ).scalar_one_or_none()

    def current_matrix_ref(self, org_id: int) -> tuple[int, int] | None:
        """(id, version) of the organisation's newest matrix version, without its cells."""
        row = self.session.execute(
            select(MatrixVersion.id, MatrixVersion.version)
            .where(MatrixVersion.org_id == org_id)
            .order_by(MatrixVersion.version.desc())
            .limit(1)
        ).first()
        return None if row is None else (row.id, row.version)

    def matrix_version(self, org_id: int, version: int) -> MatrixVersion | None:
        return self.session.execute(
            select(MatrixVersion).where(
                MatrixVersion.org_id == org_id, MatrixVersion.version == version
            )
        ).scalar_one_or_none()

    def matrix_versions(self, org_id: int) -> Sequence[MatrixVersion]:
        return (
            self.session.execute(
                select(MatrixVersion)
                .where(MatrixVersion.org_id == org_id)
                .order_by(MatrixVersion.version.desc())
            )
            .scalars()
            .all()
        )

    def failure_modes(self) -> Sequence[FailureMode]:
        return (
            self.session.execute(select(FailureMode).order_by(FailureMode.position)).scalars().all()
        )

    def techniques(self, axis_key: str | None = None) -> Sequence[Technique]:
        stmt = select(Technique).order_by(Technique.axis_key, Technique.key)
        if axis_key:
            stmt = stmt.where(Technique.axis_key == axis_key)
        return self.session.execute(stmt).scalars().all()

    def evidence(self, axis_key: str | None = None) -> Sequence[Evidence]:
        stmt = select(Evidence).order_by(Evidence.kind.desc(), Evidence.year, Evidence.id)
        if axis_key:
            stmt = stmt.where(Evidence.axis_key == axis_key)
        return self.session.execute(stmt).scalars().all()

    def gpus(self) -> Sequence[Gpu]:
        return self.session.execute(select(Gpu).order_by(Gpu.key)).scalars().all()

    def gpu(self, key: str) -> Gpu | None:
        return self.session.get(Gpu, key)

    def price_overrides(self, org_id: int) -> dict[str, GpuPriceOverride]:
        rows = self.session.execute(
            select(GpuPriceOverride).where(GpuPriceOverride.org_id == org_id)
        ).scalars()
        return {r.gpu_key: r for r in rows}

    def price_override(self, org_id: int, gpu_key: str) -> GpuPriceOverride | None:
        return self.session.execute(
            select(GpuPriceOverride).where(
                GpuPriceOverride.org_id == org_id, GpuPriceOverride.gpu_key == gpu_key
            )
        ).scalar_one_or_none()

    def models(self) -> Sequence[ModelArch]:
        return self.session.execute(select(ModelArch).order_by(ModelArch.key)).scalars().all()

    def model(self, key: str) -> ModelArch | None:
        return self.session.get(ModelArch, key)

    def frameworks(self) -> Sequence[Framework]:
        return self.session.execute(select(Framework).order_by(Framework.key)).scalars().all()


class HostedPriceRepository:
    """An organisation's own prices of hosted models (its overrides of the shipped ones)."""

    def __init__(self, session: Session, org_id: int) -> None:
        self.session, self.org_id = session, org_id

    def all(self) -> dict[str, HostedModelPrice]:
        rows = self.session.execute(
            select(HostedModelPrice).where(HostedModelPrice.org_id == self.org_id)
        ).scalars()
        return {r.model_key: r for r in rows}

    def get(self, key: str) -> HostedModelPrice | None:
        return self.session.execute(
            select(HostedModelPrice).where(
                HostedModelPrice.org_id == self.org_id, HostedModelPrice.model_key == key
            )
        ).scalar_one_or_none()


def catalog_repository(session: SessionDep) -> CatalogRepository:
    """The catalog repository of a request (on the request's session): routes take it as a
    dependency (``catalog: CatalogRepo``) instead of building one."""
    return CatalogRepository(session)


CatalogRepo = Annotated[CatalogRepository, Depends(catalog_repository)]
