"""The error responses every JSON API operation documents in the OpenAPI schema.

The bodies are what ``app.web.handlers`` writes: ``{"detail": message, "field": name}`` for domain
errors, ``{"detail": [{"loc", "msg", "type"}, ...]}`` for request validation, and 503 with
``Retry-After`` while the database is unreachable.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class ValidationIssue(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ErrorBody(BaseModel):
    detail: str | list[ValidationIssue]
    field: str | None = None


_DESCRIPTIONS = {
    400: "The body could not be parsed (malformed JSON or form encoding)",
    401: "Missing, invalid, expired or revoked bearer token",
    403: "The caller's role does not allow this",
    404: "No such resource in the caller's organisation",
    409: "Conflicts with stored state (duplicate name, idempotency key reused with another body)",
    413: "Request body over the size limit",
    422: "Invalid input; `field` (or each `loc`) names the offending field",
    429: "Throttled; retry after the `Retry-After` seconds",
    503: "Database temporarily unavailable; retry after the `Retry-After` seconds",
}

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": text} for code, text in _DESCRIPTIONS.items()
}
