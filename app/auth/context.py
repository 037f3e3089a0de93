"""Who is calling: the authenticated user of a request, as services see it."""

from __future__ import annotations

from dataclasses import dataclass

from app.audit.service import Actor
from app.auth.permissions import Permission, Role, has_permission
from app.errors import Forbidden


@dataclass(frozen=True, slots=True)
class Caller:
    user_id: int
    email: str
    org_id: int
    org_name: str
    role: Role
    token_id: int

    @property
    def actor(self) -> Actor:
        return Actor(id=self.user_id, email=self.email, org_id=self.org_id)

    def can(self, permission: Permission) -> bool:
        return has_permission(self.role, permission)

    def require(self, permission: Permission) -> None:
        if not self.can(permission):
            raise Forbidden(f"your role ({self.role}) may not do this ({permission})")
