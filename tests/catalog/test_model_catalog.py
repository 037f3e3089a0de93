"""The model catalog (issue 18): current open models with exact architectures, each with its
published quality figures in GET /api/v1/models; a re-seed brings them into an existing
database."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.catalog.models import ModelArch
from app.seed import load_reference_data
from tests.factories import api_headers, create_user, page_login

CURRENT = (
    "llama_3_1_8b",
    "llama_3_1_70b",
    "llama_3_1_405b",
    "llama_3_2_1b",
    "llama_3_2_3b",
    "llama_3_3_70b",
    "qwen3_4b",
    "qwen3_8b",
    "qwen3_14b",
    "qwen3_32b",
    "qwen3_30b_a3b",
    "qwen3_235b_a22b",
    "mistral_7b_v0_3",
    "mistral_small_3_24b",
    "mixtral_8x7b",
    "mixtral_8x22b",
    "gemma_3_4b",
    "gemma_3_12b",
    "gemma_3_27b",
    "phi_4",
    "deepseek_r1_distill_qwen_7b",
    "deepseek_r1_distill_qwen_32b",
    "deepseek_r1_distill_llama_8b",
    "deepseek_r1_distill_llama_70b",
    "gpt_oss_20b",
)


def test_models_api_returns_quality_with_sources(client: TestClient, session: Session) -> None:
    h = api_headers(client, create_user(session, role="viewer").email)
    r = client.get("/api/v1/models", headers=h)
    assert r.status_code == 200
    models = {m["key"]: m for m in r.json()}
    assert set(CURRENT) <= set(models)
    q = models["llama_3_1_8b"]["quality"]
    assert {"MMLU", "MMLU-Pro", "GPQA", "HumanEval", "MATH"} <= set(q)
    assert q["MMLU"]["value"] == 69.4
    assert q["MMLU"]["kind"] == "instruct"
    assert q["MMLU"]["source"].startswith("https://github.com/meta-llama/llama-models")
    for key in CURRENT:
        for bench, fig in models[key]["quality"].items():
            assert "https://" in fig["source"], (key, bench)
            assert isinstance(fig["value"], float)
    assert models["qwen3_235b_a22b"]["quality"]["MMLU-Pro"]["value"] == 68.18
    assert models["qwen3_235b_a22b"]["active_params"] < models["qwen3_235b_a22b"]["total_params"]
    # Gemma 3's head dimension is decoupled from d_model: KV from n_kv_heads x d_head
    g = models["gemma_3_27b"]
    assert g["kv_bytes_per_token_bf16"] == 2 * 62 * 16 * 128 * 2
    assert models["bian_panda_1b"]["quality"] == {}  # a research design: no published figures


def test_reseed_brings_new_models_and_figures_into_an_existing_database(session: Session) -> None:
    # a database seeded before the catalog grew: no Qwen3-14B, no figures on Llama-3.1-8B
    old = session.get(ModelArch, "qwen3_14b")
    assert old is not None
    session.delete(old)
    m = session.get(ModelArch, "llama_3_1_8b")
    assert m is not None
    m.quality = []
    session.flush()
    load_reference_data(session)
    session.flush()
    session.expire_all()
    assert session.get(ModelArch, "qwen3_14b") is not None
    m = session.get(ModelArch, "llama_3_1_8b")
    assert m is not None
    assert any(f["benchmark"] == "MMLU-Pro" for f in m.quality)


def test_models_page_shows_published_quality(client: TestClient, session: Session) -> None:
    user = create_user(session, role="viewer")
    page_login(client, user.email)
    page = client.get("/catalog/models").text
    assert "Qwen3-235B-A22B" in page
    assert 'MMLU-Pro 68.2 <span class="muted">(base)</span>' in page
    assert "no published figures in the catalog" in page  # the research designs


def test_recommendations_get_the_models_with_their_figures(session: Session) -> None:
    # the models the assessment and portfolio services hand to the estimators' pickers
    from app.assessments import service as assessments

    user = create_user(session, role="product_lead")
    models = dict(assessments.catalog(session, user.org_id).models)
    assert "qwen3_235b_a22b" in models
    assert "bian_panda_1b" not in models  # research designs are not offered
    assert any(f.benchmark == "MMLU-Pro" for f in models["llama_3_1_8b"].quality)
    assert models["llama_2_7b"].quality == ()
