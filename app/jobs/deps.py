"""Request dependency that recovers jobs whose runner died before a page or the API reads jobs."""

from __future__ import annotations

from typing import Annotated

from fastapi import BackgroundTasks, Depends, Request

from app.db import SessionDep
from app.jobs import service as jobs
from app.web.deps import SettingsDep


def recover_stale_jobs(
    request: Request, session: SessionDep, settings: SettingsDep, background: BackgroundTasks
) -> None:
    """Reap jobs whose heartbeat stopped (in the request's transaction) so a reader never sees a
    dead job as "running"; requeued ones are resubmitted once the transaction has committed."""
    for job_id in jobs.reap_stale(session, stale_after_s=settings.job_stale_after_s):
        background.add_task(jobs.submit, job_id, settings, request.app.state.job_runner)


# Declare it after the caller parameter: dependencies resolve in order, so callers are
# authenticated before anything is written.
JobsRecovered = Annotated[None, Depends(recover_stale_jobs)]
