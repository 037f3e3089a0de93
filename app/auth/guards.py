"""Permission checks as route dependencies: the one place a route says what its caller may do.

``caller: Annotated[Caller, Depends(page_requires(Permission.x))]`` resolves the logged-in caller
(as ``PageCaller`` does) and refuses with 403 unless their role has the permission, before the
handler runs; ``api_requires`` does the same for a bearer-token caller (``ApiCaller``). The role
table itself is ``app.auth.permissions``. Each guard keeps its ``permission``, so the route table
says who may call what (tests/test_route_guards.py compares it with the authorisation policy).
"""

from __future__ import annotations

from app.auth.context import Caller
from app.auth.deps import ApiCaller, PageCaller
from app.auth.permissions import Permission


class PageRequires:
    def __init__(self, permission: Permission) -> None:
        self.permission = permission

    def __call__(self, caller: PageCaller) -> Caller:
        caller.require(self.permission)
        return caller


class ApiRequires:
    def __init__(self, permission: Permission) -> None:
        self.permission = permission

    def __call__(self, caller: ApiCaller) -> Caller:
        caller.require(self.permission)
        return caller


def page_requires(permission: Permission) -> PageRequires:
    return PageRequires(permission)


def api_requires(permission: Permission) -> ApiRequires:
    return ApiRequires(permission)
