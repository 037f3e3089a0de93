"""Form helpers: read a submitted form, turn Pydantic errors into per-field messages."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from pydantic import BaseModel, ValidationError


async def form_data(request: Request) -> dict[str, Any]:
    """All fields of a submitted form; repeated fields become lists."""
    form = await request.form()
    out: dict[str, Any] = {}
    for key in form:
        values = form.getlist(key)
        out[key] = values if len(values) > 1 else values[0]
    return out


FormDep = Annotated[dict[str, Any], Depends(form_data)]


def field_errors(exc: ValidationError) -> dict[str, str]:
    errors: dict[str, str] = {}
    for e in exc.errors():
        loc = e.get("loc", ())
        key = str(loc[0]) if loc else "__all__"
        msg = str(e.get("msg", "invalid"))
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        errors.setdefault(key, msg)
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
