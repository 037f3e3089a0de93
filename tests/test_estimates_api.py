from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.factories import api_headers, create_user

BASE = {"model": "llama_3_1_8b", "gpu": "h100_sxm_80gb", "input_tokens": 1000, "output_tokens": 200}


@pytest.fixture
def h(client: TestClient, session: Session) -> dict[str, str]:
    return api_headers(client, create_user(session, role="viewer").email)


def test_inference_contract(client: TestClient, h: dict[str, str]) -> None:
    r = client.post("/api/v1/estimates/inference", json={**BASE, "batch_size": 8}, headers=h)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body["memory"]) >= {
        "weights_gb",
        "kv_cache_gb",
        "activations_gb",
        "overhead_gb",
        "total_gb",
        "capacity_gb",
        "fits",
        "max_batch_size",
        "kv_cache_capacity_tokens",
    }
    assert body["prefill"]["bound"] in ("compute", "memory")
    assert body["decode"]["time_per_token_ms"] == pytest.approx(body["tpot_ms"])
    assert body["best_case"]["tpot_ms"] <= body["tpot_ms"]
    assert body["cost_per_million_output_tokens_usd"] > 0
    assert body["assumptions"]["engine"] == "vllm"


def test_does_not_fit_is_200_with_reason(client: TestClient, h: dict[str, str]) -> None:
    r = client.post(
        "/api/v1/estimates/inference", json={**BASE, "model": "llama_3_1_70b"}, headers=h
    )
    assert r.status_code == 200
    assert r.json()["memory"]["fits"] is False
    assert r.json()["memory"]["reason"]


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"model": "gpt-9"}, "model"),
        ({"gpu": "tpu"}, "gpu"),
        ({"gpu": "a100_sxm_80gb", "precision": "fp8"}, "precision"),
        ({"input_tokens": 0}, "input_tokens"),
        ({"engine": "warp-drive"}, "engine"),
        ({"precision": "fp3"}, "precision"),
        ({"speculative": {"alpha": 1.0, "gamma": 4, "c": 0.05}}, "speculative"),
        (
            {
                "model": {
                    "n_layers": 2,
                    "d_model": 64,
                    "d_ff": 128,
                    "n_heads": 6,
                    "n_kv_heads": 4,
                    "d_head": 16,
                    "vocab": 100,
                }
            },
            "model.n_kv_heads",
        ),
    ],
)
def test_bad_inputs_are_422_naming_field(
    client: TestClient, h: dict[str, str], patch: dict[str, object], field: str
) -> None:
    r = client.post("/api/v1/estimates/inference", json={**BASE, **patch}, headers=h)
    assert r.status_code == 422, r.text
    detail = r.json()
    text = str(detail)
    assert field.split(".")[0] in text


def test_custom_architecture_and_gpu_objects(client: TestClient, h: dict[str, str]) -> None:
    arch = {
        "n_layers": 32,
        "d_model": 4096,
        "d_ff": 14336,
        "n_heads": 32,
        "n_kv_heads": 8,
        "d_head": 128,
        "vocab": 128256,
        "tied_embeddings": False,
        "n_experts": 1,
        "experts_per_token": 1,
    }
    gpu = {
        "memory_gb": 80,
        "usable_memory_gib": 80,
        "bandwidth_tbps": 3.35,
        "bf16_tflops_dense": 989.4,
        "price_per_hour_usd": 2.0,
    }
    by_key = client.post("/api/v1/estimates/inference", json=BASE, headers=h).json()
    by_obj = client.post(
        "/api/v1/estimates/inference", json={**BASE, "model": arch, "gpu": gpu}, headers=h
    ).json()
    assert by_obj["tpot_ms"] == pytest.approx(by_key["tpot_ms"], rel=1e-6)


def test_speculative_changes_tpot(client: TestClient, h: dict[str, str]) -> None:
    base = client.post("/api/v1/estimates/inference", json=BASE, headers=h).json()
    spec = client.post(
        "/api/v1/estimates/inference",
        json={**BASE, "speculative": {"alpha": 0.8, "gamma": 5, "c": 0.05}},
        headers=h,
    ).json()
    assert base["tpot_ms"] / spec["tpot_ms"] == pytest.approx(2.951, abs=0.001)


def test_parse_hf_config(client: TestClient, h: dict[str, str]) -> None:
    cfg = {
        "model_type": "mistral",
        "num_hidden_layers": 32,
        "hidden_size": 4096,
        "intermediate_size": 14336,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "vocab_size": 32000,
        "sliding_window": 4096,
    }
    r = client.post("/api/v1/models/parse-hf-config", json={"config": cfg}, headers=h)
    assert r.status_code == 200
    assert r.json()["notes"]
    assert r.json()["architecture"]["n_kv_heads"] == 8
    bad = client.post(
        "/api/v1/models/parse-hf-config", json={"config": {"model_type": "t5"}}, headers=h
    )
    assert bad.status_code == 422
    assert bad.json()["field"] == "config.model_type"
