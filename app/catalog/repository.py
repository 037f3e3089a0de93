"""Catalog queries (reference data is shared by all organisations)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.catalog.models import (
    Axis,
    Dimension,
    Evidence,
    FailureMode,
    Framework,
    Gpu,
    MatrixVersion,
    ModelArch,
    Profile,
    Technique,
)


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

    def current_matrix(self) -> MatrixVersion | None:
        return self.session.execute(
            select(MatrixVersion).order_by(MatrixVersion.version.desc()).limit(1)
        ).scalar_one_or_none()

    def matrix_version(self, version: int) -> MatrixVersion | None:
        return self.session.execute(
            select(MatrixVersion).where(MatrixVersion.version == version)
        ).scalar_one_or_none()

    def matrix_versions(self) -> Sequence[MatrixVersion]:
        return (
            self.session.execute(select(MatrixVersion).order_by(MatrixVersion.version.desc()))
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

    def models(self) -> Sequence[ModelArch]:
        return self.session.execute(select(ModelArch).order_by(ModelArch.key)).scalars().all()

    def model(self, key: str) -> ModelArch | None:
        return self.session.get(ModelArch, key)

    def frameworks(self) -> Sequence[Framework]:
        return self.session.execute(select(Framework).order_by(Framework.key)).scalars().all()
