"""Application factory."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from asgi_csrf import asgi_csrf
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from starlette.middleware.gzip import DEFAULT_EXCLUDED_CONTENT_TYPES, GZipMiddleware
from starlette.types import ASGIApp

from app import __version__, job_kinds
from app.api.health import router as health_router
from app.api.responses import ERROR_RESPONSES
from app.assessments.api import router as assessments_router
from app.audit import checkpoints
from app.auditlog.api import router as audit_router
from app.auth.api import router as auth_router
from app.catalog.api import router as catalog_router
from app.config import Settings, get_settings
from app.db import make_engine, make_sessionmaker
from app.deployments.api import router as deployments_router
from app.estimates.api import router as estimates_router
from app.estimates.economics_api import router as economics_router
from app.estimates.hosted_api import router as hosted_alternatives_router
from app.governance.api import router as governance_router
from app.governance.reports_api import api_router as reports_router
from app.jobs import registry as job_registry
from app.jobs import service as jobs_service
from app.lab.api import router as lab_router
from app.logging import configure_logging
from app.portfolios.api import from_recommendation_router as portfolio_from_recommendation_router
from app.portfolios.api import router as portfolios_router
from app.portfolios.search_api import router as portfolio_search_router
from app.views import router as views_router
from app.web.assets import favicon_response, get_assets
from app.web.handlers import install_exception_handlers
from app.web.middleware import (
    BodySizeLimitMiddleware,
    HeadAsGetMiddleware,
    PagesRefuseMultipartMiddleware,
    SecurityHeadersMiddleware,
    UnstorableTextMiddleware,
)

# Responses under this many bytes are not worth compressing (headers and CPU cost more).
GZIP_MINIMUM_BYTES = 500
# Already compressed formats: gzip would only cost CPU.
GZIP_EXCLUDED = (*DEFAULT_EXCLUDED_CONTENT_TYPES, "application/pdf", "image/vnd.microsoft.icon")


GIL_SWITCH_INTERVAL_S = 0.0005


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log_level, json=settings.log_json)
    engine = make_engine(settings.database_url, echo=settings.sql_echo)
    job_registry.set_loader(job_kinds.load)  # a pool process loads every job kind with it

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # A request thread computing (an inline fit or PDF) hands the interpreter lock back to
        # the event loop after 0.5 ms instead of Python's 5 ms, so the loop's turns come sooner.
        sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
        yield
        jobs_service.shutdown_pool()
        engine.dispose()

    app = FastAPI(
        title="Axisboard",
        version=__version__,
        description="Decide how to scale LLM systems: failure modes to scaling axes, priced on "
        "real GPUs, with an auditable decision trail.",
        lifespan=lifespan,
        openapi_url="/openapi.json",
        docs_url="/api/docs",
        redoc_url=None,
    )
    app.state.settings = settings
    checkpoints.install(settings)  # the audit chain's head, outside the database, on every append
    app.state.engine = engine
    app.state.sessionmaker = make_sessionmaker(engine)
    app.state.job_runner = None  # tests run jobs inline; otherwise Celery or the process pool

    api = APIRouter(prefix="/api/v1", responses=ERROR_RESPONSES)
    for r in (
        health_router,
        auth_router,
        catalog_router,
        hosted_alternatives_router,
        deployments_router,
        economics_router,
        estimates_router,
        lab_router,
        assessments_router,
        portfolio_from_recommendation_router,
        portfolios_router,
        portfolio_search_router,
        governance_router,
        reports_router,
        audit_router,
    ):
        api.include_router(r)
    app.include_router(api)
    app.include_router(views_router)

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon(request: Request) -> Response:
        """Browsers (and the HTML audit report, opened from the app) ask for it by this name."""
        return favicon_response(request)

    # Content-hashed names, immutable caching, brotli/gzip (app/web/assets.py).
    app.mount("/static", get_assets(), name="static")
    install_exception_handlers(app)
    return app


def build_asgi(settings: Settings | None = None) -> ASGIApp:
    """The app wrapped in CSRF protection, compression, security headers, HEAD for every GET and
    the body-size cap."""
    settings = settings or get_settings()
    app = create_app(settings)
    wrapped: ASGIApp = asgi_csrf(
        app,
        signing_secret=settings.secret_key,
        always_protect={"/login"},
        # The JSON API authenticates by bearer token only (never cookies): CSRF cannot apply.
        skip_if_scope=lambda scope: scope["path"].startswith("/api/"),
        cookie_secure=settings.cookie_secure,
        cookie_samesite="Lax",
    )
    wrapped = PagesRefuseMultipartMiddleware(wrapped)
    wrapped = UnstorableTextMiddleware(wrapped)
    # Pages and API answers gzip-compressed when accepted (static files come precompressed).
    wrapped = GZipMiddleware(
        wrapped,
        minimum_size=GZIP_MINIMUM_BYTES,
        compresslevel=6,
        exclude_content_types=GZIP_EXCLUDED,
    )
    wrapped = SecurityHeadersMiddleware(wrapped, hsts=settings.cookie_secure)
    wrapped = HeadAsGetMiddleware(wrapped)
    wrapped = BodySizeLimitMiddleware(wrapped, max_bytes=settings.max_body_bytes)
    # Keep a handle on the FastAPI app (tests and the CLI use its state).
    wrapped.fastapi_app = app  # type: ignore[attr-defined]
    return wrapped


def asgi_factory() -> ASGIApp:
    """Entry point for ``uvicorn --factory app.main:asgi_factory``."""
    return build_asgi()
