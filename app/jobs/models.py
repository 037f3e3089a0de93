from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, utcnow


class Job(Base):
    """A long-running task (calibration, benchmark import), run by a Celery worker or a thread."""

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    progress: Mapped[int] = mapped_column(default=0)  # percent
    message: Mapped[str] = mapped_column(Text, default="")
    params: Mapped[dict[str, Any]]
    result: Mapped[dict[str, Any] | None]
    error: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(254))
    runner: Mapped[str] = mapped_column(String(16), default="thread")  # thread, process, celery
    attempts: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    # Refreshed by the runner while it works; stale means the runner died (service.reap_stale).
    heartbeat_at: Mapped[datetime | None]

    @property
    def done(self) -> bool:
        return self.status in ("succeeded", "failed")
