from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth import service as auth_service
from app.auth.models import AuthToken
from app.auth.views import safe_next
from app.config import Environment, Settings
from tests.factories import (
    PASSWORD,
    api_headers,
    create_user,
    csrf,
    csrf_from,
    page_login,
    post_login,
)


def test_token_login_and_me(client: TestClient, session: Session) -> None:
    user = create_user(session, role="architect")
    headers = api_headers(client, user.email)
    me = client.get("/api/v1/auth/me", headers=headers)
    assert me.status_code == 200
    assert me.json()["role"] == "architect"


def test_tokens_are_stored_hashed(client: TestClient, session: Session) -> None:
    user = create_user(session)
    headers = api_headers(client, user.email)
    raw = headers["Authorization"].split()[1]
    stored = session.execute(select(AuthToken.token_hash)).scalars().all()
    assert raw not in stored
    assert all(len(h) == 64 for h in stored)


def test_wrong_password_is_401_without_revealing_which(
    client: TestClient, session: Session
) -> None:
    user = create_user(session)
    bad_pw = client.post("/api/v1/auth/token", data={"username": user.email, "password": "nope"})
    no_user = client.post("/api/v1/auth/token", data={"username": "ghost@x.test", "password": "n"})
    assert bad_pw.status_code == no_user.status_code == 401
    assert bad_pw.json() == no_user.json()


def test_api_requires_bearer(client: TestClient) -> None:
    r = client.get("/api/v1/deployments")
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    assert (
        client.get("/api/v1/deployments", headers={"Authorization": "Bearer forged"}).status_code
        == 401
    )


def test_token_revocation(client: TestClient, session: Session) -> None:
    user = create_user(session)
    headers = api_headers(client, user.email)
    assert client.post("/api/v1/auth/revoke", headers=headers).status_code == 204
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 401


class Clock:
    """The sign-in throttle's clock, moved by hand (no sleeps, no dependence on machine speed)."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(auth_service, "utcnow", c)
    return c


def _client_from(asgi: Any, address: str) -> TestClient:
    return TestClient(asgi, base_url="http://testserver", client=(address, 50000))


def _token(c: TestClient, email: str, password: str) -> Any:
    return c.post("/api/v1/auth/token", data={"username": email, "password": password})


def test_api_login_throttled_after_failures(
    client: TestClient, session: Session, settings: Settings, clock: Clock
) -> None:
    user = create_user(session)
    for _ in range(settings.login_max_failures):
        r = _token(client, user.email, "bad")
        assert r.status_code == 401
    r = _token(client, user.email, PASSWORD)
    assert r.status_code == 429
    assert int(r.headers["retry-after"]) == settings.login_base_delay_s
    assert "try again in 1 second" in r.json()["detail"]


def test_page_login_throttled(
    client: TestClient, session: Session, settings: Settings, clock: Clock
) -> None:
    user = create_user(session)
    for _ in range(settings.login_max_failures):
        token = csrf_from(client.get("/login").text)
        r = client.post("/login", data={"csrftoken": token, "email": user.email, "password": "x"})
        assert r.status_code == 401
        assert "incorrect e-mail or password" in r.text
    token = csrf_from(client.get("/login").text)
    r = client.post("/login", data={"csrftoken": token, "email": user.email, "password": PASSWORD})
    assert r.status_code == 429
    assert r.headers["retry-after"] == "1"
    clock.advance(1)
    token = csrf_from(client.get("/login").text)
    r = client.post(
        "/login",
        data={"csrftoken": token, "email": user.email, "password": PASSWORD},
        follow_redirects=False,
    )
    assert r.status_code == 303  # a delay, not a lock-out


def test_an_attackers_failures_do_not_lock_the_owner_out(
    asgi: Any, session: Session, settings: Settings, clock: Clock
) -> None:
    """Many wrong passwords for a victim's e-mail from one address: the victim still signs in at
    once from their own address, and the attacker's address is slowed down."""
    victim = create_user(session)
    session.commit()
    attacker, owner = _client_from(asgi, "203.0.113.66"), _client_from(asgi, "198.51.100.7")
    for _ in range(settings.login_max_failures * 3):
        r = _token(attacker, victim.email, "guess")
        if r.status_code == 429:
            clock.advance(int(r.headers["retry-after"]))
            r = _token(attacker, victim.email, "guess")
        assert r.status_code == 401
    assert _token(attacker, victim.email, PASSWORD).status_code == 429  # even the right one waits
    r = _token(owner, victim.email, PASSWORD)
    assert r.status_code == 200, r.text
    # The owner's success clears the owner's record, not the attacker's.
    assert _token(attacker, victim.email, "guess").status_code == 429


def test_the_delay_grows_exponentially_up_to_the_cap(
    asgi: Any, session: Session, settings: Settings, clock: Clock
) -> None:
    user = create_user(session)
    session.commit()
    attacker = _client_from(asgi, "203.0.113.9")
    for _ in range(settings.login_max_failures):
        assert _token(attacker, user.email, "guess").status_code == 401
    waits = []
    for _ in range(12):
        r = _token(attacker, user.email, "guess")
        assert r.status_code == 429
        waits.append(int(r.headers["retry-after"]))
        clock.advance(waits[-1] - 0.5)
        assert _token(attacker, user.email, "guess").status_code == 429  # not a moment early
        clock.advance(0.5)
        assert _token(attacker, user.email, "guess").status_code == 401
    cap = int(settings.login_max_delay_s)
    assert waits == [min(cap, 2**k) for k in range(12)]  # 1, 2, 4, … 256, then 300 s
    # Throttled attempts check no password and are not counted; failures age out of the window.
    clock.advance(settings.login_window_s + 1)
    assert _token(attacker, user.email, PASSWORD).status_code == 200


def test_one_address_trying_many_accounts_is_slowed(
    asgi: Any, session: Session, settings: Settings, clock: Clock
) -> None:
    """Password spraying: few guesses per e-mail, many e-mails, one address."""
    sprayer, other = _client_from(asgi, "203.0.113.20"), _client_from(asgi, "198.51.100.20")
    per_address = settings.login_max_failures * 4
    for i in range(per_address):
        assert _token(sprayer, f"nobody{i}@x.test", "Winter2026!").status_code == 401
    r = _token(sprayer, "someone-else@x.test", "Winter2026!")
    assert r.status_code == 429
    assert r.headers["retry-after"] == "1"
    assert _token(other, "someone-else@x.test", "Winter2026!").status_code == 401


def test_backoff_arithmetic() -> None:
    t = auth_service.LoginThrottle(
        max_failures=5, window_s=3600, base_delay_s=1.0, max_delay_s=300.0
    )
    assert [t.delay_s(n, 5) for n in (0, 4, 5, 6, 7, 13, 14, 10_000)] == [
        0,
        0,
        1,
        2,
        4,
        256,
        300,
        300,
    ]


def test_pages_redirect_to_login(client: TestClient) -> None:
    r = client.get("/deployments", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/login?next=/deployments"


def test_session_cookie_flags_and_logout_invalidates(client: TestClient, session: Session) -> None:
    user = create_user(session, role="viewer")
    r = post_login(client, user.email, next_url="/deployments")
    assert r.status_code == 303
    assert r.headers["location"] == "/deployments"
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie.replace("Lax", "lax")
    old_cookie = client.cookies.get("axisboard_session")
    assert client.get("/").status_code == 200
    r = client.post("/logout", data={"csrftoken": csrf(client)}, follow_redirects=False)
    assert r.status_code == 303
    # The old cookie, replayed, no longer works.
    client.cookies.set("axisboard_session", old_cookie, domain="testserver.local")
    assert client.get("/", follow_redirects=False).status_code == 303


def test_login_issues_fresh_session(client: TestClient, session: Session) -> None:
    """Session fixation: a cookie set before login is never the one used after it."""
    user = create_user(session)
    client.cookies.set("axisboard_session", "attacker-chosen-value", domain="testserver.local")
    page_login(client, user.email)
    assert (
        client.cookies.get("axisboard_session", domain="testserver.local")
        != "attacker-chosen-value"
    )


def _same_origin_path(location: str) -> bool:
    """What a browser makes of ``location`` on https://app.example stays on that origin, and the
    value is a plain-ASCII path (no white space, control character or backslash to reinterpret)."""
    target = urlsplit(urljoin("https://app.example/deployments/1", location))
    return (
        target.scheme == "https"
        and target.netloc == "app.example"
        and location.startswith("/")
        and not location.startswith("//")
        and all(33 <= ord(ch) < 127 and ch != "\\" for ch in location)
    )


OFF_SITE_NEXT = [
    "//evil.example/x",
    "/\tevil.example",
    "/\t/evil.example",
    "/%09/evil.example",  # decoded by the query string into "/\t/evil.example"
    "/\\evil.example",
    "/\\/evil.example",
    "\\\\evil.example",
    "https://evil.example",
    "http:evil.example",
    "javascript:alert(1)",
    "/\r\n/evil.example",
    "/\n/evil.example",
    "/x\rLocation: https://evil.example",
    " //evil.example",
    "\t//evil.example",
    "evil.example",
    "%2F%2Fevil.example",
]


@pytest.mark.parametrize("next_url", OFF_SITE_NEXT)
def test_open_redirect_refused(client: TestClient, session: Session, next_url: str) -> None:
    user = create_user(session)
    r = post_login(client, user.email, next_url=next_url)
    assert r.status_code == 303
    assert r.headers["location"] == "/"


@pytest.mark.parametrize(
    "raw_query",
    [
        "/%09/evil.example",
        "/%0d%0a/evil.example",
        "/%5Cevil.example",
        "%2F%2Fevil.example",
        "/%0dSet-Cookie:%20x=1",
    ],
)
def test_login_page_never_carries_an_off_site_next(client: TestClient, raw_query: str) -> None:
    """The query string is decoded before the check: /login?next=/%09/evil.example is "/\t/…"."""
    r = client.get(f"/login?next={raw_query}")
    assert r.status_code == 200
    assert re.search(r'name="next" value="/"', r.text), raw_query


def test_same_origin_next_is_kept(client: TestClient, session: Session) -> None:
    user = create_user(session)
    r = post_login(client, user.email, next_url="/deployments/3?tab=risks#top")
    assert r.headers["location"] == "/deployments/3?tab=risks#top"
    # Non-ASCII is percent-encoded (a raw one in the header would be a 500), meaning kept.
    r = post_login(client, user.email, next_url="/portfolios?q=Café")
    assert r.headers["location"] == "/portfolios?q=Caf%C3%A9"


@given(
    st.text(max_size=60)
    | st.lists(
        st.sampled_from(
            [
                "/",
                "//",
                "\\",
                "\t",
                "\r",
                "\n",
                "%09",
                "%2F",
                "evil.example",
                "https:",
                ":",
                "@",
                " ",
                "\x00",
                "\u3000",
                "\u2028",
                "\ud800",
                "é",
                "?",
                "#",
                "..",
            ]
        ),
        max_size=8,
    ).map("".join)
)
@hsettings(max_examples=300, deadline=None)
def test_safe_next_always_gives_a_same_origin_path(url: str) -> None:
    out = safe_next(url)
    assert _same_origin_path(out), (url, out)
    assert safe_next(out) == out  # the value rendered into the form survives its round trip


@given(
    st.text(max_size=30)
    | st.lists(
        st.sampled_from(
            ["/", "//", "\\", "\t", "\r", "\n", "%09", "evil.example", "https:", "é", "\x85"]
        ),
        max_size=6,
    ).map("".join)
)
@hsettings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_login_redirect_is_always_same_origin(
    client: TestClient, session: Session, url: str
) -> None:
    """End to end, whatever ``next`` a form posts: a 303 to a same-origin path, never a 500.
    Text no database can store (NUL, unpaired surrogates) is refused with 422 before any handler
    (UnstorableTextMiddleware): no redirect at all."""
    user = create_user(session)
    r = post_login(client, user.email, next_url=url)
    if "\x00" in url or any(0xD800 <= ord(c) <= 0xDFFF for c in url):
        assert r.status_code == 422, (url, r.status_code)
        assert "location" not in r.headers
        return
    assert r.status_code == 303, (url, r.status_code)
    assert _same_origin_path(r.headers["location"]), (url, r.headers["location"])


def test_csrf_refused_on_page_post_without_token(client: TestClient, session: Session) -> None:
    user = create_user(session)
    page_login(client, user.email)
    r = client.post("/deployments/new", data={"name": "x"})
    assert r.status_code == 403
    r = client.post("/logout")
    assert r.status_code == 403


def test_csrf_refused_on_login_without_cookie(client: TestClient, session: Session) -> None:
    user = create_user(session)
    r = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert r.status_code == 403


def test_htmx_header_token_accepted(client: TestClient, session: Session) -> None:
    user = create_user(session, role="governance")
    page_login(client, user.email)
    token = csrf(client, "/audit")
    r = client.post("/audit/verify", headers={"x-csrftoken": token, "HX-Request": "true"})
    assert r.status_code == 200
    assert "Chain intact" in r.text


def test_production_refuses_default_secret() -> None:
    with pytest.raises(ValueError, match="SECRET_KEY"):
        Settings(environment=Environment.production)
    ok = Settings(environment=Environment.production, secret_key=secrets.token_hex(32))
    assert ok.cookie_secure


def test_security_headers(client: TestClient) -> None:
    r = client.get("/login")
    csp = r.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "same-origin"
