"""All queries on organisations, users, tokens, sign-in attempts and platform operators."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from app.auth.models import AuthToken, LoginAttempt, Organization, PlatformOperator, User


class AuthRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    # --- sign-in attempts -------------------------------------------------------------------

    def failures(
        self, *, client_ip: str, since: datetime, email: str | None = None
    ) -> tuple[int, datetime | None]:
        """Failed sign-ins from ``client_ip`` since ``since`` (for one e-mail when given): how many,
        and when the last was."""
        where = [LoginAttempt.client_ip == client_ip, LoginAttempt.created_at >= since]
        if email is not None:
            where.append(LoginAttempt.email == email)
        count, last = self.session.execute(
            select(func.count(LoginAttempt.id), func.max(LoginAttempt.created_at)).where(*where)
        ).one()
        return int(count), last

    def add_failure(self, *, email: str, client_ip: str, at: datetime) -> None:
        self.session.add(LoginAttempt(email=email, client_ip=client_ip, created_at=at))
        self.session.flush()

    def clear_failures(self, *, email: str, client_ip: str) -> None:
        self.session.execute(
            delete(LoginAttempt).where(
                LoginAttempt.email == email, LoginAttempt.client_ip == client_ip
            )
        )

    # --- users and organisations ------------------------------------------------------------

    def user(self, user_id: int) -> User | None:
        return self.session.get(User, user_id)

    def org(self, org_id: int) -> Organization | None:
        return self.session.get(Organization, org_id)

    def user_by_email(self, email: str) -> User | None:
        return self.session.execute(select(User).where(User.email == email)).scalar_one_or_none()

    def email_taken(self, email: str) -> bool:
        return self.session.execute(select(User.id).where(User.email == email)).first() is not None

    def add_user(self, user: User) -> User:
        self.session.add(user)
        self.session.flush()
        return user

    def org_by_name(self, name: str) -> Organization | None:
        return self.session.execute(
            select(Organization).where(Organization.name == name)
        ).scalar_one_or_none()

    def add_org(self, org: Organization) -> Organization:
        self.session.add(org)
        self.session.flush()
        return org

    # --- tokens -----------------------------------------------------------------------------

    def add_token(self, token: AuthToken) -> AuthToken:
        self.session.add(token)
        self.session.flush()
        return token

    def token(self, token_id: int) -> AuthToken | None:
        return self.session.get(AuthToken, token_id)

    def token_owner(
        self, token_hash: str, kind: str
    ) -> tuple[AuthToken, User, Organization] | None:
        """The token with this digest and kind, its user and the user's organisation."""
        row = self.session.execute(
            select(AuthToken, User, Organization)
            .join(User, User.id == AuthToken.user_id)
            .join(Organization, Organization.id == User.org_id)
            .where(AuthToken.token_hash == token_hash, AuthToken.kind == kind)
        ).first()
        if row is None:
            return None
        tok, user, org = row
        return tok, user, org

    # --- platform operators -----------------------------------------------------------------

    def operator_by_email(self, email: str) -> PlatformOperator | None:
        return self.session.execute(
            select(PlatformOperator).where(PlatformOperator.email == email)
        ).scalar_one_or_none()

    def operator_by_token_hash(self, token_hash: str) -> PlatformOperator | None:
        return self.session.execute(
            select(PlatformOperator).where(PlatformOperator.token_hash == token_hash)
        ).scalar_one_or_none()

    def add_operator(self, op: PlatformOperator) -> PlatformOperator:
        self.session.add(op)
        self.session.flush()
        return op
