"""The portfolio search's job kinds: a search over the inline limit and one part of a split one
(registered in app/jobs/registry.py)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from app.jobs.registry import Progress, handler
from app.portfolios.search_schemas import PortfolioSearchOut, SearchPartOut

Factory = sessionmaker[Session]


@handler("portfolio_search")
def portfolio_search_job(
    factory: Factory, params: dict[str, Any], progress: Progress
) -> PortfolioSearchOut:
    """A portfolio search over the inline limit (the result is the API's 200 body)."""
    from app.portfolios.search_service import run_job

    return run_job(factory, params, progress)


@handler("portfolio_search_part")
def portfolio_search_part_job(
    factory: Factory, params: dict[str, Any], progress: Progress
) -> SearchPartOut:
    """One part of a split portfolio search: a range of its serving states."""
    from app.portfolios.search_service import run_part

    return run_part(factory, params, progress)
