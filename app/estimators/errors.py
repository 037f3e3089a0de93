"""The estimators' input error: a message and the field it concerns (the API's 422 names it)."""

from __future__ import annotations


class FieldError(ValueError):
    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field
