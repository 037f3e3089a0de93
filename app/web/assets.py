"""Static files: content-hashed names, an immutable year-long cache, brotli/gzip bodies.

Pages link ``static_url("css/app.css")``, which names the file by the first 12 hex digits of the
SHA-256 of its content (``/static/css/app.3f1c0e9a2b7d.css``); a changed file gets a new name, so
that name can be cached for a year without revalidation (``Cache-Control: public,
max-age=31536000, immutable``). The plain name still answers, revalidated by ETag (``no-cache``).

Text files are sent brotli- or gzip-compressed as the request accepts. Compressed bodies are made
once per process and file content; a sibling ``<file>.br`` (as ``tools/plotly-bundle`` writes for
the Plotly bundle, at brotli's slowest, smallest setting) is used when it decompresses to exactly
the file's content, so a stale one is never served.
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
import threading
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path, PurePosixPath
from urllib.parse import quote

import anyio.to_thread
import brotli
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from app.config import PROJECT_ROOT

STATIC_ROOT = PROJECT_ROOT / "static"
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
FAVICON_CACHE = "public, max-age=86400"
# Left as they are in a data: URI (quoted by the attribute; Jinja escapes the rest).
DATA_URI_SAFE = " /:=.-'"
HASH_DIGITS = 12
COMPRESSIBLE = ("text/", "application/javascript", "application/json", "image/svg+xml")
# Files this large are compressed with quicker settings when no precompressed sibling exists.
LARGE_BYTES = 256 * 1024
MEDIA_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".ico": "image/vnd.microsoft.icon",
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
}


def _media_type(path: Path) -> str:
    return (
        MEDIA_TYPES.get(path.suffix)
        or mimetypes.guess_type(path.name)[0]
        or "application/octet-stream"
    )


def hashed_name(logical: str, digest: str) -> str:
    """``css/app.css`` -> ``css/app.<12 hex>.css`` (the hash goes before the last suffix)."""
    p = PurePosixPath(logical)
    return str(p.with_name(f"{p.stem}.{digest[:HASH_DIGITS]}{p.suffix}"))


def accepted_encoding(accept_encoding: str) -> str | None:
    """``br`` or ``gzip`` when the Accept-Encoding header allows it (q > 0), brotli first."""
    allowed: dict[str, float] = {}
    for part in accept_encoding.lower().split(","):
        token, _, params = part.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if token:
            allowed[token] = q
    for enc in ("br", "gzip"):
        if allowed.get(enc, allowed.get("*", 0.0)) > 0:
            return enc
    return None


@dataclass
class Asset:
    path: Path
    logical: str
    media_type: str
    data: bytes
    digest: str
    mtime_ns: int
    _encoded: dict[str, bytes] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def hashed(self) -> str:
        return hashed_name(self.logical, self.digest)

    @property
    def etag(self) -> str:
        return f'"{self.digest[:32]}"'

    @property
    def compressible(self) -> bool:
        return self.media_type.startswith(COMPRESSIBLE)

    def body(self, encoding: str | None) -> bytes:
        if encoding is None or not self.compressible:
            return self.data
        with self._lock:
            if encoding not in self._encoded:
                self._encoded[encoding] = self._compress(encoding)
            return self._encoded[encoding]

    def _compress(self, encoding: str) -> bytes:
        large = len(self.data) > LARGE_BYTES
        if encoding == "br":
            sibling = self.path.with_name(self.path.name + ".br")
            if sibling.is_file():
                packed = sibling.read_bytes()
                try:
                    if brotli.decompress(packed) == self.data:
                        return packed
                except brotli.error:
                    pass
            return bytes(brotli.compress(self.data, quality=5 if large else 11))
        return gzip.compress(self.data, compresslevel=6 if large else 9, mtime=0)


class StaticAssets:
    """The files under one folder, by plain and by hashed name; an ASGI app serving them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock = threading.Lock()
        self._by_logical: dict[str, Asset] = {}
        self._by_hashed: dict[str, Asset] = {}
        for path in sorted(root.rglob("*")):
            if path.is_file() and not path.name.endswith(".br"):
                self._load(path)

    def _load(self, path: Path) -> Asset:
        data = path.read_bytes()
        logical = path.relative_to(self.root).as_posix()
        asset = Asset(
            path,
            logical,
            _media_type(path),
            data,
            hashlib.sha256(data).hexdigest(),
            path.stat().st_mtime_ns,
        )
        with self._lock:
            old = self._by_logical.get(logical)
            if old is not None:
                self._by_hashed.pop(old.hashed, None)
            self._by_logical[logical] = asset
            self._by_hashed[asset.hashed] = asset
        return asset

    def get(self, logical: str) -> Asset:
        """The asset, re-read when the file changed since (a server left running while editing)."""
        asset = self._by_logical.get(logical)
        if asset is None:
            raise KeyError(logical)
        try:
            mtime = asset.path.stat().st_mtime_ns
        except FileNotFoundError:
            return asset
        return asset if mtime == asset.mtime_ns else self._load(asset.path)

    def url(self, logical: str) -> str:
        return f"/static/{self.get(logical).hashed}"

    def lookup(self, name: str) -> tuple[Asset, bool] | None:
        """(asset, immutable) for a requested name: a hashed name, or a plain one."""
        if name in self._by_hashed:
            return self._by_hashed[name], True
        if name in self._by_logical:
            return self.get(name), False
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Mounted at ``/static``: GET and HEAD of the files, 404 for anything else."""
        if scope["method"] not in ("GET", "HEAD"):
            raise HTTPException(405, headers={"Allow": "GET, HEAD"})
        path, root = scope["path"], scope.get("root_path", "")
        name = (path[len(root) :] if root and path.startswith(root) else path).lstrip("/")
        found = self.lookup(name)
        if found is None:
            raise HTTPException(404)
        asset, immutable = found
        if asset.compressible:  # compress (once per process) off the event loop
            encoding = accepted_encoding(Headers(scope=scope).get("accept-encoding", ""))
            await anyio.to_thread.run_sync(asset.body, encoding)
        response = asset_response(
            Headers(scope=scope), asset, IMMUTABLE if immutable else REVALIDATE
        )
        await response(scope, receive, send)


def asset_response(headers: Headers, asset: Asset, cache_control: str) -> Response:
    """200 with the body encoded as accepted, or 304 when the client's copy is current."""
    base = {"cache-control": cache_control, "etag": asset.etag}
    if asset.compressible:
        base["vary"] = "Accept-Encoding"
    tags = [t.strip().removeprefix("W/") for t in headers.get("if-none-match", "").split(",")]
    if "*" in tags or asset.etag in tags:
        return Response(status_code=304, headers=base)
    encoding = accepted_encoding(headers.get("accept-encoding", "")) if asset.compressible else None
    if encoding:
        base["content-encoding"] = encoding
    return Response(asset.body(encoding), headers=base, media_type=asset.media_type)


def favicon_response(request: Request) -> Response:
    """``/favicon.ico``: a stable name, so cached for a day rather than immutably."""
    return asset_response(request.headers, get_assets().get("favicon.ico"), FAVICON_CACHE)


@lru_cache(maxsize=1)
def get_assets() -> StaticAssets:
    """The project's static files (read once per process; a changed file is re-read on use)."""
    return StaticAssets(STATIC_ROOT)


def static_data_uri(logical: str) -> str:
    """A small file under ``static/`` as a ``data:`` URI (the page's icon: no request at all, so
    none that a quick navigation can abort)."""
    asset = get_assets().get(logical)
    return f"data:{asset.media_type},{quote(asset.data.decode('utf-8'), safe=DATA_URI_SAFE)}"


def static_url(logical: str) -> str:
    """The content-hashed URL of a file under ``static/`` (a Jinja global)."""
    return get_assets().url(logical)
