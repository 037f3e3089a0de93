"""Every job kind and mapped table, for a process that runs jobs (top layer: it imports the
features, which register their kinds in app/jobs/registry.py): the app installs :func:`load`
as the registry's loader (a pool process calls it), the Celery worker calls it."""

from __future__ import annotations


def load() -> None:
    import app.models  # noqa: F401 - every mapped table (the jobs table's foreign keys)
    from app.estimates import jobs as estimates_jobs  # noqa: F401 - calibration, vllm_import
    from app.governance import jobs as governance_jobs  # noqa: F401 - report_pdf
    from app.lab import jobs as lab_jobs  # noqa: F401 - design_measure and the fits
    from app.portfolios import jobs as portfolio_jobs  # noqa: F401 - portfolio_search(_part)
