"""Test fixtures.

The suite runs against Postgres when ``TEST_DATABASE_URL`` is set (CI does), SQLite otherwise.
The database is migrated once with Alembic and loaded with the reference data; each test then runs
inside a connection-level transaction that is rolled back, with the ORM session joined through
savepoints so application commits stay inside the test.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session

from app.assessments.service import clear_reference_cache
from app.auth import service as auth_service
from app.cli import alembic_config
from app.config import Environment, Settings
from app.db import get_session, make_engine
from app.main import build_asgi
from app.rulesets import service as rulesets_service
from app.seed import load_reference_data
from app.web import templates as web_templates
from tests.factories import TEST_SECRET
from tests.rendering import Rendered, Renders

# Directories whose every test carries a marker (registered in pyproject.toml); `make test-fast`
# deselects them (and does not even collect them: --ignore), `make test` runs them.
DIRECTORY_MARKS = {"browser": "browser", "system": "system", "fuzz": "slow"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    tests_dir = Path(__file__).parent
    for item in items:
        if not item.path.is_relative_to(tests_dir):
            continue
        top = item.path.relative_to(tests_dir).parts[0]
        if top in DIRECTORY_MARKS:
            item.add_marker(DIRECTORY_MARKS[top])


def _database_url(tmp_root: Path) -> str:
    return os.environ.get("TEST_DATABASE_URL") or f"sqlite:///{tmp_root / 'test.db'}"


@pytest.fixture(scope="session", autouse=True)
def _fast_password_hashing() -> Iterator[None]:
    """Argon2 with small parameters: the suite creates many users."""
    original = auth_service._hasher
    auth_service._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    auth_service._DUMMY_HASH = auth_service._hasher.hash("x")
    yield
    auth_service._hasher = original


@pytest.fixture(autouse=True)
def _no_checkpoint_outlives_its_test(settings: Settings) -> Iterator[None]:
    """Appends are checkpointed into the test settings' store (as the app does), and a checkpoint
    names an event of a transaction that is rolled back after the test."""
    from app.audit import checkpoints

    checkpoints.install(settings)
    yield
    Path(settings.audit_checkpoint_path).unlink(missing_ok=True)


@pytest.fixture(autouse=True)
def _fresh_reference_caches() -> Iterator[None]:
    """Each test rolls its data back, so no process-level cache may outlive it."""
    yield
    clear_reference_cache()
    rulesets_service.clear_cache()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return _database_url(tmp_path_factory.mktemp("db"))


@pytest.fixture(scope="session")
def settings(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(
        environment=Environment.test,
        secret_key=TEST_SECRET,
        database_url=database_url,
        log_level="WARNING",
        audit_checkpoint_path=tmp_path_factory.mktemp("checkpoints") / "audit.jsonl",
    )


@pytest.fixture(scope="session")
def engine(settings: Settings) -> Iterator[Engine]:
    eng = make_engine(settings.database_url)
    with eng.begin() as conn:
        cfg = alembic_config(settings.database_url)
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    with Session(eng) as s:
        load_reference_data(s)
        s.commit()
    yield eng
    eng.dispose()


@pytest.fixture
def connection(engine: Engine) -> Iterator[Connection]:
    conn = engine.connect()
    trans = conn.begin()
    yield conn
    trans.rollback()
    conn.close()


@pytest.fixture
def session(connection: Connection) -> Iterator[Session]:
    s = Session(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)
    yield s
    s.close()


def use_test_session(app: FastAPI, session: Session) -> None:
    """Point the app's per-request session at the test's transaction (commits = savepoints)."""

    def _session() -> Iterator[Session]:
        try:
            yield session
            session.commit()
        except Exception:
            session.rollback()
            raise

    app.dependency_overrides[get_session] = _session


@pytest.fixture(scope="session")
def _asgi_once(settings: Settings):  # type: ignore[no-untyped-def]
    """Building the app costs about 0.3 s of CPU (FastAPI builds a validator for every parameter
    of every route), which once per test was a third of the suite: it is built once, and each test
    gets it back as it was (see ``asgi``)."""
    return build_asgi(settings)


@pytest.fixture
def asgi(_asgi_once, session: Session):  # type: ignore[no-untyped-def]
    """The app, its database session pointed at the test's transaction. What a test changes on it
    (routes it adds, ``state.job_runner``, dependency overrides) is put back afterwards; caches
    built from the routes (the OpenAPI schema, ``state.api_methods``) are kept unless the test
    added routes."""
    app = _asgi_once.fastapi_app
    routes, state, schema = list(app.router.routes), dict(app.state._state), app.openapi_schema
    use_test_session(app, session)
    yield _asgi_once
    app.dependency_overrides.clear()
    added_routes = app.router.routes != routes
    app.router.routes[:] = routes
    methods = app.state._state.get("api_methods")
    app.state._state.clear()
    app.state._state.update(state)
    if added_routes:
        app.openapi_schema = schema
    elif methods is not None:
        app.state.api_methods = methods


@pytest.fixture
def client(asgi) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(asgi, base_url="http://testserver") as c:
        yield c


@pytest.fixture
def audit_key(settings: Settings) -> bytes:
    return settings.audit_hmac_key


@pytest.fixture
def inline_jobs(asgi, session: Session, settings: Settings) -> Iterator[None]:  # type: ignore[no-untyped-def]
    """Jobs run inside the request's test transaction instead of Celery or a process pool."""
    from app.jobs import service as jobs

    asgi.fastapi_app.state.job_runner = lambda job_id: jobs.run(
        job_id, lambda: session, settings=settings
    )
    yield
    asgi.fastapi_app.state.job_runner = None


@pytest.fixture
def rendered(monkeypatch: pytest.MonkeyPatch) -> Renders:
    """Captures every template the app renders (``app.web.templates.render`` goes through
    ``templates.TemplateResponse``), so page tests assert the template and its context, not only
    substrings of the HTML."""
    captured = Renders()
    original = web_templates.templates.TemplateResponse

    def capture(request: Any, name: str, context: Mapping[str, Any], **kwargs: Any) -> Any:
        block, status = kwargs.get("block_name"), kwargs.get("status_code", 200)
        captured.append(Rendered(name, block, status, dict(context)))
        return original(request, name, context, **kwargs)

    monkeypatch.setattr(web_templates.templates, "TemplateResponse", capture)
    return captured
