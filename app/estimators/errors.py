"""The estimators' input error: a message and the field it concerns.

A FieldError that reaches a route becomes a 422 naming the field (one handler, app.web.handlers);
code that knows where the field sits in the request names it with :func:`field_prefix` or
:func:`as_field`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


class FieldError(ValueError):
    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field

    @property
    def message(self) -> str:
        return str(self)


@contextmanager
def field_prefix(prefix: str) -> Iterator[None]:
    """A FieldError raised inside names its field under ``prefix`` (``"model."`` + ``"d_ff"``;
    an error naming no field names the prefix itself, ``"model"``)."""
    try:
        yield
    except FieldError as exc:
        field = f"{prefix}{exc.field}" if exc.field else prefix.rstrip(".") or None
        raise FieldError(str(exc), field=field) from None


@contextmanager
def as_field(field: str, *, only_if_unnamed: bool = False) -> Iterator[None]:
    """A FieldError raised inside names ``field`` (with ``only_if_unnamed``: when it names none)."""
    try:
        yield
    except FieldError as exc:
        if only_if_unnamed and exc.field:
            raise
        raise FieldError(str(exc), field=field) from None
