"""One set of exception handlers: JSON under /api, error pages (or toasts for htmx) elsewhere."""

from __future__ import annotations

import re
from urllib.parse import quote

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.errors import AppError, InvalidInput, TooManyRequests, Unauthorized
from app.estimators.errors import FieldError
from app.web.deps import LoginRequired
from app.web.forms import plain_message
from app.web.htmx import is_htmx, redirect
from app.web.templates import render

log = structlog.get_logger(__name__)


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _error_page(request: Request, status: int, title: str, message: str) -> Response:
    if is_htmx(request):
        resp = render(
            request,
            "errors/_toast.html",
            {"message": message, "level": "error"},
            status_code=status,
        )
        resp.headers["HX-Reswap"] = "none"
        return resp
    return render(
        request,
        "errors/error.html",
        {"status": status, "title": title, "message": message},
        status_code=status,
    )


async def app_error(request: Request, exc: AppError) -> Response:
    headers: dict[str, str] = {}
    if isinstance(exc, TooManyRequests):
        headers["Retry-After"] = str(exc.retry_after)
    if isinstance(exc, Unauthorized) and _is_api(request):
        headers["WWW-Authenticate"] = "Bearer"
    if _is_api(request):
        body: dict[str, object] = {"detail": exc.message}
        if exc.field:
            body["field"] = exc.field
        return JSONResponse(body, status_code=exc.status_code, headers=headers)
    titles = {
        401: "Sign-in required",
        403: "Not allowed",
        404: "Not found",
        409: "Conflict",
        422: "Invalid input",
        429: "Too many attempts",
    }
    resp = _error_page(request, exc.status_code, titles.get(exc.status_code, "Error"), exc.message)
    resp.headers.update(headers)
    return resp


async def field_error(request: Request, exc: FieldError) -> Response:
    """The one translation of the estimators' and rules' input errors: 422 naming the field."""
    return await app_error(request, InvalidInput(str(exc), field=exc.field))


async def login_required(request: Request, exc: LoginRequired) -> Response:
    return redirect(request, f"/login?next={quote(exc.next_url)}")


def _api_methods(request: Request) -> list[str]:
    """Every method the API serves at this path, from the OpenAPI schema (Starlette's own 405
    names only the first route whose path matched)."""
    app = request.app
    table: list[tuple[re.Pattern[str], list[str]]] | None = getattr(app.state, "api_methods", None)
    if table is None:
        table = []
        for path, ops in app.openapi().get("paths", {}).items():
            ints = {
                p["name"]
                for op in ops.values()
                for p in op.get("parameters", [])
                if p.get("in") == "path" and p.get("schema", {}).get("type") == "integer"
            }
            pattern = re.sub(
                r"\\\{([^}]+)\\\}",
                lambda m, ints=ints: r"\d+" if m.group(1) in ints else "[^/]+",  # type: ignore[misc]
                re.escape(path),
            )
            table.append((re.compile(f"^{pattern}$"), [m.upper() for m in ops]))
        app.state.api_methods = table
    return sorted({m for rx, ms in table if rx.match(request.url.path) for m in ms})


async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
    if _is_api(request):
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405 and (methods := _api_methods(request)):
            headers["Allow"] = ", ".join(methods)
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=headers)
    message = {
        404: "This page does not exist, or it belongs to another organisation.",
        405: "That method is not allowed here.",
    }.get(exc.status_code, str(exc.detail))
    return _error_page(
        request, exc.status_code, "Not found" if exc.status_code == 404 else "Error", message
    )


async def validation_error(request: Request, exc: RequestValidationError) -> Response:
    errors = [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
        for e in exc.errors()
    ]
    if _is_api(request):
        return JSONResponse({"detail": errors}, status_code=422)
    text = "; ".join(
        f"{'.'.join(str(p) for p in e['loc'][1:])}: {plain_message(e)}" for e in exc.errors()
    )
    return _error_page(request, 422, "Invalid input", text)


def _is_busy(exc: DBAPIError) -> bool:
    """SQLite's "database is locked" / "busy": another writer held the lock past the timeout."""
    text = str(exc.orig).lower()
    return "database is locked" in text or "database is busy" in text


async def database_unavailable(request: Request, exc: DBAPIError) -> Response:
    if isinstance(exc, OperationalError) or exc.connection_invalidated:
        busy = _is_busy(exc)
        log.warning(
            "database busy" if busy else "database unavailable",
            error=type(exc.orig).__name__,
            path=request.url.path,
        )
        headers = {"Retry-After": "1" if busy else "5"}
        if _is_api(request):
            detail = (
                "database busy with another write; nothing was saved, retry shortly"
                if busy
                else "database temporarily unavailable; retry shortly"
            )
            return JSONResponse({"detail": detail}, status_code=503, headers=headers)
        message = (
            "The database was busy with another save (such as the autosave of this form) for "
            "too long. Nothing was saved from this request: please retry."
            if busy
            else "The database is not reachable. Please retry in a few seconds."
        )
        resp = _error_page(request, 503, "Temporarily unavailable", message)
        resp.headers.update(headers)
        return resp
    return await unhandled(request, exc)


async def unhandled(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error", path=request.url.path)
    if _is_api(request):
        return JSONResponse({"detail": "internal error"}, status_code=500)
    return _error_page(
        request,
        500,
        "Something went wrong",
        "The error was logged. Nothing was saved from this request.",
    )


def install_exception_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, app_error)  # type: ignore[arg-type]
    app.add_exception_handler(FieldError, field_error)  # type: ignore[arg-type]
    app.add_exception_handler(LoginRequired, login_required)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, http_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(DBAPIError, database_unavailable)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, unhandled)
