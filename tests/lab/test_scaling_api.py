"""Scaling-lab API: contract names, published figures through HTTP, 422s naming the field."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.estimators.chinchilla import FITS
from app.scaling.conditional import PUBLISHED, synthetic_runs
from app.scaling.fitting import synthetic_runs as chinchilla_runs
from tests.factories import api_headers, create_user

API = "/api/v1/scaling"


@pytest.fixture
def h(client: TestClient, session: Session) -> dict[str, str]:
    return api_headers(client, create_user(session, role="viewer").email)


def test_chinchilla_contract(client: TestClient, h: dict[str, str]) -> None:
    r = client.post(
        f"{API}/chinchilla", json={"compute_flops": 1e23, "fit": "hoffmann_tex"}, headers=h
    )
    assert r.status_code == 200, r.text
    b = r.json()
    assert 6 * b["optimal_params"] * b["optimal_tokens"] == pytest.approx(1e23)
    assert b["tokens_per_param"] == pytest.approx(b["optimal_tokens"] / b["optimal_params"])
    assert b["loss"] > FITS["hoffmann_tex"].E
    assert {o["fit"] for o in b["by_fit"]} == set(FITS)


def test_chinchilla_from_hardware_and_position(client: TestClient, h: dict[str, str]) -> None:
    r = client.post(
        f"{API}/chinchilla",
        json={"hardware": {"gpu": "h100_sxm_80gb", "n_gpus": 1024, "days": 30, "mfu": 0.4}},
        headers=h,
    )
    assert r.status_code == 200, r.text
    assert r.json()["compute_flops"] == pytest.approx(989.4e12 * 1024 * 30 * 86400 * 0.4, rel=0.01)
    r = client.post(f"{API}/chinchilla", json={"params": 175e9, "tokens": 3e11}, headers=h)  # GPT-3
    assert r.json()["position"]["verdict"].startswith("undertrained")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"compute_flops": -5}, "compute_flops"),
        ({}, "body"),
        ({"compute_flops": 1e23, "fit": "kaplan"}, "fit"),
        ({"params": 7e9}, "body"),
        ({"compute_flops": 1e23, "extra": 1}, "extra"),
        (
            {"hardware": {"gpu": "a100_sxm_80gb", "n_gpus": 8, "days": 3, "precision": "fp8"}},
            "hardware.precision",
        ),
    ],
)
def test_chinchilla_bad_input_is_422(
    client: TestClient, h: dict[str, str], body: dict[str, object], field: str
) -> None:
    r = client.post(f"{API}/chinchilla", json=body, headers=h)
    assert r.status_code == 422, r.text
    assert field in r.text


def test_inference_aware_contract_reproduces_sardana(client: TestClient, h: dict[str, str]) -> None:
    r = client.post(
        f"{API}/inference-aware",
        json={"target_loss": 1.947, "inference_tokens": 2e12, "fit": "sardana_code"},
        headers=h,
    )
    assert r.status_code == 200, r.text
    b = r.json()
    assert b["params"] == pytest.approx(2.418e10, rel=1e-3)
    assert b["training_tokens"] == pytest.approx(2.657e12, rel=1e-3)
    assert b["total_flops"] / b["chinchilla_total_flops"] == pytest.approx(0.9522, abs=1e-4)
    assert b["chinchilla_params"] > b["params"]
    assert b["chinchilla_tokens"] < b["training_tokens"]


def test_inference_aware_in_dollars(client: TestClient, h: dict[str, str]) -> None:
    r = client.post(
        f"{API}/inference-aware",
        json={
            "target_loss": 1.947,
            "requests": 1e10,
            "input_tokens_per_request": 1000,
            "output_tokens_per_request": 250,
            "fit": "sardana_code",
            "cost": {
                "train_gpu": "a100_sxm_80gb",
                "train_price_per_hour_usd": 1.40,
                "inference_gpu": "a100_sxm_80gb",
                "inference_price_per_hour_usd": 0.60,
                "inference_precision": "int8",
            },
        },
        headers=h,
    )
    assert r.status_code == 200, r.text
    b = r.json()
    assert b["objective"] == "cost"
    assert b["cost_usd"] < b["chinchilla_cost_usd"]
    assert b["params"] < b["chinchilla_params"]
    assert b["assumptions"]["decode_mfu"] == 0.2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"target_loss": 1.5, "inference_tokens": 1e12}, "target_loss"),  # below E = 1.69
        ({"target_loss": 2.0}, "body"),
        ({"target_loss": 2.0, "inference_tokens": -1}, "inference_tokens"),
    ],
)
def test_inference_aware_bad_input_is_422(
    client: TestClient, h: dict[str, str], body: dict[str, object], field: str
) -> None:
    r = client.post(f"{API}/inference-aware", json=body, headers=h)
    assert r.status_code == 422, r.text
    assert field in r.text


def test_fit_own_runs(client: TestClient, h: dict[str, str]) -> None:
    f = FITS["epoch_2024"]
    n, d, loss = chinchilla_runs(f.E, f.A, f.B, f.alpha, f.beta, n_runs=60, noise=0.003)
    runs = [{"params": a, "tokens": b, "loss": c} for a, b, c in zip(n, d, loss, strict=True)]
    r = client.post(f"{API}/chinchilla/fit", json={"runs": runs, "bootstrap": 5}, headers=h)
    assert r.status_code == 200, r.text  # up to 5 resamples: answered inline
    b = r.json()
    assert b["converged"] is True
    assert b["params"]["alpha"] == pytest.approx(f.alpha, abs=0.05)
    assert set(b["intervals"]) == {"E", "A", "B", "alpha", "beta"}
    assert len(b["predicted"]) == 60
    r = client.post(f"{API}/chinchilla/fit", json={"runs": runs[:3]}, headers=h)
    assert r.status_code == 422
    assert "too few" in r.text


def test_conditional_law_fit_contract(client: TestClient, h: dict[str, str]) -> None:
    runs = synthetic_runs(
        PUBLISHED["bian_task3"], [(8e7, 3.6), (1.45e8, 3.4), (2.97e8, 3.2)], per_scale=20
    )
    body = [
        {
            "n_non_embed": n,
            "d_model": round(x * n**0.5),
            "r": r,
            "loss": loss,
            "reference_loss": ref,
        }
        for n, x, r, loss, ref in zip(
            runs.n_non_embed, runs.x, runs.r, runs.loss, runs.reference_loss, strict=True
        )
    ]
    resp = client.post(f"{API}/conditional-law/fit", json={"runs": body}, headers=h)
    assert resp.status_code == 200, resp.text
    b = resp.json()
    assert set(b["coefficients"]) == {"a0", "a1", "a2", "b0", "b1", "b2"}
    assert b["optimum"]["x"] == pytest.approx(0.080, rel=0.1)
    assert b["optimum"]["r"] == pytest.approx(1.03, rel=0.2)
    assert b["spearman"] > 0.9
    assert [s["test_scale"] for s in b["progressive"]] == ["145M", "297M"]
    bad = client.post(f"{API}/conditional-law/fit", json={"runs": body[:4]}, headers=h)
    assert bad.status_code == 422
    assert "too few" in bad.text
    same_r = [{**run, "r": 2.0} for run in body]
    bad = client.post(f"{API}/conditional-law/fit", json={"runs": same_r}, headers=h)
    assert bad.status_code == 422
    assert "singular" in bad.text


def test_conditional_fit_with_architectures(client: TestClient, h: dict[str, str]) -> None:
    arch = {
        "n_layers": 16,
        "d_model": 2048,
        "d_ff": 8192,
        "n_heads": 32,
        "n_kv_heads": 8,
        "d_head": 64,
        "vocab": 128256,
        "tied_embeddings": True,
    }
    runs = [
        {"architecture": {**arch, "d_ff": f}, "loss": 2.8 + 0.001 * i}
        for i, f in enumerate(range(2048, 10240, 1024))
    ]
    r = client.post(f"{API}/conditional-law/fit", json={"runs": runs}, headers=h)
    assert r.status_code == 422  # no tokens and no reference_loss
    assert "runs.0.reference_loss" in r.text


def test_architecture_lab(client: TestClient, h: dict[str, str]) -> None:
    r = client.post(f"{API}/architecture", json={"model": "bian_surefire_1b"}, headers=h)
    assert r.status_code == 200, r.text
    b = r.json()
    assert b["x"] == pytest.approx(0.082, abs=5e-4)
    assert b["r"] == pytest.approx(3.6, abs=5e-3)
    assert b["gqa"] == 9
    assert b["kv_bytes_per_token"] == 16 * 1024
    assert b["throughput"] > 0
    base = client.post(f"{API}/architecture", json={"model": "llama_3_2_1b"}, headers=h).json()
    assert b["throughput"] > base["throughput"]  # GQA 9: half the KV traffic
    # a width the heads do not tile (review: d_model 65 made 1,008 heads) is refused, naming it
    for hold in (True, False):
        off = {"model": "llama_3_2_1b", "d_model": 65, "hold_params": hold}
        bad = client.post(f"{API}/architecture", json=off, headers=h)
        assert bad.status_code == 422, bad.text
        assert bad.json()["field"] == "d_model"
        assert "multiple of the head size d_head = 64" in bad.json()["detail"]
    # at the model's budget (default): d_model and r set the heads and d_ff, N stays put
    body = {"model": "llama_3_2_1b", "d_model": 2560, "r": 1.0, "gqa": 8}
    moved = client.post(f"{API}/architecture", json=body, headers=h).json()
    assert moved["architecture"]["d_model"] == 2560
    assert moved["r"] == pytest.approx(1.0, abs=0.1)  # heads round to a multiple of the GQA
    assert moved["gqa"] == 8
    assert moved["n_non_embed"] == pytest.approx(base["n_non_embed"], rel=0.01)
    assert moved["loss_multiplier"] < base["loss_multiplier"]  # nearer the law's optimum
    # one field at a time: GQA must divide the model's heads
    free = {"model": "llama_3_2_1b", "hold_params": False}
    r = client.post(f"{API}/architecture", json={**free, "r": 1.0, "gqa": 8}, headers=h).json()
    assert r["architecture"]["n_heads"] == 32
    assert r["r"] == pytest.approx(1.0, abs=0.01)
    bad = client.post(f"{API}/architecture", json={**free, "gqa": 5}, headers=h)
    assert bad.status_code == 422
    assert "gqa" in bad.text
    bad = client.post(
        f"{API}/architecture", json={"model": "llama_3_2_1b", "d_model": 120000}, headers=h
    )
    assert bad.status_code == 422
    assert "d_model" in bad.text


def test_architecture_search_contract(client: TestClient, h: dict[str, str]) -> None:
    body = {
        "n_non_embed": 973146112,
        "n_layers": 16,
        "d_head": 64,
        "training_tokens": 9.73e10,
        "coefficients": "bian_task3",
        "baseline": "llama_3_2_1b",
        "workload": {
            "gpu": "a100_sxm_80gb",
            "engine": "vllm",
            "input_tokens": 4096,
            "output_tokens": 1024,
        },
    }
    r = client.post(f"{API}/architecture-search", json=body, headers=h)
    assert r.status_code == 200, r.text
    b = r.json()
    keys = {
        "d_model",
        "d_ff",
        "n_heads",
        "n_kv_heads",
        "x",
        "r",
        "gqa",
        "loss_multiplier",
        "predicted_throughput",
    }
    for design in (b["loss_optimal"], b["throughput_optimal"], *b["pareto"]):
        assert keys <= set(design)
    assert b["candidates_evaluated"] > 50_000
    assert b["throughput_optimal"]["predicted_throughput"] > (b["baseline"]["predicted_throughput"])
    assert b["loss_target"] == pytest.approx(b["baseline"]["predicted_loss"])
    bad = client.post(f"{API}/architecture-search", json={**body, "n_non_embed": -1}, headers=h)
    assert bad.status_code == 422
    no_target = {k: v for k, v in body.items() if k != "baseline"}
    bad = client.post(f"{API}/architecture-search", json=no_target, headers=h)
    assert bad.status_code == 422
    assert "loss_target" in bad.text
    low = client.post(f"{API}/architecture-search", json={**body, "loss_target": 1.0}, headers=h)
    assert low.status_code == 422
    assert "L_opt" in low.text


def test_scaling_api_needs_authentication(client: TestClient) -> None:
    assert client.post(f"{API}/chinchilla", json={"compute_flops": 1e23}).status_code == 401


TINY = {
    "n_layers": 4,
    "d_model": 256,
    "d_ff": 768,
    "n_heads": 8,
    "n_kv_heads": 4,
    "d_head": 32,
    "vocab": 1000,
    "tied_embeddings": True,
}


@pytest.mark.slow
@pytest.mark.usefixtures("inline_jobs")
def test_measure_shortlist_job_times_each_design(
    client: TestClient, session: Session, h: dict[str, str]
) -> None:
    arch_h = api_headers(client, create_user(session, role="architect").email)
    body = {
        "designs": [
            {"label": "baseline", "architecture": TINY},
            {"label": "gqa 8", "architecture": {**TINY, "n_kv_heads": 1}},
        ],
        "gpu": "a100_sxm_80gb",
        "batch": 4,
        "context": 256,
    }
    r = client.post(f"{API}/architecture-search/measure", json=body, headers=arch_h)
    assert r.status_code == 202, r.text
    job = client.get(f"/api/v1/jobs/{r.json()['id']}", headers=arch_h).json()
    assert job["status"] == "succeeded", job
    rows = job["result"]["designs"]
    assert [d["label"] for d in rows] == ["baseline", "gqa 8"]
    assert rows[0]["measured_speedup"] == pytest.approx(1.0)
    assert rows[0]["predicted_speedup"] == pytest.approx(1.0)
    assert rows[1]["predicted_speedup"] > 1  # a quarter of the KV traffic
    assert all(d["measured_step_ms"] > 0 for d in rows)
    assert job["result"]["device"]
    # signing in is required; a broken architecture is a 422 naming it
    assert client.post(f"{API}/architecture-search/measure", json=body).status_code == 401
    bad = {**body, "designs": [{"label": "x", "architecture": {**TINY, "n_kv_heads": 3}}]}
    r = client.post(f"{API}/architecture-search/measure", json=bad, headers=arch_h)
    assert r.status_code == 422
    assert "designs.0.architecture.n_kv_heads" in r.text
