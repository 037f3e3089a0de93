"""``axisboard operators``: platform operators, who maintain the shipped catalog (default GPU
prices) for every organisation. Not an organisation role: only this command creates them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, TypeVar

import typer
from sqlalchemy.orm import Session

from app.config import Settings, get_settings
from app.db import make_engine, make_sessionmaker, session_scope
from app.errors import AppError
from app.estimators.errors import FieldError

operators = typer.Typer(
    help="Platform operators (maintain shipped default prices).", no_args_is_help=True
)


T = TypeVar("T")


def _run(fn: Callable[[Session, Settings], T]) -> T:
    settings = get_settings()
    engine = make_engine(settings.database_url)
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            return fn(session, settings)
    except (AppError, FieldError) as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2) from None
    finally:
        engine.dispose()


@operators.command("create")
def create(email: Annotated[str, typer.Option(help="The operator's e-mail address")]) -> None:
    """Create a platform operator and print its API token (shown once; keep it secret)."""
    from app.auth import operators as ops

    def go(session: Session, settings: Settings) -> tuple[str, str]:
        op, token = ops.create(session, email)
        return op.email, token

    who, token = _run(go)
    typer.echo(f"created platform operator {who}")
    typer.echo(f"API token (for PUT /api/v1/operator/...; shown once): {token}")


@operators.command("token")
def token(email: Annotated[str, typer.Option(help="The operator's e-mail address")]) -> None:
    """Replace an operator's API token (the old one stops working) and print the new one."""
    from app.auth import operators as ops

    new = _run(lambda session, settings: ops.rotate_token(session, email))
    typer.echo(f"API token (shown once): {new}")


@operators.command("set-price")
def set_price(
    gpu: Annotated[str, typer.Argument(help="GPU key (GET /api/v1/gpus)")],
    price: Annotated[
        str, typer.Argument(help="Shipped default $/GPU-hour, or 'none' for unpriced")
    ],
    email: Annotated[str, typer.Option(help="The operator making the change (audited)")],
    source: Annotated[str, typer.Option(help="Where the price comes from (offer, date)")] = "",
) -> None:
    """Change a GPU's shipped default price (every organisation without its own price uses it).
    Recorded in the audit trail as the operator's change."""
    from app.auth import operators as ops
    from app.catalog import service

    if price.strip().lower() == "none":
        value: float | None = None
    else:
        try:
            value = float(price)
        except ValueError:
            raise typer.BadParameter("a number or 'none'", param_hint="PRICE") from None

    def go(session: Session, settings: Settings) -> tuple[float | None, str]:
        op = ops.by_email(session, email)
        if op is None:
            raise AppError(f"no platform operator {email}; create one with operators create")
        g = service.set_default_price(
            session, op, gpu, value, source, audit_key=settings.audit_hmac_key
        )
        return g.price_per_hour_usd, g.price_source

    new, src = _run(go)
    shown = "unpriced" if new is None else f"${new:.2f}/GPU-hour ({src})"
    typer.echo(f"shipped default price of {gpu}: {shown}")
