"""Permission checks as route dependencies: the one place a route says what its caller may do.

``caller: Annotated[Caller, Depends(page_requires(Permission.x))]`` resolves the logged-in caller
(as ``PageCaller`` does) and refuses with 403 unless their role has the permission, before the
handler runs; ``api_requires`` does the same for a bearer-token caller (``ApiCaller``). The role
table itself is ``app.auth.permissions``.
"""

from __future__ import annotations

from collections.abc import Callable

from app.auth.context import Caller
from app.auth.permissions import Permission
from app.web.deps import ApiCaller, PageCaller


def page_requires(permission: Permission) -> Callable[[Caller], Caller]:
    def check(caller: PageCaller) -> Caller:
        caller.require(permission)
        return caller

    check.__name__ = f"page_requires_{permission.name}"
    return check


def api_requires(permission: Permission) -> Callable[[Caller], Caller]:
    def check(caller: ApiCaller) -> Caller:
        caller.require(permission)
        return caller

    check.__name__ = f"api_requires_{permission.name}"
    return check
