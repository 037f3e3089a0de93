"""Pure-ASGI middleware: security headers, a request-body size cap, unstorable-text refusal."""

from __future__ import annotations

import json
import re
from html import escape
from typing import Any
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp, *, hsts: bool) -> None:
        self.app = app
        self.headers = list(SECURITY_HEADERS)
        if hsts:
            self.headers.append((b"strict-transport-security", b"max-age=31536000"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                existing = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [
                    (k, v) for k, v in self.headers if k not in existing
                ]
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodySizeLimitMiddleware:
    """Refuse bodies over ``max_bytes`` with 413, by header and while streaming."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for k, v in scope.get("headers", []):
            if k == b"content-length" and v.isdigit() and int(v) > self.max_bytes:
                await _too_large(send)
                return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _BodyTooLarge
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _BodyTooLarge:
            await _too_large(send)


class PagesRefuseMultipartMiddleware:
    """No page takes multipart bodies, and asgi-csrf 0.11 cannot parse them with the current
    python-multipart (its FormParser lost the ``FileClass`` argument): answer 415 before the CSRF
    layer would fail with a 500."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope["path"].startswith("/api/"):
            for k, v in scope.get("headers", []):
                if k == b"content-type" and v.lower().startswith(b"multipart/"):
                    await _plain(send, 415, b"multipart bodies are not accepted; send a form")
                    return
        await self.app(scope, receive, send)


def _unstorable(text: str) -> str | None:
    """Why ``text`` cannot be stored as text (Postgres refuses NUL; UTF-8 has no lone surrogate)."""
    if "\x00" in text:
        return "text contains a NUL character"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "text contains an unpaired surrogate (not valid Unicode)"
    return None


def _first_unstorable(
    value: Any, loc: tuple[str | int, ...]
) -> tuple[tuple[str | int, ...], str] | None:
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(value, loc)]
    while stack:  # iterative: a hostile document may nest deeply
        item, where = stack.pop()
        if isinstance(item, str):
            why = _unstorable(item)
            if why:
                return where, why
        elif isinstance(item, dict):
            for k, v in reversed(list(item.items())):
                why = _unstorable(k)
                if why:
                    return (*where, k.encode("utf-8", "backslashreplace").decode()), f"key {why}"
                stack.append((v, (*where, k)))
        elif isinstance(item, list):
            stack.extend((v, (*where, i)) for i, v in reversed(list(enumerate(item))))
    return None


# No route, stored key or file name has a control character; in a path parameter one would reach
# a database query (Postgres refuses NUL: a 500) or a response header (CR/LF).
_PATH_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class UnstorableTextMiddleware:
    """Refuse (422) a request whose query, JSON body or form carries text that cannot be stored
    (a NUL character or an unpaired UTF-16 surrogate), naming the field, before any handler runs:
    such text would otherwise fail at the database with a 500 or be silently mangled. A path
    (percent-decoded) with a control character (U+0000-U+001F, U+007F) is refused the same way,
    with ``loc`` ``["path"]``, whatever route it would have reached."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if bad := _PATH_CONTROL.search(scope.get("path", "")):
            why = f"the path contains the control character U+{ord(bad.group()):04X}"
            await _refuse_text(scope, send, ("path",), why)
            return
        query = scope.get("query_string", b"").decode("latin-1")
        found = _first_unstorable(dict(parse_qsl(query, keep_blank_values=True)), ("query",))
        content_type = next((v for k, v in scope.get("headers", []) if k == b"content-type"), b"")
        messages: list[Message] = []
        if found is None and scope["method"] in {"POST", "PUT", "PATCH", "DELETE"}:
            body = b""
            more = True
            while more:
                message = await receive()
                messages.append(message)
                if message["type"] != "http.request":
                    break
                body += message.get("body", b"")
                more = message.get("more_body", False)
            found = _inspect_body(body, content_type.lower())
        if found is not None:
            await _refuse_text(scope, send, *found)
            return

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)


def _inspect_body(body: bytes, content_type: bytes) -> tuple[tuple[str | int, ...], str] | None:
    if b"json" in content_type:
        try:
            data = json.loads(body)
        except ValueError:
            return None  # malformed JSON: the app answers that itself
        except RecursionError:
            return ("body",), "JSON nests arrays or objects too deeply"
        return _first_unstorable(data, ("body",))
    if content_type.startswith(b"application/x-www-form-urlencoded"):
        fields = parse_qsl(
            body.decode("latin-1"),
            keep_blank_values=True,
            encoding="utf-8",
            errors="surrogateescape",
        )
        for k, v in fields:
            why = _unstorable(v) or _unstorable(k)
            if why:
                return ("body", k.encode("utf-8", "backslashreplace").decode()), why
    return None


async def _refuse_text(scope: Scope, send: Send, loc: tuple[str | int, ...], why: str) -> None:
    field = ".".join(str(p) for p in loc[1:]) or ("The path" if loc[0] == "path" else "")
    if scope["path"].startswith("/api/"):
        body = json.dumps(
            {"detail": [{"loc": list(loc), "msg": why, "type": "string_unstorable"}]}
        ).encode()
        ctype = b"application/json"
    else:
        body = (
            "<!doctype html><html lang='en'><title>Invalid input</title><main><h1>Invalid input"
            f"</h1><p>{escape(field or 'The body')}: {escape(why)}. Go back, correct it and resend."
            "</p></main></html>"
        ).encode()
        ctype = b"text/html; charset=utf-8"
    await send(
        {"type": "http.response.start", "status": 422, "headers": [(b"content-type", ctype)]}
    )
    await send({"type": "http.response.body", "body": body})


async def _plain(send: Send, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"text/plain; charset=utf-8")],
        }
    )
    await send({"type": "http.response.body", "body": body})


class _BodyTooLarge(Exception):
    pass


async def _too_large(send: Send) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": b'{"detail":"request body too large"}'})


class HeadAsGetMiddleware:
    """Answer HEAD for every GET route (FastAPI routes list GET only, so HEAD would be 405): run
    the request as a GET and send its status and headers (Content-Length included) without the
    body. A GET has no side effects here, so running one for a HEAD is safe."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return
        finished = False

        async def without_body(message: Message) -> None:
            nonlocal finished
            if message["type"] == "http.response.body":
                if finished or message.get("more_body", False):
                    return  # drop the body; the one empty, final message goes below
                finished = True
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
            if message["type"] == "http.response.pathsend":
                finished = True
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, without_body)
