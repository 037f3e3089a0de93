"""shipped default GPU prices for every catalog GPU; model quality figures (issue 18)

Every catalog GPU gets the shipped default on-demand $/GPU-hour of ``gpu_prices.yaml`` as of this
revision (frozen below: the offer, the date observed, the URL). A GPU's default is replaced only
when it is still the previous shipped default (the three Sardana et al. code defaults) or
unpriced, and no platform operator ever changed it (no ``gpu.default_price.update`` audit
event for the GPU): an operator's price, or an operator's deliberate "unpriced", stays.
Organisation prices (``gpu_price_overrides``) are never touched. A database whose catalog is not
seeded yet gets the defaults from ``axisboard seed``.

Catalog models get a ``quality`` column (published benchmark figures with their sources); the
figures and the new models are written by ``axisboard seed`` (an upsert), which runs after every
migration.

Downgrade puts the previous shipped defaults back on the GPUs that still carry this revision's.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 16:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_SOURCE = (
    "Sardana et al. 2024, 'Beyond Chinchilla-Optimal' (arXiv 2401.00448), public code defaults"
)
OLD_PRICES = {"h100_sxm_80gb": 2.00, "a100_sxm_80gb": 1.50, "a100_sxm_40gb": 1.10}

NEW_PRICES: dict[str, tuple[float, str]] = {
    "h100_sxm_80gb": (
        3.99,
        "on-demand, median of GPU-cloud on-demand list prices: RunPod Secure 3.49, Nebius 3.85, Lambda 8x H100 SXM 3.99, CoreWeave HGX node 6.155, Fireworks 8.00; observed 2026-09-20; https://lambda.ai/instances; hyperscaler list price: AWS p5.48xlarge 6.88 (March 2026, unverified); GCP a3-highgpu-1g 10.98 (Axisboard reference economics.md section 1.2 (GPU-cloud on-demand median), compiled 2026-11-30)",
    ),
    "h100_pcie_80gb": (
        3.04,
        "on-demand, median of RunPod Secure 2.79 (2026-05-22) and Lambda 1x H100 PCIe 3.29 (2026-09-20); observed 2026-09-20; https://lambda.ai/instances (Axisboard reference economics.md section 1.2 (GPU-cloud on-demand median), compiled 2026-11-30)",
    ),
    "h200_sxm_141gb": (
        5.18,
        "on-demand, median of RunPod 3.59, Vast.ai ask 4.06, CoreWeave 8x H200 6.305, Fireworks 8.00; observed 2026-09-20; https://www.coreweave.com/pricing; hyperscaler list price: AWS p5en.48xlarge 7.912 us-east-1 (2026-08-06) (Axisboard reference economics.md section 1.2 (GPU-cloud on-demand median), compiled 2026-11-30)",
    ),
    "a100_sxm_80gb": (
        2.7,
        "on-demand, median of RunPod A100 SXM 1.89, CoreWeave 8x A100 2.70, Lambda A100 SXM 2.79; observed 2026-09-20; https://www.coreweave.com/pricing (Axisboard reference economics.md section 1.2 (GPU-cloud on-demand median), compiled 2026-11-30)",
    ),
    "a100_sxm_40gb": (
        1.99,
        "on-demand, Lambda 1x A100 40GB SXM on-demand (the only GPU-cloud offer found; 1.48 on 2026-05-07); observed 2026-09-20; https://lambda.ai/instances; hyperscaler list price: AWS p4d.24xlarge 2.745 (March 2026, unverified) (Axisboard reference economics.md section 1.2 (GPU-cloud on-demand median), compiled 2026-11-30)",
    ),
    "a100_pcie_80gb": (
        1.41,
        "on-demand, median of Vast.ai A100 80GB about 1.19 (June 2026) and RunPod A100 PCIe 80GB Secure 1.64; observed 2026-06; https://www.usagepricing.com/blueprint/vast-ai (Axisboard reference economics.md section 1.2 (GPU-cloud on-demand median), compiled 2026-11-30)",
    ),
    "a100_pcie_40gb": (
        1.99,
        "on-demand, proxy, no on-demand A100 PCIe 40GB offer found: Lambda 1x A100 40GB SXM on-demand (PCIe parts rent at or below SXM: A100 80GB PCIe 1.41 vs SXM 2.70); CCIR A100-40GB index T2 2.74 / T3 1.33 (2026-06-02); observed 2026-09-20; https://lambda.ai/instances (Axisboard reference economics.md section 1.2 (GPU-cloud on-demand median), compiled 2026-11-30)",
    ),
    "l40s": (
        1.48,
        "on-demand, median of RunPod 0.86, Civo 1.29, Vultr 1.67 (2025-08-12) and CoreWeave 8x L40S 2.25 (2026-09-20); observed 2025-08-12; https://modal.com/blog/nvidia-l40s-price-article; hyperscaler list price: AWS g6e.xlarge 1.861 (2025-08-12) (Axisboard reference economics.md section 1.2 (GPU-cloud on-demand median), compiled 2026-11-30)",
    ),
    "rtx_4090": (
        0.45,
        "on-demand, median of RunPod RTX 4090 0.34 (2026-03-10), Vast.ai on-demand 0.45 (2026-05) and Vast.ai about 0.78 (June 2026); observed 2026-05; https://fairlane.systems/en/wissen/tool-vast-ai (Axisboard reference economics.md section 1.2 (GPU-cloud on-demand median), compiled 2026-11-30)",
    ),
    "a10": (
        1.29,
        "on-demand, Lambda 1x A10 (24 GB PCIe) on-demand (only GPU-cloud offer found; 0.86 on 2026-05-07); observed 2026-09-20; https://lambda.ai/instances; hyperscaler list price: AWS g5.xlarge (A10G) 1.006 us-east-1 (2026-06-17) (Axisboard reference economics.md section 1.2 (GPU-cloud on-demand median), compiled 2026-11-30)",
    ),
    "l4": (
        0.68,
        "on-demand, median of RunPod L4 0.44 (2026-03-10), RunPod Serverless L4 0.684 and Modal L4 0.7992 (2026-05-07); serverless included: one non-serverless offer found; observed 2026-05-07; https://docs.runpod.io/serverless/pricing; hyperscaler list price: GCP g2-standard-4 about 0.70-0.80, AWS g6.xlarge about 0.80-1.10 (March 2026, unverified) (Axisboard reference economics.md section 1.2 (GPU-cloud on-demand median), compiled 2026-11-30)",
    ),
    "mi300x": (
        1.92,
        "on-demand, median of TensorWave 1.50, Vultr 1.85 (2026-05-18), Hot Aisle 1x MI300X 1.99 (2025-08-11), AMD Developer Cloud 1.99 (2025-09-04); observed 2026-05-18; https://www.cliffcenter.com/research/amd-inference-economics; hyperscaler list price: Azure / Oracle about 6 (2026-05-18) (Axisboard reference economics.md section 1.2 (GPU-cloud on-demand median), compiled 2026-11-30)",
    ),
    "b200_180gb": (
        6.69,
        "on-demand, median of Vast.ai 4.49, RunPod 5.98, Lambda 8x B200 6.69, CoreWeave 8x B200 8.60, Fireworks 13.00; observed 2026-09-20; https://lambda.ai/instances (Axisboard reference economics.md section 1.2 (GPU-cloud on-demand median), compiled 2026-11-30)",
    ),
}

gpus = sa.table(
    "gpus",
    sa.column("key", sa.String(48)),
    sa.column("price_per_hour_usd", sa.Float),
    sa.column("price_source", sa.Text),
)
audit_events = sa.table(
    "audit_events",
    sa.column("action", sa.String(64)),
    sa.column("entity_id", sa.String(64)),
)


def _operator_set(conn: sa.Connection) -> set[str]:
    """GPUs whose shipped default a platform operator changed at least once."""
    rows = conn.execute(
        sa.select(audit_events.c.entity_id).where(
            audit_events.c.action == "gpu.default_price.update"
        )
    ).scalars()
    return {str(r) for r in rows}


def upgrade() -> None:
    with op.batch_alter_table("model_archs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("quality", app.db.JSONType, nullable=False, server_default="[]")
        )
    conn = op.get_bind()
    touched = _operator_set(conn)
    for g in conn.execute(sa.select(gpus)).all():
        if g.key not in NEW_PRICES or g.key in touched:
            continue
        previous_default = g.price_source == OLD_SOURCE
        if g.price_per_hour_usd is not None and not previous_default:
            continue
        price, source = NEW_PRICES[g.key]
        conn.execute(
            sa.update(gpus)
            .where(gpus.c.key == g.key)
            .values(price_per_hour_usd=price, price_source=source)
        )


def downgrade() -> None:
    with op.batch_alter_table("model_archs", schema=None) as batch_op:
        batch_op.drop_column("quality")
    conn = op.get_bind()
    for key, (price, source) in NEW_PRICES.items():
        old = OLD_PRICES.get(key)
        conn.execute(
            sa.update(gpus)
            .where(
                gpus.c.key == key,
                gpus.c.price_per_hour_usd == price,
                gpus.c.price_source == source,
            )
            .values(price_per_hour_usd=old, price_source=OLD_SOURCE if old is not None else "")
        )
