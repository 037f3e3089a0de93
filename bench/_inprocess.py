"""The app in this process for a benchmark: a fresh SQLite file in a temporary directory, migrated
and seeded with the demo org (as ``make run`` does), and a test client with the demo users'
tokens. The benchmarks that time in-process requests share it (portfolios, search, report, jobs
capacity); ``_server.py`` serves the app in child processes instead."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class DemoApp:
    settings: Any  # app.config.Settings (imported once the environment is set)
    engine: Any  # sqlalchemy Engine
    asgi: Any  # the wrapped ASGI app (``asgi.fastapi_app`` is the FastAPI one)
    client: Any  # fastapi.testclient.TestClient

    def headers(self, role: Any) -> dict[str, str]:
        """A bearer token of the demo user with ``role`` (an ``app.auth.permissions.Role``)."""
        from app.demo import DEMO_PASSWORD, DEMO_USERS

        body = {"username": DEMO_USERS[role], "password": DEMO_PASSWORD}
        token = self.client.post("/api/v1/auth/token", data=body).json()["access_token"]
        return {"Authorization": f"Bearer {token}"}


@contextmanager
def demo_app() -> Iterator[DemoApp]:
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["AXISBOARD_DATABASE_URL"] = f"sqlite:///{tmp}/bench.db"
        os.environ["AXISBOARD_LOG_LEVEL"] = "WARNING"
        os.environ["AXISBOARD_AUDIT_CHECKPOINT_PATH"] = f"{tmp}/checkpoints.jsonl"
        from alembic import command
        from fastapi.testclient import TestClient
        from sqlalchemy.orm import Session

        from app.cli import alembic_config
        from app.config import get_settings
        from app.db import make_engine
        from app.demo import load_demo
        from app.main import asgi_factory
        from app.seed import load_reference_data

        get_settings.cache_clear()
        settings = get_settings()
        command.upgrade(alembic_config(settings.database_url), "head")
        engine = make_engine(settings.database_url)
        with Session(engine) as s:
            load_reference_data(s)
            load_demo(s, audit_key=settings.audit_hmac_key)
            s.commit()
        asgi = asgi_factory()
        try:
            yield DemoApp(settings, engine, asgi, TestClient(asgi, base_url="http://testserver"))
        finally:
            engine.dispose()
