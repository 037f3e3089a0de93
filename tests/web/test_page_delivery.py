"""How pages and static files travel (issue 22): compression, content-hashed names with an
immutable cache, HEAD for every GET, a favicon, and Plotly only where a page draws a chart."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
from html import unescape
from pathlib import Path
from urllib.parse import unquote

import brotli
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.config import PROJECT_ROOT
from app.web.assets import IMMUTABLE, StaticAssets, accepted_encoding, hashed_name
from tests.factories import create_user, page_login

STATIC = PROJECT_ROOT / "static"
PLOTLY = "vendor/plotly-axisboard.min.js"


def _asset_urls(html: str) -> list[str]:
    return re.findall(r'(?:href|src|data-plotly)="(/static/[^"]+)"', html)


def _raw(
    client: TestClient, path: str, encoding: str, **headers: str
) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and the body as sent (not decoded by the client)."""
    with client.stream("GET", path, headers={"Accept-Encoding": encoding, **headers}) as r:
        return r.status_code, dict(r.headers), b"".join(r.iter_raw())


def test_pages_link_static_files_by_content_hash(client: TestClient) -> None:
    html = client.get("/login").text
    urls = _asset_urls(html)
    assert {u.split("/static/", 1)[1].rsplit(".", 2)[0] for u in urls} >= {
        "css/app",
        "js/htmx-2.0.11.min",
        "js/app",
        "vendor/plotly-axisboard.min",
    }
    for url in urls:
        name = url.removeprefix("/static/")
        stem, digest, suffix = name.rsplit(".", 2)
        original = STATIC / f"{stem}.{suffix}"
        assert digest == hashlib.sha256(original.read_bytes()).hexdigest()[:12], url


def test_hashed_names_are_cached_immutably_and_plain_names_revalidate(client: TestClient) -> None:
    url = next(u for u in _asset_urls(client.get("/login").text) if "css/app." in u)
    r = client.get(url)
    assert r.status_code == 200
    assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert r.headers["content-type"].startswith("text/css")
    assert r.content == (STATIC / "css" / "app.css").read_bytes()
    plain = client.get("/static/css/app.css")
    assert plain.headers["cache-control"] == "no-cache"
    assert plain.headers["etag"] == r.headers["etag"]
    again = client.get("/static/css/app.css", headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304
    assert again.content == b""
    # A stale hash is not some other version of the file: 404, never the current content.
    assert client.get("/static/css/app.000000000000.css").status_code == 404


def test_static_files_come_brotli_or_gzip_compressed(client: TestClient) -> None:
    js = (STATIC / "js" / "htmx-2.0.11.min.js").read_bytes()
    url = next(u for u in _asset_urls(client.get("/login").text) if "htmx" in u)
    status, headers, body = _raw(client, url, "gzip, deflate, br, zstd")
    assert status == 200
    assert headers["content-encoding"] == "br"
    assert headers["vary"] == "Accept-Encoding"
    assert brotli.decompress(body) == js
    assert len(body) < len(js) / 3
    assert int(headers["content-length"]) == len(body)
    status, headers, body = _raw(client, url, "gzip")
    assert headers["content-encoding"] == "gzip"
    assert gzip.decompress(body) == js
    status, headers, body = _raw(client, url, "identity")
    assert "content-encoding" not in headers
    assert body == js
    status, headers, body = _raw(client, url, "br;q=0, gzip;q=0.5")
    assert headers["content-encoding"] == "gzip"


def test_plotly_bundle_is_partial_vendored_and_precompressed(client: TestClient) -> None:
    meta = json.loads((STATIC / "vendor" / "plotly-axisboard.json").read_text())
    bundle = (STATIC / PLOTLY).read_bytes()
    assert bundle.startswith(f"/*! plotly.js v{meta['version']} | partial bundle".encode())
    assert (STATIC / "vendor" / "plotly.js-LICENSE.txt").read_text().startswith("MIT License")
    assert len(bundle) < 1_500_000, "the full plotly.js is 4.8 MB; this bundle has five traces"
    # The sibling .br (brotli's best setting, made by tools/plotly-bundle) is what is sent.
    url = next(u for u in _asset_urls(client.get("/login").text) if "plotly" in u)
    status, headers, body = _raw(client, url, "br")
    assert status == 200
    assert headers["cache-control"] == IMMUTABLE
    assert body == (STATIC / f"{PLOTLY}.br").read_bytes()
    assert brotli.decompress(body) == bundle
    assert len(body) < 400_000


def test_plotly_bundle_has_every_trace_type_the_chart_builders_use() -> None:
    meta = json.loads((STATIC / "vendor" / "plotly-axisboard.json").read_text())
    used: set[str] = set()
    for charts in (PROJECT_ROOT / "app").glob("*/charts.py"):
        used |= set(re.findall(r'"type":\s*"([a-z0-9]+)"', charts.read_text()))
    used -= {"line", "log", "linear", "category", "date", "rect"}  # axis and shape types
    assert used, "no trace types found"
    assert used <= set(meta["traces"]), (
        f"rebuild the bundle with {sorted(used - set(meta['traces']))}"
    )
    build = (PROJECT_ROOT / "tools" / "plotly-bundle" / "build.mjs").read_text()
    listed = re.search(r"export const TRACES = \[([^\]]*)\]", build)
    assert listed
    assert re.findall(r"'([a-z0-9]+)'", listed.group(1)) == meta["traces"]


def test_stale_precompressed_sibling_is_not_served(tmp_path: Path) -> None:
    (tmp_path / "a.js").write_text("console.log('new');" * 50)
    (tmp_path / "a.js.br").write_bytes(brotli.compress(b"console.log('old');" * 50))
    asset = StaticAssets(tmp_path).get("a.js")
    assert brotli.decompress(asset.body("br")) == (tmp_path / "a.js").read_bytes()
    assert StaticAssets(tmp_path).lookup("a.js.br") is None


def test_changed_file_gets_a_new_name(tmp_path: Path) -> None:
    f = tmp_path / "x.css"
    f.write_text("a{}")
    assets = StaticAssets(tmp_path)
    first = assets.url("x.css")
    f.write_text("b{}")
    os.utime(f, ns=(f.stat().st_atime_ns, f.stat().st_mtime_ns + 1_000_000))
    second = assets.url("x.css")
    assert first != second
    assert assets.lookup(second.removeprefix("/static/")) is not None
    assert assets.lookup(first.removeprefix("/static/")) is None


def test_hash_names_and_accept_encoding_parsing() -> None:
    assert hashed_name("css/app.css", "ab" * 32) == f"css/app.{'ab' * 6}.css"
    assert hashed_name("js/htmx-2.0.11.min.js", "cd" * 32) == f"js/htmx-2.0.11.min.{'cd' * 6}.js"
    assert accepted_encoding("gzip, deflate, br") == "br"
    assert accepted_encoding("gzip") == "gzip"
    assert accepted_encoding("br;q=0, gzip") == "gzip"
    assert accepted_encoding("*") == "br"
    assert accepted_encoding("identity") is None
    assert accepted_encoding("") is None
    assert accepted_encoding("br;q=bogus") is None


def test_pages_and_api_answers_are_gzip_compressed(client: TestClient, session: Session) -> None:
    user = create_user(session, role="admin")
    page_login(client, user.email)
    for path in ("/", "/matrix", "/api/v1/health"):
        status, headers, body = _raw(client, path, "gzip, br")
        assert status == 200, path
        if path != "/api/v1/health":  # the health answer is under the 500-byte threshold
            assert headers.get("content-encoding") == "gzip", path
            assert gzip.decompress(body).startswith(b"<!doctype html>"), path
            assert "Accept-Encoding" in headers["vary"], path
    status, headers, body = _raw(client, "/matrix", "identity")
    assert "content-encoding" not in headers
    assert body.startswith(b"<!doctype html>")


def test_head_is_answered_for_pages_static_files_and_the_api(client: TestClient) -> None:
    for path in ("/login", "/static/css/app.css", "/api/v1/health", "/favicon.ico"):
        get = client.get(path, headers={"Accept-Encoding": "identity"})
        head = client.head(path, headers={"Accept-Encoding": "identity"})
        assert head.status_code == get.status_code == 200, path
        assert head.content == b"", path
        assert head.headers["content-type"] == get.headers["content-type"], path
        assert head.headers["content-length"] == str(len(get.content)), path
    # Still no HEAD where there is no GET, and a page that needs a sign-in says so to HEAD too.
    assert client.head("/", follow_redirects=False).status_code == 303


def test_favicon_is_served(client: TestClient) -> None:
    r = client.get("/favicon.ico")
    assert r.status_code == 200
    assert r.headers["content-type"] == "image/vnd.microsoft.icon"
    assert r.content[:4] == b"\x00\x00\x01\x00"  # an ICO header
    assert r.headers["cache-control"] == "public, max-age=86400"
    # Pages carry their icon inline (no request a quick navigation could abort).
    icon = re.search(
        r'<link rel="icon" href="data:image/svg\+xml,([^"]+)"', client.get("/login").text
    )
    assert icon
    assert unquote(unescape(icon.group(1))).encode() == (STATIC / "favicon.svg").read_bytes()


def test_pages_load_plotly_only_through_app_js(client: TestClient, session: Session) -> None:
    """No page has a Plotly <script>: app.js fetches it when a chart is on the page."""
    user = create_user(session, role="admin")
    page_login(client, user.email)
    for path in ("/login", "/", "/matrix"):
        html = client.get(path).text
        assert not re.search(r"<script src=\"[^\"]*plotly", html), path
        tag = (
            r'<script src="/static/js/app\.[0-9a-f]{12}\.js" '
            r'data-plotly="/static/vendor/plotly-axisboard\.min\.[0-9a-f]{12}\.js" defer>'
        )
        assert re.search(tag, html), path
    app_js = (STATIC / "js" / "app.js").read_text()
    assert "dataset.plotly" in app_js
    assert "loadPlotly" in app_js
