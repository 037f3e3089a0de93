"""All queries on an organisation's calibrations (measured engine constants per GPU)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.estimates.models import Calibration


class CalibrationRepository:
    def __init__(self, session: Session, org_id: int) -> None:
        self.session = session
        self.org_id = org_id

    def latest(self, gpu_key: str, engine: str) -> Calibration | None:
        stmt = (
            select(Calibration)
            .where(
                Calibration.org_id == self.org_id,
                Calibration.gpu_key == gpu_key,
                Calibration.engine == engine,
            )
            .order_by(Calibration.id.desc())
            .limit(1)
        )
        return self.session.scalars(stmt).first()

    def latest_per_gpu(self, engine: str) -> dict[str, Calibration]:
        """GPU key -> the newest calibration of ``engine`` on it."""
        newest = (
            select(func.max(Calibration.id))
            .where(Calibration.org_id == self.org_id, Calibration.engine == engine)
            .group_by(Calibration.gpu_key)
        )
        rows = self.session.scalars(select(Calibration).where(Calibration.id.in_(newest)))
        return {c.gpu_key: c for c in rows}

    def all(self) -> list[Calibration]:
        """Newest first."""
        stmt = (
            select(Calibration)
            .where(Calibration.org_id == self.org_id)
            .order_by(Calibration.id.desc())
        )
        return list(self.session.scalars(stmt))
