"""per-organisation hosted LLM API prices (issue 20): hosted_model_prices

The shipped catalog of hosted APIs is a data file (``app/catalog/data/hosted_models.yaml``); this
table holds each organisation's own rows (an edited price, or a model the catalog lacks).

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 16:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "hosted_model_prices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model_key", sa.String(length=64), nullable=False),
        sa.Column("provider", sa.String(length=80), nullable=False),
        sa.Column("model", sa.String(length=120), nullable=False),
        sa.Column("input_per_m_usd", sa.Double(), nullable=False),
        sa.Column("cached_input_per_m_usd", sa.Double(), nullable=True),
        sa.Column("output_per_m_usd", sa.Double(), nullable=False),
        sa.Column("context_tokens", sa.Integer(), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("set_by", sa.String(length=254), nullable=False),
        sa.Column("updated_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_hosted_model_prices_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hosted_model_prices")),
        sa.UniqueConstraint(
            "org_id", "model_key", name=op.f("uq_hosted_model_prices_org_id_model_key")
        ),
    )
    with op.batch_alter_table("hosted_model_prices", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_hosted_model_prices_org_id"), ["org_id"])


def downgrade() -> None:
    with op.batch_alter_table("hosted_model_prices", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_hosted_model_prices_org_id"))
    op.drop_table("hosted_model_prices")
