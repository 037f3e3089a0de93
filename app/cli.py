"""The ``axisboard`` command."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from alembic import command
from alembic.config import Config

from app.config import PROJECT_ROOT, Environment, get_settings
from app.db import make_engine, make_sessionmaker, session_scope
from app.errors import AppError
from app.estimators.errors import FieldError
from app.operator_cli import operators

cli = typer.Typer(help="Axisboard: decide how to scale LLM systems.", no_args_is_help=True)
users = typer.Typer(help="Manage users.", no_args_is_help=True)
cli.add_typer(users, name="users")
cli.add_typer(operators, name="operators")


def alembic_config(url: str | None = None) -> Config:
    cfg = Config(str(PROJECT_ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    cfg.attributes["url"] = url or get_settings().database_url
    return cfg


@cli.command()
def migrate(revision: Annotated[str, typer.Argument(help="Target revision")] = "head") -> None:
    """Apply database migrations (Alembic) up to REVISION."""
    command.upgrade(alembic_config(), revision)
    typer.echo(f"database migrated to {revision}")


@cli.command()
def seed(
    demo: Annotated[bool, typer.Option("--demo", help="Also load the demo org")] = False,
) -> None:
    """Load the reference data (and, with --demo, the demo organisation; never in production)."""
    from app.demo import DEMO_PASSWORD, load_demo
    from app.seed import load_reference_data

    settings = get_settings()
    if demo and settings.environment == Environment.production:
        typer.echo(
            "error: refusing to load the demo organisation in production: its users sign in "
            f"with the published password '{DEMO_PASSWORD}'. Nothing was written. Create real "
            "users with `axisboard users create` (or unset AXISBOARD_ENVIRONMENT=production on "
            "a development machine).",
            err=True,
        )
        raise typer.Exit(2)
    engine = make_engine(settings.database_url)
    with session_scope(make_sessionmaker(engine)) as session:
        counts = load_reference_data(session)
        typer.echo("reference data: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
        if demo:
            logins = load_demo(session, audit_key=settings.audit_hmac_key)
    engine.dispose()
    if demo:
        typer.echo(f"\nDemo logins (password for all: {DEMO_PASSWORD}):")
        for role, email in logins.items():
            typer.echo(f"  {role:<13} {email}")


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="Bind address")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes")] = 1,
    reload: Annotated[bool, typer.Option(help="Reload on code change")] = False,
) -> None:
    """Serve the web app and API with uvicorn."""
    import uvicorn

    get_settings()  # fail fast on bad configuration
    uvicorn.run(
        "app.main:asgi_factory",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        reload=reload,
        proxy_headers=True,
        log_config=None,
    )


@cli.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def calibrate(ctx: typer.Context) -> None:
    """Measure this machine's accelerator with torch and compare the estimator.

    Options: --model KEY --gpu KEY --prefill BxS,... --decode BxCTX,... --max-layers N --json FILE;
    or `axisboard calibrate refit RESULT.json ...` to fit efficiency and overhead over saved runs.
    """
    from app.estimators.calibration import main as calibration_main

    raise typer.Exit(calibration_main(ctx.args))


DEFAULT_MEASUREMENTS = PROJECT_ROOT / "validation" / "published_measurements.csv"


@cli.command("validate-estimator")
def validate_estimator(
    csv_path: Annotated[
        str, typer.Argument(help="Measurements CSV (format of validation/*.csv)")
    ] = str(DEFAULT_MEASUREMENTS),
) -> None:
    """Predicted versus measured for every row, median error per metric family, bound check.

    Exits 1 when a family misses its target or a measurement beats the physical bound.
    """
    from app.estimators.validation import format_report, read_measurements, validate

    try:
        rows = read_measurements(_read_text(csv_path))
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="CSV") from None
    report = validate(rows)
    typer.echo(format_report(report))
    raise typer.Exit(0 if report.ok else 1)


@cli.command("fit-engines")
def fit_engines(
    csv_path: Annotated[str, typer.Argument(help="Measurements CSV")] = str(DEFAULT_MEASUREMENTS),
    write: Annotated[
        bool, typer.Option("--write", help="Write app/estimators/data/engine_profiles.json")
    ] = False,
) -> None:
    """Fit the engine profiles' efficiencies on the measurements and print (or write) them."""
    import hashlib
    import json

    from app.estimators.validation import (
        engine_profiles_document,
        profiles_and_bands,
        read_measurements,
    )

    text = _read_text(csv_path)
    fits, bands = profiles_and_bands(read_measurements(text))
    name = Path(csv_path).name
    doc = engine_profiles_document(fits, name, hashlib.sha256(text.encode()).hexdigest(), bands)
    out = json.dumps(doc, indent=2) + "\n"
    if write:
        target = PROJECT_ROOT / "app" / "estimators" / "data" / "engine_profiles.json"
        target.write_text(out, encoding="utf-8")
        typer.echo(f"wrote {target}")
    else:
        typer.echo(out)


def _read_text(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise typer.BadParameter(f"cannot read {path}: {exc.strerror}", param_hint="CSV") from None


@users.command("create")
def users_create(
    org: Annotated[str, typer.Option(help="Organisation name (created if missing)")],
    email: Annotated[str, typer.Option(help="E-mail address (the login)")],
    role: Annotated[str, typer.Option(help="admin|product_lead|architect|governance|viewer")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input")
    ] = False,
) -> None:
    """Create a user."""
    from app.auth import service as auth_service
    from app.seed import ensure_org_defaults

    if not password_stdin:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    settings = get_settings()
    engine = make_engine(settings.database_url)
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            user = auth_service.create_user(
                session,
                org_name=org,
                email=email,
                role=role,
                password=password,
                audit_key=settings.audit_hmac_key,
            )
            ensure_org_defaults(session, user.org_id)  # a new organisation's matrix and rule set
            typer.echo(f"created user {user.email} ({user.role}) in {org}")
    except (AppError, FieldError) as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2) from None
    finally:
        engine.dispose()


@cli.command("verify-report")
def verify_report(
    file: Annotated[Path, typer.Argument(help="A downloaded report: .json, .html, .pdf or .csv")],
    public_key: Annotated[
        str | None,
        typer.Option(
            help="Base64 Ed25519 public key (GET /api/v1/audit/public-key); "
            "default: this installation's"
        ),
    ] = None,
    signature: Annotated[
        Path | None,
        typer.Option(
            help="A detached signature (FILE.sig, from the report's ?detached=1 zip): "
            "check every byte of FILE against it"
        ),
    ] = None,
) -> None:
    """Check a downloaded audit report offline: every byte of it against its signature (the one
    embedded in the file, or a detached one with --signature)."""
    import base64
    import binascii

    from app.audit import signing
    from app.governance import export

    def read(path: Path, hint: str) -> bytes:
        try:
            return path.read_bytes()
        except OSError as exc:
            msg = f"cannot read {path}: {exc.strerror}"
            raise typer.BadParameter(msg, param_hint=hint) from None

    content = read(file, "FILE")
    try:
        pub = (
            base64.b64decode(public_key, validate=True)
            if public_key
            else signing.public_bytes(signing.report_signing_key(get_settings()))
        )
    except (binascii.Error, ValueError):
        raise typer.BadParameter("not base64", param_hint="--public-key") from None
    try:
        if signature is None:
            m = export.verify(content, pub)
        else:
            m = export.verify_detached(content, read(signature, "--signature"), pub)
    except (signing.SignatureError, ValueError) as exc:
        typer.echo(f"NOT VALID: {exc}", err=True)
        raise typer.Exit(1) from None
    head = m.get("audit_chain_head") or {}
    how = "detached signature" if signature is not None else "embedded signature"
    typer.echo(
        f"valid: {m['format']} report of deployment {m['deployment_id']}, generated "
        f"{m['generated_at']} by {m['generated_by']}; audit head event "
        f"{head.get('event_id')}; {how} by key {m['key_id']}"
    )


@cli.command("audit-checkpoint")
def audit_checkpoint() -> None:
    """Checkpoint the audit-chain head in the checkpoint store now (the app, the worker and this
    command also do after every change that appends an event; /api/v1/audit/verify then detects a
    deleted tail)."""
    from app.audit import checkpoints

    settings = get_settings()
    engine = make_engine(settings.database_url)
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            cp = checkpoints.write(session, settings)
    except checkpoints.CheckpointError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    finally:
        engine.dispose()
    if cp is None:
        typer.echo("the audit chain is empty: nothing to checkpoint")
    else:
        typer.echo(
            f"checkpoint: event {cp['event_id']} {cp['hash']} -> "
            f"{checkpoints.store_for(settings).name} store"
        )


def main() -> None:
    from app.audit import checkpoints

    checkpoints.install(get_settings, replace=False)  # events a command appends are checkpointed
    cli()
