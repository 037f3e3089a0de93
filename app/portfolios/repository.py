"""All queries on an organisation's portfolios. Bound to one organisation."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.portfolios.models import Portfolio


class PortfolioRepository:
    def __init__(self, session: Session, org_id: int) -> None:
        self.session = session
        self.org_id = org_id

    def get(self, portfolio_id: int) -> Portfolio | None:
        return self.session.execute(
            select(Portfolio).where(Portfolio.id == portfolio_id, Portfolio.org_id == self.org_id)
        ).scalar_one_or_none()

    def list(self, deployment_id: int | None = None) -> list[Portfolio]:
        stmt = select(Portfolio).where(Portfolio.org_id == self.org_id)
        if deployment_id is not None:
            stmt = stmt.where(Portfolio.deployment_id == deployment_id)
        stmt = stmt.order_by(Portfolio.deployment_id, Portfolio.name)
        return list(self.session.execute(stmt).scalars().all())

    def name_taken(self, deployment_id: int, name: str, *, exclude_id: int | None = None) -> bool:
        stmt = select(Portfolio.id).where(
            Portfolio.org_id == self.org_id,
            Portfolio.deployment_id == deployment_id,
            Portfolio.name == name,
        )
        if exclude_id is not None:
            stmt = stmt.where(Portfolio.id != exclude_id)
        return self.session.execute(stmt.limit(1)).first() is not None

    def add(self, p: Portfolio) -> Portfolio:
        p.org_id = self.org_id
        self.session.add(p)
        self.session.flush()
        return p
