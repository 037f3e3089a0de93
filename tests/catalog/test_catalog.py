from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.audit.models import AuditEvent
from app.estimators.architecture import Architecture, ArchitectureError
from app.estimators.reference_data import architecture_from_row, read_rows
from app.rules.matrix import suitability, suitability_table
from tests.factories import api_headers, create_user, csrf, page_login


def _rows() -> list[dict[str, str]]:
    return read_rows("models.csv")


# Weights the counting formula leaves out (architecture.py): QK-norm (Qwen3, Gemma 3, OLMo 2),
# q/k/v biases (Qwen2.5 and the R1 distills built on it), biases and attention sinks (gpt-oss),
# extra norms (Gemma 3). They are under 0.05 % of the total; every other row matches exactly.
UNCOUNTED_EXTRAS = (
    "qwen3_",
    "qwen2_5_",
    "gemma_3_",
    "olmo_2_",
    "gpt_oss_",
    "deepseek_r1_distill_qwen",
)


@pytest.mark.parametrize("row", [r for r in _rows() if r["total_params"]], ids=lambda r: r["key"])
def test_parameter_counts_match_published_totals(row: dict[str, str]) -> None:
    arch = architecture_from_row(row)
    if row["key"].startswith(UNCOUNTED_EXTRAS):
        assert arch.total_params == pytest.approx(int(row["total_params"]), rel=5e-4)
        assert arch.total_params <= int(row["total_params"])
    else:
        assert arch.total_params == int(row["total_params"])


def test_mixtral_active_params() -> None:
    mixtral = Architecture(
        n_layers=32,
        d_model=4096,
        d_ff=14336,
        n_heads=32,
        n_kv_heads=8,
        d_head=128,
        vocab=32000,
        n_experts=8,
        experts_per_token=2,
    )
    assert mixtral.active_params == 12_879_925_248
    assert mixtral.kv_bytes_per_token(2) == 128 * 1024


def test_architecture_rejects_inconsistent_fields() -> None:
    with pytest.raises(ArchitectureError) as e:
        Architecture(n_layers=2, d_model=64, d_ff=128, n_heads=6, n_kv_heads=4, d_head=16, vocab=10)
    assert e.value.field == "n_kv_heads"
    with pytest.raises(ArchitectureError):
        Architecture(n_layers=0, d_model=64, d_ff=128, n_heads=4, n_kv_heads=4, d_head=16, vocab=10)


def test_suitability_is_weighted_mean() -> None:
    levels = {"capability": 5, "cost": 1, "latency": 4, "governance": 3}
    assert suitability(levels, {"capability": 1, "cost": 0, "latency": 0, "governance": 0}) == 5
    assert suitability(levels, {"capability": 1, "cost": 1, "latency": 1, "governance": 1}) == 3.25
    with pytest.raises(ValueError, match="zero"):
        suitability(levels, {"capability": 0, "cost": 0, "latency": 0, "governance": 0})


def test_profiles_rank_axes_as_fig2_describes(client: TestClient, session: Session) -> None:
    """Startup favours cheap axes, enterprise low-burden ones, research high-capability ones."""
    h = api_headers(client, create_user(session).email)
    axes = {a["key"]: a for a in client.get("/api/v1/axes", headers=h).json()["items"]}
    s = {
        p: {k: a["suitability"][p] for k, a in axes.items()}
        for p in ("startup", "enterprise", "research")
    }
    assert s["startup"]["peft"] > s["startup"]["dense_pretraining"]
    assert s["enterprise"]["peft"] > s["enterprise"]["sparse_moe"]
    assert s["research"]["dense_pretraining"] > s["startup"]["dense_pretraining"]
    assert max(s["startup"], key=s["startup"].get) in {"peft", "serving_optimization"}


def test_catalog_api_contract(client: TestClient, session: Session) -> None:
    h = api_headers(client, create_user(session, role="viewer").email)
    axes = client.get("/api/v1/axes", headers=h).json()
    assert axes["matrix_version"] >= 1
    assert len(axes["items"]) == 9
    assert axes["items"][0]["ratings"]["cost"]["wording"].startswith("Very high")
    fms = client.get("/api/v1/failure-modes", headers=h).json()
    keys = {f["key"] for f in fms}
    assert {
        "factual_staleness",
        "policy_noncompliance",
        "domain_accuracy_gap",
        "complex_task_errors",
        "serving_cost",
        "cross_document_synthesis",
    } <= keys
    covered = {a for f in fms for a in f["axes"]}
    assert covered == {a["key"] for a in axes["items"]}, "every axis has a failure mode"
    gpus = {g["key"]: g for g in client.get("/api/v1/gpus", headers=h).json()}
    assert gpus["h100_sxm_80gb"]["bandwidth_tbps"] == 3.35
    # Every catalog GPU has a shipped default on-demand price with its offer, date and URL
    # (issue 18; gpu_prices.yaml, from the reference economics section 1.2)
    assert gpus["h100_sxm_80gb"]["price_per_hour_usd"] == 3.99
    assert gpus["l4"]["price_per_hour_usd"] == 0.68
    models = {m["key"]: m for m in client.get("/api/v1/models", headers=h).json()}
    assert models["llama_3_1_70b"]["total_params"] == 70_553_706_496
    assert models["bian_panda_1b"]["published_total_params"] is None
    techs = client.get("/api/v1/techniques", headers=h).json()
    assert {
        "rag",
        "graphrag",
        "dpo",
        "constitutional_ai",
        "qlora",
        "cot_self_consistency",
        "paged_attention",
        "speculative_decoding",
    } <= {t["key"] for t in techs}


def test_matrix_edit_creates_version_and_keeps_old(client: TestClient, session: Session) -> None:
    admin = create_user(session, role="admin")
    page_login(client, admin.email)
    form = client.get("/matrix/edit")
    assert form.status_code == 200
    data = {
        "csrftoken": csrf(client, "/matrix/edit"),
        "note": "retrieval got cheaper",
        "retrieval.cost.level": "5",
        "retrieval.cost.wording": "Very low — managed index",
    }
    preview = client.post("/matrix/edit", data=data)  # step 1: the preview (nothing saved)
    assert preview.status_code == 200, preview.text[:500]
    digest = preview.text.split('name="preview_of" value="', 1)[1].split('"', 1)[0]
    data |= {"action": "publish", "preview_of": digest}  # step 2: publish what was previewed
    r = client.post("/matrix/edit", data=data, follow_redirects=False)
    assert r.status_code == 303, r.text[:500]
    h = api_headers(client, admin.email)
    axes = client.get("/api/v1/axes", headers=h).json()
    assert axes["matrix_version"] == 2
    ret = next(a for a in axes["items"] if a["key"] == "retrieval")
    assert ret["ratings"]["cost"] == {"level": 5, "wording": "Very low — managed index"}
    old = client.get("/matrix?version=1")
    assert "Low — no retraining needed" in old.text
    ev = session.execute(
        select(AuditEvent).where(AuditEvent.action == "matrix.version.create")
    ).scalar_one()
    assert ev.after["retrieval.cost"] == [5, "Very low — managed index"]


def test_matrix_edit_inline_errors(client: TestClient, session: Session) -> None:
    admin = create_user(session, role="admin")
    page_login(client, admin.email)
    data = {
        "csrftoken": csrf(client, "/matrix/edit"),
        "retrieval.cost.level": "9",
        "retrieval.cost.wording": "whatever",
    }
    r = client.post("/matrix/edit", data=data)
    assert r.status_code == 422
    assert "must be 1-5" in r.text
    h = api_headers(client, admin.email)
    assert client.get("/api/v1/axes", headers=h).json()["matrix_version"] == 1


def test_gpu_price_edit(client: TestClient, session: Session) -> None:
    admin = create_user(session, role="admin")
    page_login(client, admin.email)
    r = client.post(
        "/catalog/gpus/l4/price", data={"csrftoken": csrf(client), "price_per_hour_usd": "abc"}
    )
    assert r.status_code == 422
    assert "enter a number" in r.text
    r = client.post(
        "/catalog/gpus/l4/price",
        data={"csrftoken": csrf(client), "price_per_hour_usd": "0.85", "kind": "reserved"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    gpus = {
        g["key"]: g
        for g in client.get("/api/v1/gpus", headers=api_headers(client, admin.email)).json()
    }
    assert gpus["l4"]["price_per_hour_usd"] == 0.85
    assert admin.email in gpus["l4"]["price_source"]


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/matrix",
        "/profiles",
        "/axes/retrieval",
        "/catalog/failure-modes",
        "/catalog/gpus",
        "/catalog/models",
        "/catalog/frameworks",
        "/deployments",
    ],
)
def test_pages_render_for_viewer(client: TestClient, session: Session, path: str) -> None:
    page_login(client, create_user(session, role="viewer").email)
    r = client.get(path)
    assert r.status_code == 200
    assert "Traceback" not in r.text


def test_unknown_axis_page_404(client: TestClient, session: Session) -> None:
    page_login(client, create_user(session).email)
    assert client.get("/axes/nope").status_code == 404


def test_suitability_table_shape() -> None:
    m = {"a": {"capability": 5, "cost": 5, "latency": 5, "governance": 5}}
    assert suitability_table(
        m, {"p": {"capability": 1, "cost": 1, "latency": 1, "governance": 1}}
    ) == {"p": {"a": 5.0}}
