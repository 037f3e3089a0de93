"""A live server and a real Chromium for end-to-end tests.

The server runs in a thread on a database of its own (a sibling Postgres database of the test one
when ``TEST_DATABASE_URL`` is set, else a SQLite file), migrated and seeded with the demo data,
because a browser only sees committed rows. Chromium is Debian's (``/usr/bin/chromium``), driven by
Playwright with ``executable_path`` (Playwright's own browser download is not used).
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import psycopg
import pytest
import uvicorn
from alembic import command
from playwright.sync_api import Browser, Page, sync_playwright
from sqlalchemy.orm import Session

from app.cli import alembic_config
from app.config import Environment, Settings
from app.db import make_engine
from app.demo import DEMO_PASSWORD, load_demo
from app.main import build_asgi
from app.seed import load_reference_data
from tests.factories import TEST_SECRET

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


def _browser_db_url(tmp: Path) -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        return f"sqlite:///{tmp / 'browser.db'}"
    base, _, name = url.rpartition("/")
    name = f"{name}_browser"
    dsn = base.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(f"{dsn}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{base}/{name}"


@pytest.fixture(autouse=True)
def _no_checkpoint_outlives_its_test() -> None:
    """Overrides the unit tests' fixture of that name: their per-test checkpoint store must not
    replace the live server's (installed by ``build_asgi``), which its own "Verify the chain"
    reads; the live server's data is committed, not rolled back."""


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = _browser_db_url(tmp_path_factory.mktemp("browser"))
    tmp = tmp_path_factory.mktemp("browser-checkpoints")
    # the live server's own checkpoint store (never the project's var/, which outlives the run)
    settings = Settings(
        environment=Environment.test,
        database_url=url,
        secret_key=TEST_SECRET,
        log_level="WARNING",
        audit_checkpoint_path=tmp / "audit.jsonl",
    )
    engine = make_engine(url)
    with engine.begin() as conn:
        cfg = alembic_config(url)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    with Session(engine) as s:
        load_reference_data(s)
        load_demo(s, audit_key=settings.audit_hmac_key)
        s.commit()
    engine.dispose()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            build_asgi(settings), host="127.0.0.1", port=port, log_config=None, log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            if httpx2.get(f"{base}/api/v1/health", timeout=1).status_code == 200:
                break
        except httpx2.HTTPError:
            time.sleep(0.1)
    yield base
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: apt-get install chromium")
    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield b
        b.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1300, "height": 900})
    pg = context.new_page()
    pg.set_default_timeout(15_000)
    yield pg
    context.close()


def sign_in(page: Page, base: str, email: str) -> None:
    page.goto(f"{base}/login")
    page.fill("#email", email)
    page.fill("#password", DEMO_PASSWORD)
    page.press("#password", "Enter")
    page.wait_for_url(f"{base}/")
