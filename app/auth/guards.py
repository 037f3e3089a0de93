"""Permission checks as route dependencies: the one place a route says what its caller may do.

``caller: Annotated[Caller, Depends(page_requires(Permission.x))]`` resolves the logged-in caller
(as ``PageCaller`` does) and refuses with 403 unless their role has the permission, before the
handler runs; ``api_requires`` does the same for a bearer-token caller (``ApiCaller``). A route
that needs several permissions names them all (``page_requires(Permission.x, Permission.y)``): the
caller needs every one. The role table itself is ``app.auth.permissions``. Each guard keeps its
``permissions``, so the route table says who may call what (tests/auth/test_route_guards.py
compares it with the authorisation policy).

No service checks a role again. Where a background job runs the same code as a route (the PDF
report), the route checks at submission and the job trusts what was submitted.
"""

from __future__ import annotations

from app.auth.context import Caller
from app.auth.deps import ApiCaller, PageCaller
from app.auth.permissions import Permission


class PageRequires:
    def __init__(self, *permissions: Permission) -> None:
        self.permissions = permissions

    def __call__(self, caller: PageCaller) -> Caller:
        for permission in self.permissions:
            caller.require(permission)
        return caller


class ApiRequires:
    def __init__(self, *permissions: Permission) -> None:
        self.permissions = permissions

    def __call__(self, caller: ApiCaller) -> Caller:
        for permission in self.permissions:
            caller.require(permission)
        return caller


def page_requires(permission: Permission, *more: Permission) -> PageRequires:
    return PageRequires(permission, *more)


def api_requires(permission: Permission, *more: Permission) -> ApiRequires:
    return ApiRequires(permission, *more)
