"""Form helpers: read a submitted form, turn Pydantic errors and refused submissions (409/422)
into per-field messages."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Annotated, Any

from fastapi import Depends, Request
from pydantic import BaseModel, ValidationError

from app.errors import AppError
from app.estimators.errors import FieldError


async def form_data(request: Request) -> dict[str, Any]:
    """All fields of a submitted form; repeated fields become lists."""
    form = await request.form()
    out: dict[str, Any] = {}
    for key in form:
        values = form.getlist(key)
        out[key] = values if len(values) > 1 else values[0]
    return out


FormDep = Annotated[dict[str, Any], Depends(form_data)]


def _n(v: Any) -> str:
    """A bound as people write it: 10,000 not 10000, 0.1 not 0.1000."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        return str(v)
    if float(v).is_integer() and abs(v) >= 10_000:
        return f"{int(v):,}"
    return f"{v:g}"


def plain_message(error: Mapping[str, Any]) -> str:
    """One validation error in plain words (the one translation of Pydantic's wording for every
    form): "enter a number of at least 1", not "Input should be greater than or equal to 1"."""
    kind, ctx = str(error.get("type", "")), error.get("ctx") or {}
    msg = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    if kind == "missing":
        return "this is required"
    if kind in ("int_parsing", "float_parsing", "int_type", "float_type", "decimal_parsing"):
        return "enter a number"
    if kind in ("int_from_float",):
        return "enter a whole number"
    if kind == "finite_number":
        return "enter a finite number"
    bounds = {
        "greater_than_equal": ("ge", "of at least"),
        "greater_than": ("gt", "above"),
        "less_than_equal": ("le", "of at most"),
        "less_than": ("lt", "below"),
    }
    if kind in bounds:
        key, words = bounds[kind]
        return f"enter a number {words} {_n(ctx.get(key))}"
    if kind == "string_too_short":
        n = ctx.get("min_length", 1)
        return "this is required" if n == 1 else f"use at least {n} characters"
    if kind == "string_too_long":
        return f"keep it to {_n(ctx.get('max_length'))} characters or fewer"
    if kind == "too_long":
        return f"choose at most {_n(ctx.get('max_length'))}"
    if kind == "too_short":
        return f"choose at least {_n(ctx.get('min_length'))}"
    if kind in ("enum", "literal_error"):
        return f"choose one of {ctx.get('expected', 'the listed options')}"
    if kind in ("bool_parsing", "bool_type"):
        return "choose yes or no"
    if kind == "extra_forbidden":
        return "this field is not expected here"
    return msg


def field_errors(exc: ValidationError) -> dict[str, str]:
    errors: dict[str, str] = {}
    for e in exc.errors():
        loc = e.get("loc", ())
        key = str(loc[0]) if loc else "__all__"
        errors.setdefault(key, plain_message(e))
    return errors


def as_list(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def clean(params: dict[str, Any]) -> dict[str, Any]:
    """Drop empty fields (a blank input means "use the default")."""
    return {k: v for k, v in params.items() if v not in ("", None)}


def parse(model: type[BaseModel], values: dict[str, Any]) -> tuple[Any, dict[str, str]]:
    """Validate ``values`` into ``model``: (instance, {}) or (None, per-field messages)."""
    try:
        return model.model_validate(values), {}
    except ValidationError as exc:
        return None, field_errors(exc)


def form_error(
    exc: AppError | FieldError,
    *,
    statuses: Collection[int] = (409, 422),
    default: str = "__all__",
) -> tuple[str, str, int]:
    """A refused form submission, to re-render the form with what was typed and the error inline:
    (the field the error names, else ``default``; its message; the status, 422 for a FieldError).
    An error of any other status (403, 404, ...) is re-raised for the exception handlers."""
    status = exc.status_code if isinstance(exc, AppError) else 422
    if status not in statuses:
        raise exc
    return exc.field or default, exc.message, status
