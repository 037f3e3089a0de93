"""The job kinds, registered by the features that own them (``@handler("kind")`` in each feature's
``jobs.py``: app/estimates, app/lab, app/governance, app/portfolios); the jobs package never
imports a feature.

A process that runs jobs must know every kind first: the web process imports each feature's kinds
with the feature, and the top layer installs :func:`set_loader` (app/job_kinds.py's ``load``), which
a pool process and the Celery worker (app/worker.py) call before running a job.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel
from sqlalchemy.orm import Session, sessionmaker

Progress = Callable[[int, str], None]
# A handler opens short units of work on the factory itself: a transaction held open across a
# long computation would block (SQLite) or pin (Postgres) other writers, progress included.
# It returns its result as a Pydantic model, which the runner stores as JSON
# (``model_dump(mode="json")``); a plain JSON document is stored as it is.
JobResult = BaseModel | dict[str, Any]
Handler = Callable[[sessionmaker[Session], dict[str, Any], Progress], JobResult]
HANDLERS: dict[str, Handler] = {}
Loader = Callable[[], None]
_loader: list[Loader] = []


def handler(kind: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        HANDLERS[kind] = fn
        return fn

    return register


def set_loader(load: Loader) -> None:
    """Install the function that imports every feature's kinds (and every mapped table); a
    module-level function, so a spawned pool process can be handed it by reference."""
    _loader[:] = [load]


def loader() -> Loader | None:
    return _loader[0] if _loader else None


def load() -> None:
    """Register every kind, where a loader is installed (the app and the worker install one)."""
    if _loader:
        _loader[0]()
