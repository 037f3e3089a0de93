"""The htmx protocol in one place."""

from __future__ import annotations

from fastapi import Request, Response


def is_htmx(request: Request) -> bool:
    return (
        request.headers.get("HX-Request") == "true"
        and request.headers.get("HX-History-Restore-Request") != "true"
    )


def redirect(request: Request, url: str, status_code: int = 303) -> Response:
    """A redirect that also works for htmx requests (HX-Redirect)."""
    if is_htmx(request):
        return Response(status_code=204, headers={"HX-Redirect": url})
    return Response(status_code=status_code, headers={"Location": url})
