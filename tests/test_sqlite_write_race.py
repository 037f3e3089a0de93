"""An autosave racing a submit on SQLite (issue 22): the later writer waits for the earlier one
instead of failing with "database is locked" (a silent 503 for the autosave), and when the
database stays busy past the timeout the answer says so, to a page, to htmx and to the API."""

from __future__ import annotations

import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from app.db import get_session, make_engine, make_sessionmaker


def _request(factory: Any, method: str) -> Any:
    state = SimpleNamespace(sessionmaker=factory)
    return SimpleNamespace(method=method, app=SimpleNamespace(state=state))


def test_a_second_writer_waits_for_the_first_instead_of_failing(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'race.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE drafts (id INTEGER PRIMARY KEY, form TEXT)")
        conn.exec_driver_sql("INSERT INTO drafts (id, form) VALUES (1, 'first')")
    factory = make_sessionmaker(engine)

    # The autosave: reads its draft, writes it, and has not committed yet.
    autosave = get_session(_request(factory, "POST"))
    a = next(autosave)
    a.execute(text("SELECT form FROM drafts WHERE id = 1")).scalar_one()
    a.execute(text("UPDATE drafts SET form = 'autosaved' WHERE id = 1"))

    # The submit, meanwhile: reads the same draft, then writes (deletes it, as a submit does).
    outcome: dict[str, Any] = {}
    started = threading.Event()

    def submit() -> None:
        steps = get_session(_request(factory, "POST"))
        try:
            started.set()
            s = next(steps)
            outcome["read"] = s.execute(text("SELECT form FROM drafts WHERE id = 1")).scalar_one()
            s.execute(text("DELETE FROM drafts WHERE id = 1"))
            with pytest.raises(StopIteration):
                next(steps)  # commit
            outcome["ok"] = True
        except Exception as exc:  # reported below
            outcome["error"] = exc

    worker = threading.Thread(target=submit)
    worker.start()
    started.wait()
    worker.join(timeout=0.3)  # the submit is now waiting on (or has read past) the autosave
    with pytest.raises(StopIteration):
        next(autosave)  # the autosave commits
    worker.join(timeout=10)
    assert "error" not in outcome, outcome.get("error")
    assert outcome == {"read": "autosaved", "ok": True}  # it saw the autosave's commit
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM drafts").scalar_one() == 0
    engine.dispose()


def test_reads_do_not_take_the_write_lock(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'read.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
    factory = make_sessionmaker(engine)
    writer = get_session(_request(factory, "POST"))
    w = next(writer)
    w.execute(text("INSERT INTO t VALUES (1)"))
    reader = get_session(_request(factory, "GET"))
    r = next(reader)  # does not wait for the writer (a GET begins deferred)
    assert r.execute(text("SELECT count(*) FROM t")).scalar_one() == 0
    for gen in (reader, writer):
        with pytest.raises(StopIteration):
            next(gen)
    engine.dispose()


def _locked() -> OperationalError:
    return OperationalError("UPDATE drafts", {}, Exception("database is locked"))


@pytest.fixture
def busy_routes(asgi: Any) -> Any:
    app = asgi.fastapi_app

    @app.post("/busy-test/page")
    def page() -> None:
        raise _locked()

    @app.post("/api/v1/busy-test")
    def api() -> None:
        raise _locked()

    return asgi


def test_a_busy_database_is_answered_clearly(busy_routes: Any) -> None:
    with TestClient(busy_routes, raise_server_exceptions=False) as c:
        token = c.get("/login").cookies.get("csrftoken") or c.cookies.get("csrftoken")
        headers = {"x-csrftoken": token or ""}
        page = c.post("/busy-test/page", headers=headers)
        assert page.status_code == 503
        assert page.headers["retry-after"] == "1"
        assert "busy with another save" in page.text
        assert "Nothing was saved" in page.text
        # htmx (the autosave): a toast the page shows (static/js/app.js, htmx:responseError).
        hx = c.post("/busy-test/page", headers={**headers, "HX-Request": "true"})
        assert hx.status_code == 503
        assert hx.headers["hx-reswap"] == "none"
        assert 'class="toast toast-error"' in hx.text
        assert "busy with another save" in hx.text
        api = c.post("/api/v1/busy-test")
        assert api.status_code == 503
        assert api.json() == {
            "detail": "database busy with another write; nothing was saved, retry shortly"
        }
