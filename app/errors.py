"""Domain errors. Services raise these; one set of handlers (``app.web.handlers``) renders them.

- ``AppError``: base, carries a message and an HTTP status.
- ``NotFound`` (404): missing, or belonging to another organisation (never 403 for those).
- ``Forbidden`` (403): the caller's role may not do this.
- ``Conflict`` (409): the request clashes with stored state (duplicate name, stale version).
- ``InvalidInput`` (422): valid JSON, but a field breaks a domain rule; ``field`` names it.
- ``Unauthorized`` (401): no or bad credentials.
- ``TooManyRequests`` (429): throttled; ``retry_after`` seconds.
"""

from __future__ import annotations


class AppError(Exception):
    status_code = 400

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class NotFound(AppError):
    status_code = 404


class Forbidden(AppError):
    status_code = 403


class Conflict(AppError):
    status_code = 409


class InvalidInput(AppError):
    status_code = 422


class Unauthorized(AppError):
    status_code = 401


class TooManyRequests(AppError):
    status_code = 429

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
