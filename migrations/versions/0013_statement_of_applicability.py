"""risk-based ISO/IEC 42001 statement of applicability: versions (controls as JSON, contributors,
submission), the history of every control change, and evidence files stored with their SHA-256

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30 16:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import app.db

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _org_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["org_id"],
        ["organizations.id"],
        name=op.f(f"fk_{table}_org_id_organizations"),
        ondelete="CASCADE",
    )


def _soa_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["soa_id"],
        ["soa_versions.id"],
        name=op.f(f"fk_{table}_soa_id_soa_versions"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "soa_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("deployment_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("controls", JSON, nullable=False),
        sa.Column("created_by", sa.String(length=254), nullable=False),
        sa.Column("contributors", JSON, nullable=False),
        sa.Column("submitted_by", sa.String(length=254), nullable=True),
        sa.Column("submitted_at", app.db.UTCDateTime(), nullable=True),
        sa.Column("created_at", app.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", app.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["deployments.id"],
            name=op.f("fk_soa_versions_deployment_id_deployments"),
            ondelete="CASCADE",
        ),
        _org_fk("soa_versions"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_soa_versions")),
        sa.UniqueConstraint(
            "deployment_id", "version", name=op.f("uq_soa_versions_deployment_id_version")
        ),
    )
    with op.batch_alter_table("soa_versions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_soa_versions_org_id"), ["org_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_soa_versions_deployment_id"), ["deployment_id"], unique=False
        )
    op.create_table(
        "soa_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("soa_id", sa.Integer(), nullable=False),
        sa.Column("control", sa.String(length=16), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("changed_by", sa.String(length=254), nullable=False),
        sa.Column("changed_at", app.db.UTCDateTime(), nullable=False),
        sa.Column("before", JSON, nullable=False),
        sa.Column("after", JSON, nullable=False),
        _org_fk("soa_history"),
        _soa_fk("soa_history"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_soa_history")),
    )
    with op.batch_alter_table("soa_history", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_soa_history_org_id"), ["org_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_soa_history_soa_id"), ["soa_id"], unique=False)
    op.create_table(
        "soa_evidence_files",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("soa_id", sa.Integer(), nullable=False),
        sa.Column("control", sa.String(length=16), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("uploaded_by", sa.String(length=254), nullable=False),
        sa.Column("uploaded_at", app.db.UTCDateTime(), nullable=False),
        _org_fk("soa_evidence_files"),
        _soa_fk("soa_evidence_files"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_soa_evidence_files")),
    )
    with op.batch_alter_table("soa_evidence_files", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_soa_evidence_files_org_id"), ["org_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_soa_evidence_files_soa_id"), ["soa_id"], unique=False)


def downgrade() -> None:
    for table in ("soa_evidence_files", "soa_history"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(batch_op.f(f"ix_{table}_soa_id"))
            batch_op.drop_index(batch_op.f(f"ix_{table}_org_id"))
        op.drop_table(table)
    with op.batch_alter_table("soa_versions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_soa_versions_deployment_id"))
        batch_op.drop_index(batch_op.f("ix_soa_versions_org_id"))
    op.drop_table("soa_versions")
