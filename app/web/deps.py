"""Request dependencies: settings, ids in paths and queries, paging (the logged-in caller is
app/auth/deps.py's: the web layer knows no user)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Query, Request

from app.config import Settings
from app.db import MAX_ID


class LoginRequired(Exception):
    """A page needs a logged-in user; the handler redirects to /login."""

    def __init__(self, next_url: str) -> None:
        self.next_url = next_url


def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]


# An id outside 1..MAX_ID names nothing (and would overflow the query parameter): refused (422)
# before any query runs.
IdPath = Annotated[int, Path(ge=1, le=MAX_ID)]
IdQuery = Annotated[int | None, Query(ge=1, le=MAX_ID)]


class Page:
    def __init__(
        self, limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0, le=10**9)
    ) -> None:
        self.limit = limit
        self.offset = offset


PageDep = Annotated[Page, Depends()]
