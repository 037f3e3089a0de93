"""per-organisation reference data: matrix and rule-set versions, GPU price overrides, operators

Every organisation gets its own copy of the product-wide matrix and rule-set versions that
existed before (the whole history, same version numbers, so each recommendation's cited versions
still resolve within its own organisation and the next publish continues the numbering). A
version's author is kept where it is ``system`` or a member of that organisation; otherwise the
copy says it was published by another organisation (no other organisation's e-mail leaks).

GPU prices: a product-wide price that an organisation admin had set (``price_source`` "set by
...") becomes that organisation's own price (the organisation of the newest ``gpu.price.update``
audit event for the GPU; when no event names one, every organisation gets it, so nobody's figures
change silently), and the shipped default goes back to ``app/catalog/data/gpu_prices.yaml``.

Downgrade keeps the versions of the lowest-numbered organisation as the product-wide ones and
drops organisation prices (the shipped defaults stay).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 12:50:00.000000
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OTHER_ORG_AUTHOR = "another organisation (before per-organisation versions)"

orgs = sa.table("organizations", sa.column("id", sa.Integer))
users = sa.table("users", sa.column("org_id", sa.Integer), sa.column("email", sa.String(254)))
matrix_versions = sa.table(
    "matrix_versions",
    sa.column("id", sa.Integer),
    sa.column("org_id", sa.Integer),
    sa.column("version", sa.Integer),
    sa.column("note", sa.Text),
    sa.column("source", sa.Text),
    sa.column("created_by", sa.String(254)),
    sa.column("created_at", app.db.UTCDateTime()),
)
matrix_cells = sa.table(
    "matrix_cells",
    sa.column("id", sa.Integer),
    sa.column("version_id", sa.Integer),
    sa.column("axis_key", sa.String(48)),
    sa.column("dimension_key", sa.String(32)),
    sa.column("level", sa.Integer),
    sa.column("wording", sa.Text),
)
rule_set_versions = sa.table(
    "rule_set_versions",
    sa.column("id", sa.Integer),
    sa.column("org_id", sa.Integer),
    sa.column("version", sa.Integer),
    sa.column("text", sa.Text),
    sa.column("body", app.db.JSONType),
    sa.column("note", sa.Text),
    sa.column("created_by", sa.String(254)),
    sa.column("created_at", app.db.UTCDateTime()),
)
gpus = sa.table(
    "gpus",
    sa.column("key", sa.String(48)),
    sa.column("price_per_hour_usd", sa.Float),
    sa.column("price_source", sa.Text),
)
overrides = sa.table(
    "gpu_price_overrides",
    sa.column("org_id", sa.Integer),
    sa.column("gpu_key", sa.String(48)),
    sa.column("price_per_hour_usd", sa.Float),
    sa.column("kind", sa.String(16)),
    sa.column("note", sa.Text),
    sa.column("set_by", sa.String(254)),
    sa.column("updated_at", app.db.UTCDateTime()),
)
audit_events = sa.table(
    "audit_events",
    sa.column("id", sa.Integer),
    sa.column("org_id", sa.Integer),
    sa.column("action", sa.String(64)),
    sa.column("entity_id", sa.String(64)),
)

MATRIX_COLS = ("version", "note", "source", "created_by", "created_at")
RULESET_COLS = ("version", "text", "body", "note", "created_by", "created_at")
CELL_COLS = ("axis_key", "dimension_key", "level", "wording")


def _read_all(
    conn: sa.Connection, *, with_org: bool
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every matrix version (with its cells) and rule-set version, as plain dicts."""
    extra = ("org_id",) if with_org else ()
    mv_cols = [matrix_versions.c[k] for k in ("id", *MATRIX_COLS, *extra)]
    rs_cols = [rule_set_versions.c[k] for k in ("id", *RULESET_COLS, *extra)]
    mvs = [dict(r._mapping) for r in conn.execute(sa.select(*mv_cols))]
    cells: dict[int, list[dict[str, Any]]] = {}
    for r in conn.execute(sa.select(matrix_cells).order_by(matrix_cells.c.id)):
        cells.setdefault(r.version_id, []).append({k: getattr(r, k) for k in CELL_COLS})
    for mv in mvs:
        mv["cells"] = cells.get(mv["id"], [])
    rsvs = [dict(r._mapping) for r in conn.execute(sa.select(*rs_cols))]
    return mvs, rsvs


def _clear(conn: sa.Connection) -> None:
    # Emptied before the tables are rebuilt: on SQLite the rebuild drops and recreates
    # matrix_versions, which would cascade to matrix_cells.
    conn.execute(sa.delete(matrix_cells))
    conn.execute(sa.delete(matrix_versions))
    conn.execute(sa.delete(rule_set_versions))


def _insert(
    conn: sa.Connection,
    org_id: int | None,
    mvs: list[dict[str, Any]],
    rsvs: list[dict[str, Any]],
    members: set[str] | None,
) -> None:
    def author(email: str | None) -> str | None:
        if members is None or email in (None, "system") or email in members:
            return email
        return OTHER_ORG_AUTHOR

    for mv in sorted(mvs, key=lambda m: m["version"]):
        values = {k: mv[k] for k in MATRIX_COLS} | {"created_by": author(mv["created_by"])}
        if org_id is not None:
            values["org_id"] = org_id
        conn.execute(sa.insert(matrix_versions).values(**values))
        new_id = conn.execute(
            sa.select(matrix_versions.c.id).where(
                matrix_versions.c.version == mv["version"],
                *([matrix_versions.c.org_id == org_id] if org_id is not None else []),
            )
        ).scalar_one()
        if mv["cells"]:
            conn.execute(
                sa.insert(matrix_cells), [{"version_id": new_id, **c} for c in mv["cells"]]
            )
    for rv in sorted(rsvs, key=lambda r: r["version"]):
        values = {k: rv[k] for k in RULESET_COLS} | {"created_by": author(rv["created_by"]) or ""}
        if org_id is not None:
            values["org_id"] = org_id
        conn.execute(sa.insert(rule_set_versions).values(**values))


def _shipped_prices() -> dict[str, Any]:
    # The shipped defaults as they were at this revision (frozen: gpu_prices.yaml has since
    # changed format and values; migration 0011 brings databases to the current defaults).
    return {
        "source": "Sardana et al. 2024, 'Beyond Chinchilla-Optimal' (arXiv 2401.00448), "
        "public code defaults",
        "prices": {"h100_sxm_80gb": 2.00, "a100_sxm_80gb": 1.50, "a100_sxm_40gb": 1.10},
    }


def _carry_prices(conn: sa.Connection, org_ids: list[int]) -> None:
    shipped = _shipped_prices()
    edited = conn.execute(
        sa.select(gpus).where(
            gpus.c.price_source.like("set by %"), gpus.c.price_per_hour_usd.is_not(None)
        )
    ).all()
    now = app.db.utcnow()
    for g in edited:
        last_org = conn.execute(
            sa.select(audit_events.c.org_id)
            .where(
                audit_events.c.action == "gpu.price.update",
                audit_events.c.entity_id == g.key,
                audit_events.c.org_id.is_not(None),
            )
            .order_by(audit_events.c.id.desc())
            .limit(1)
        ).scalar_one_or_none()
        targets = [last_org] if last_org in org_ids else org_ids
        set_by = g.price_source.removeprefix("set by ")
        for org_id in targets:
            conn.execute(
                sa.insert(overrides).values(
                    org_id=org_id,
                    gpu_key=g.key,
                    price_per_hour_usd=g.price_per_hour_usd,
                    kind="other",
                    set_by=set_by,
                    updated_at=now,
                    note="carried over from the product-wide price set before per-organisation "
                    "prices (migration 0008)",
                )
            )
        default = shipped["prices"].get(g.key)
        conn.execute(
            sa.update(gpus)
            .where(gpus.c.key == g.key)
            .values(
                price_per_hour_usd=default,
                price_source=shipped["source"] if default is not None else "",
            )
        )


def upgrade() -> None:
    op.create_table(
        "platform_operators",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_platform_operators")),
        sa.UniqueConstraint("email", name=op.f("uq_platform_operators_email")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_platform_operators_token_hash")),
    )
    op.create_table(
        "gpu_price_overrides",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("gpu_key", sa.String(length=48), nullable=False),
        sa.Column("price_per_hour_usd", sa.Double(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("set_by", sa.String(length=254), nullable=False),
        sa.Column("updated_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["gpu_key"],
            ["gpus.key"],
            name=op.f("fk_gpu_price_overrides_gpu_key_gpus"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_gpu_price_overrides_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gpu_price_overrides")),
        sa.UniqueConstraint(
            "org_id", "gpu_key", name=op.f("uq_gpu_price_overrides_org_id_gpu_key")
        ),
    )
    with op.batch_alter_table("gpu_price_overrides", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_gpu_price_overrides_org_id"), ["org_id"])

    conn = op.get_bind()
    mvs, rsvs = _read_all(conn, with_org=False)
    _clear(conn)
    for table in ("matrix_versions", "rule_set_versions"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("org_id", sa.Integer(), nullable=False))
            batch_op.drop_constraint(batch_op.f(f"uq_{table}_version"), type_="unique")
            batch_op.create_unique_constraint(
                batch_op.f(f"uq_{table}_org_id_version"), ["org_id", "version"]
            )
            batch_op.create_index(batch_op.f(f"ix_{table}_org_id"), ["org_id"])
            batch_op.create_foreign_key(
                batch_op.f(f"fk_{table}_org_id_organizations"),
                "organizations",
                ["org_id"],
                ["id"],
                ondelete="CASCADE",
            )

    org_ids = list(conn.execute(sa.select(orgs.c.id).order_by(orgs.c.id)).scalars())
    for org_id in org_ids:
        members = set(
            conn.execute(sa.select(users.c.email).where(users.c.org_id == org_id)).scalars()
        )
        _insert(conn, org_id, mvs, rsvs, members)
    _carry_prices(conn, org_ids)


def downgrade() -> None:
    conn = op.get_bind()
    first = conn.execute(sa.select(sa.func.min(matrix_versions.c.org_id))).scalar_one_or_none()
    mvs, rsvs = _read_all(conn, with_org=True)
    keep_mvs = [m for m in mvs if m["org_id"] == first]
    first_rs = min((r["org_id"] for r in rsvs), default=None)
    keep_rsvs = [r for r in rsvs if r["org_id"] == first_rs]
    _clear(conn)
    for table in ("matrix_versions", "rule_set_versions"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(
                batch_op.f(f"fk_{table}_org_id_organizations"), type_="foreignkey"
            )
            batch_op.drop_index(batch_op.f(f"ix_{table}_org_id"))
            batch_op.drop_constraint(batch_op.f(f"uq_{table}_org_id_version"), type_="unique")
            batch_op.create_unique_constraint(batch_op.f(f"uq_{table}_version"), ["version"])
            batch_op.drop_column("org_id")
    _insert(conn, None, keep_mvs, keep_rsvs, None)

    with op.batch_alter_table("gpu_price_overrides", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_gpu_price_overrides_org_id"))
    op.drop_table("gpu_price_overrides")
    op.drop_table("platform_operators")
