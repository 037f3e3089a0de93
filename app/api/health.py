from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from app import __version__

router = APIRouter(tags=["health"])


@router.get("/health")
def health(request: Request) -> JSONResponse:
    """Liveness and database reachability (no authentication)."""
    try:
        with request.app.state.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        db = "ok"
    except Exception:
        db = "unreachable"
    status = 200 if db == "ok" else 503
    return JSONResponse(
        {"status": "ok" if db == "ok" else "degraded", "database": db, "version": __version__},
        status_code=status,
    )
