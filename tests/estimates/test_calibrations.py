"""Calibrations as jobs: torch on this machine (CPU here), vLLM benchmark import, and their use by
the estimates. Jobs run inline in these tests (the request's session); the Celery path has its own
test against the local Redis (test_jobs_celery.py)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.estimators.engines import engine
from app.estimators.inference import ServingConfig, StepModel
from app.estimators.reference_data import catalog_architecture, catalog_gpu
from app.estimators.simulation import simulate_load
from app.jobs import service as jobs
from tests.factories import api_headers, create_user

TINY_RUN = {
    "model": "llama_3_2_1b",
    "gpu": "h100_sxm_80gb",
    "engine": "hf-transformers",
    "prefill_points": [[1, 64], [1, 128]],
    "decode_points": [[1, 64], [2, 64]],
    "max_layers": 2,
    "matmul_n": 128,
    "copy_gib": 0.01,
    "warmup": 2,
    "iters": 5,
}


@pytest.fixture
def admin(client: TestClient, session: Session) -> dict[str, str]:
    return api_headers(client, create_user(session, role="admin").email)


def _bench_json(decode_eff: float, prefill_eff: float) -> dict[str, object]:
    """What `vllm bench serve` would report for Llama-3.1-8B on an H100 with these efficiencies."""
    arch, gpu = catalog_architecture("llama_3_1_8b"), catalog_gpu("h100_sxm_80gb")
    eng = engine("vllm").with_overrides(
        decode_efficiency=decode_eff, prefill_efficiency=prefill_eff
    )
    r = simulate_load(
        StepModel.build(arch, gpu, eng, ServingConfig()),
        request_rate=4.0,
        input_tokens=1000,
        output_tokens=200,
        max_seqs=256,
        max_batched_tokens=8192,
        n_requests=300,
    )
    return {
        "model_id": "meta-llama/Llama-3.1-8B",
        "request_rate": 4.0,
        "completed": 300,
        "total_input_tokens": 300_000,
        "total_output_tokens": 60_000,
        "median_ttft_ms": r.ttft_ms[50],
        "median_tpot_ms": r.tpot_ms[50],
        "output_throughput": r.output_tokens_per_s,
    }


@pytest.mark.slow
@pytest.mark.usefixtures("inline_jobs")
def test_torch_calibration_job_runs_and_is_listed(
    client: TestClient, admin: dict[str, str]
) -> None:
    r = client.post("/api/v1/calibrations", json=TINY_RUN, headers=admin)
    assert r.status_code == 202, r.text
    job = client.get(f"/api/v1/jobs/{r.json()['id']}", headers=admin).json()
    assert job["status"] == "succeeded", job
    assert job["progress"] == 100
    cals = client.get("/api/v1/calibrations", headers=admin).json()
    assert len(cals) == 1
    cal = cals[0]
    assert cal["id"] == job["result"]["calibration_id"]
    assert cal["source"] == "torch"
    assert cal["device"] == "cpu"
    assert cal["torch_version"]
    assert cal["matmul_tflops"] > 0
    assert cal["bandwidth_tbps"] > 0
    assert 0 < cal["decode_efficiency"] < 1  # a CPU is far below an H100's bound


@pytest.mark.usefixtures("inline_jobs")
def test_vllm_import_recovers_the_efficiencies_and_estimates_use_them(
    client: TestClient, admin: dict[str, str]
) -> None:
    body = {"model": "llama_3_1_8b", "gpu": "h100_sxm_80gb", "bench": _bench_json(0.6, 0.35)}
    r = client.post("/api/v1/calibrations/vllm-import", json=body, headers=admin)
    assert r.status_code == 202, r.text
    job = client.get(f"/api/v1/jobs/{r.json()['id']}", headers=admin).json()
    assert job["status"] == "succeeded", job
    assert job["result"]["decode_efficiency"] == pytest.approx(0.6, abs=0.02)
    assert job["result"]["prefill_efficiency"] == pytest.approx(0.35, abs=0.03)

    est = client.post(
        "/api/v1/estimates/inference",
        json={
            "model": "llama_3_1_8b",
            "gpu": "h100_sxm_80gb",
            "engine": "vllm",
            "input_tokens": 1000,
            "output_tokens": 200,
        },
        headers=admin,
    ).json()
    cal = est["assumptions"]["calibration"]
    assert cal["source"] == "vllm-bench"
    assert est["assumptions"]["decode_efficiency"] == pytest.approx(0.6, abs=0.02)
    other = client.post(
        "/api/v1/estimates/inference",
        json={
            "model": "llama_3_1_8b",
            "gpu": "a100_sxm_80gb",
            "engine": "vllm",
            "input_tokens": 1000,
            "output_tokens": 200,
        },
        headers=admin,
    ).json()
    assert other["assumptions"]["calibration"] is None


@pytest.mark.usefixtures("inline_jobs")
def test_a_failing_job_is_marked_failed_with_its_reason(
    client: TestClient, admin: dict[str, str]
) -> None:
    bench = {**_bench_json(0.6, 0.35), "total_input_tokens": 300_000_000}  # 1M-token prompts
    body = {"model": "llama_3_1_8b", "gpu": "rtx_4090", "bench": bench}
    job_id = client.post("/api/v1/calibrations/vllm-import", json=body, headers=admin).json()["id"]
    job = client.get(f"/api/v1/jobs/{job_id}", headers=admin).json()
    assert job["status"] == "failed"
    assert "does not fit" in job["error"]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/v1/calibrations", {**TINY_RUN, "model": "gpt-9"}, "model"),
        (
            "/api/v1/calibrations",
            {**TINY_RUN, "prefill_points": [[0, 16], [1, 16]]},
            "prefill_points",
        ),
        ("/api/v1/calibrations", {**TINY_RUN, "engine": "warp"}, "engine"),
        (
            "/api/v1/calibrations/vllm-import",
            {"model": "llama_3_1_8b", "gpu": "h100_sxm_80gb", "bench": {"completed": 3}},
            "bench",
        ),
        (
            "/api/v1/calibrations/vllm-import",
            {
                "model": "llama_3_1_8b",
                "gpu": "h100_sxm_80gb",
                "bench": {
                    "completed": 3,
                    "total_input_tokens": "x",
                    "total_output_tokens": 1,
                    "median_ttft_ms": 1,
                    "median_tpot_ms": 1,
                },
            },
            "bench",
        ),
    ],
)
def test_bad_calibration_input_is_422_and_starts_nothing(  # type: ignore[no-untyped-def]
    client: TestClient, admin: dict[str, str], path, body, field
) -> None:
    r = client.post(path, json=body, headers=admin)
    assert r.status_code == 422, r.text
    assert field in r.text
    assert client.get("/api/v1/calibrations", headers=admin).json() == []


@pytest.mark.parametrize("role", ["architect", "viewer", "governance", "product_lead"])
def test_only_admins_calibrate(client: TestClient, session: Session, role: str) -> None:
    h = api_headers(client, create_user(session, role=role).email)
    assert client.post("/api/v1/calibrations", json=TINY_RUN, headers=h).status_code == 403


def test_jobs_of_another_org_are_not_found(
    client: TestClient, session: Session, admin: dict[str, str]
) -> None:
    other = create_user(session, org="Other", role="admin")
    job = jobs.create(
        session, org_id=other.org_id, kind="calibration", params={}, created_by=other.email
    )
    session.commit()
    assert client.get(f"/api/v1/jobs/{job.id}", headers=admin).status_code == 404


def test_the_gpu_comparison_uses_each_gpus_newest_calibration(
    client: TestClient, session: Session
) -> None:
    """compare-GPUs looks up every GPU's calibration in one query; each row must equal the single
    estimate for that GPU (which looks it up on its own): the newest calibration of this
    organisation and engine, not another engine's, not another organisation's."""
    from app.estimates.calibrations import latest_per_gpu
    from app.estimates.models import Calibration

    user = create_user(session, role="architect")
    other = create_user(session, org="Elsewhere", role="admin")

    def cal(org_id: int, gpu: str, eng: str, decode: float) -> Calibration:
        c = Calibration(
            org_id=org_id,
            gpu_key=gpu,
            engine=eng,
            source="vllm-bench",
            device="test",
            prefill_efficiency=0.3,
            decode_efficiency=decode,
            details={},
            created_by="t@example.test",
        )
        session.add(c)
        session.flush()
        return c

    cal(user.org_id, "h100_sxm_80gb", "vllm", 0.9)  # superseded by the next
    newest_h100 = cal(user.org_id, "h100_sxm_80gb", "vllm", 0.5)
    cal(user.org_id, "a100_sxm_80gb", "sglang", 0.3)  # another engine
    cal(other.org_id, "l40s", "vllm", 0.2)  # another organisation
    newest_l4 = cal(user.org_id, "l4", "vllm", 0.7)
    assert latest_per_gpu(session, user.org_id, "vllm") == {
        "h100_sxm_80gb": newest_h100,
        "l4": newest_l4,
    }

    headers = api_headers(client, user.email)
    body = {
        "model": "llama_3_1_8b",
        "engine": "vllm",
        "input_tokens": 1000,
        "output_tokens": 200,
        "batch_size": 8,
    }
    r = client.post("/api/v1/estimates/inference/compare-gpus", json=body, headers=headers)
    assert r.status_code == 200, r.text
    options = {o["gpu"]: o for o in r.json()["options"]}
    for gpu in ("h100_sxm_80gb", "a100_sxm_80gb", "l40s", "l4"):
        one = client.post(
            "/api/v1/estimates/inference", json={**body, "gpu": gpu}, headers=headers
        ).json()
        assert options[gpu]["tpot_ms"] == pytest.approx(one["tpot_ms"], rel=1e-12), gpu
    h100 = client.post(
        "/api/v1/estimates/inference", json={**body, "gpu": "h100_sxm_80gb"}, headers=headers
    ).json()
    assert h100["assumptions"]["decode_efficiency"] == pytest.approx(0.5)
