"""traffic shape on deployments (issue 18): peak_to_average and hourly_profile

Revision ID: 0010
Revises: 0007
Create Date: 2026-11-30 13:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("deployments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("peak_to_average", sa.Double(), nullable=True))
        batch_op.add_column(sa.Column("hourly_profile", app.db.JSONType, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deployments", schema=None) as batch_op:
        batch_op.drop_column("hourly_profile")
        batch_op.drop_column("peak_to_average")
