"""governance workflow: decisions bound to a content hash (voidable), portfolio contributors and
submission, archived deployments, in-app notifications; the deployment facts that bring in risks
beyond the axes (human oversight, outputs feeding other systems, tools/agents)

Revision ID: 0009
Revises: 0007
Create Date: 2026-11-30 12:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import app.db

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("content_sha256", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("voided_at", app.db.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("voided_by", sa.String(length=254), nullable=True))
        batch_op.add_column(sa.Column("void_reason", sa.Text(), nullable=True))
    with op.batch_alter_table("portfolios", schema=None) as batch_op:
        # Existing portfolios start with no recorded contributor beyond created_by (always one).
        batch_op.add_column(
            sa.Column("contributors", JSON, nullable=False, server_default=sa.text("'[]'"))
        )
        batch_op.add_column(sa.Column("submitted_by", sa.String(length=254), nullable=True))
        batch_op.add_column(sa.Column("submitted_at", app.db.UTCDateTime(), nullable=True))
    with op.batch_alter_table("deployments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("archived_at", app.db.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("archived_by", sa.String(length=254), nullable=True))
        batch_op.add_column(sa.Column("human_oversight", sa.String(length=16), nullable=True))
        batch_op.add_column(
            sa.Column(
                "outputs_feed_systems", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )
        batch_op.add_column(
            sa.Column("can_act", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("recipient", sa.String(length=254), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("link", sa.String(length=300), nullable=False),
        sa.Column("created_at", app.db.UTCDateTime(), nullable=False),
        sa.Column("read_at", app.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_notifications_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
    )
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_notifications_org_id"), ["org_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_notifications_recipient"), ["recipient"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notifications_recipient"))
        batch_op.drop_index(batch_op.f("ix_notifications_org_id"))
    op.drop_table("notifications")
    with op.batch_alter_table("deployments", schema=None) as batch_op:
        batch_op.drop_column("can_act")
        batch_op.drop_column("outputs_feed_systems")
        batch_op.drop_column("human_oversight")
        batch_op.drop_column("archived_by")
        batch_op.drop_column("archived_at")
    with op.batch_alter_table("portfolios", schema=None) as batch_op:
        batch_op.drop_column("submitted_at")
        batch_op.drop_column("submitted_by")
        batch_op.drop_column("contributors")
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.drop_column("void_reason")
        batch_op.drop_column("voided_by")
        batch_op.drop_column("voided_at")
        batch_op.drop_column("content_sha256")
