from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from app.auth.models import User
from app.cli import cli


def test_health(client: TestClient) -> None:
    r = client.get("/api/v1/health")
    assert r.status_code == 200
    assert r.json()["database"] == "ok"


def test_openapi_lists_contract_routes(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for p in (
        "/api/v1/health",
        "/api/v1/auth/token",
        "/api/v1/axes",
        "/api/v1/failure-modes",
        "/api/v1/techniques",
        "/api/v1/gpus",
        "/api/v1/models",
        "/api/v1/deployments",
        "/api/v1/deployments/{deployment_id}",
        "/api/v1/audit/events",
        "/api/v1/audit/verify",
    ):
        assert p in paths, p
    assert not any(p.startswith("/deployments") for p in paths), "pages stay out of the schema"


def test_unknown_api_route_is_json_404(client: TestClient) -> None:
    r = client.get("/api/v1/nope")
    assert r.status_code == 404
    assert r.json() == {"detail": "Not Found"}


def test_error_page_has_no_traceback(asgi, session: Session) -> None:  # type: ignore[no-untyped-def]
    app = asgi.fastapi_app

    @app.get("/boom-test")
    def boom() -> None:
        raise RuntimeError("secret internals")

    with TestClient(asgi, raise_server_exceptions=False) as c:
        r = c.get("/boom-test")
    assert r.status_code == 500
    assert "secret internals" not in r.text
    assert "Traceback" not in r.text
    assert "Something went wrong" in r.text


def test_static_assets_served_locally(client: TestClient) -> None:
    assert client.get("/static/js/htmx-2.0.11.min.js").status_code == 200
    r = client.get("/static/vendor/plotly-axisboard.min.js")
    assert r.status_code == 200
    assert len(r.content) > 1_000_000


def test_cli_users_create(session: Session, settings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """`axisboard users create` goes through the same service (here against the test database)."""
    from app import cli as cli_module

    monkeypatch.setattr(cli_module, "get_settings", lambda: settings)
    runner = CliRunner()
    email = "cli-made@newco.test"
    result = runner.invoke(
        cli,
        [
            "users",
            "create",
            "--org",
            "NewCo",
            "--email",
            email,
            "--role",
            "governance",
            "--password-stdin",
        ],
        input="long-enough-pw\n",
    )
    try:
        assert result.exit_code == 0, result.output
        assert "created user" in result.output
        bad = runner.invoke(
            cli,
            [
                "users",
                "create",
                "--org",
                "NewCo",
                "--email",
                "b@newco.test",
                "--role",
                "emperor",
                "--password-stdin",
            ],
            input="long-enough-pw\n",
        )
        assert bad.exit_code == 2
        assert "unknown role" in bad.output
    finally:
        # The CLI commits through its own connection: clean up what it wrote.
        from sqlalchemy import create_engine, delete

        from app.auth.models import Organization

        eng = create_engine(settings.database_url)
        with eng.begin() as conn:
            conn.execute(delete(User).where(User.email == email))
            conn.execute(delete(Organization).where(Organization.name == "NewCo"))
        eng.dispose()
    assert session.execute(select(User).where(User.email == email)).first() is None


def test_cli_seed_demo_refuses_production(session: Session, settings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The demo users share a published password: `seed --demo` never runs in production, and
    refuses before writing anything (not even the reference data)."""
    import secrets

    from app import cli as cli_module
    from app import seed as loader
    from app.auth.models import Organization
    from app.config import Environment, Settings
    from app.demo import DEMO_ORG

    prod = Settings(
        environment=Environment.production,
        secret_key=secrets.token_hex(32),
        database_url=settings.database_url,
    )
    monkeypatch.setattr(cli_module, "get_settings", lambda: prod)
    loaded = []
    monkeypatch.setattr(loader, "load_reference_data", lambda s: loaded.append(s) or {})
    result = CliRunner().invoke(cli, ["seed", "--demo"])
    assert result.exit_code == 2, result.output
    assert "refusing to load the demo organisation in production" in result.output
    assert loaded == []
    assert (
        session.execute(select(Organization).where(Organization.name == DEMO_ORG)).first() is None
    )
    # Without --demo the reference data still loads in production.
    result = CliRunner().invoke(cli, ["seed"])
    assert result.exit_code == 0, result.output
    assert len(loaded) == 1
