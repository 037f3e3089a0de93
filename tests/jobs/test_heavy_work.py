"""Heavy work (issue 17, item 3): fits over the inline limit, large PDF reports and torch
measurements run as jobs with progress; caps are checked before work starts (422 naming the
field and the limit); torch needs the architect or admin role; one heavy job per user."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pypdf
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.audit import signing
from app.config import Settings
from app.estimators.calibration import calibration_memory_bytes, decode_memory_bytes
from app.estimators.reference_data import catalog_architecture
from app.governance import export as signed_export
from app.jobs import limits
from app.jobs import service as jobs
from app.jobs.models import Job
from app.scaling import conditional, fitting
from app.scaling.fitting import synthetic_runs as chinchilla_runs
from tests.factories import api_headers, create_deployment, create_user, csrf_from, page_login

API = "/api/v1/scaling"
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
MEASURE = {
    "designs": [{"label": "tiny", "architecture": TINY}],
    "gpu": "a100_sxm_80gb",
    "batch": 2,
    "context": 64,
}


def _runs(n: int = 40) -> list[dict[str, float]]:
    n_, d, loss = chinchilla_runs(1.8, 400.0, 400.0, 0.34, 0.28, n_runs=n, noise=0.003)
    return [{"params": a, "tokens": b, "loss": c} for a, b, c in zip(n_, d, loss, strict=True)]


@pytest.fixture
def queued(asgi: Any) -> Iterator[list[int]]:
    """Jobs are created and handed to a runner that keeps them queued (nothing runs)."""
    started: list[int] = []
    asgi.fastapi_app.state.job_runner = started.append
    yield started
    asgi.fastapi_app.state.job_runner = None


@pytest.fixture
def small_torch_limit(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> float:
    monkeypatch.setattr(settings, "torch_memory_gib", 1.0)
    return 1.0


# ---- where work runs: the thresholds and caps ----------------------------------------------
def test_fit_thresholds_follow_the_measured_costs() -> None:
    assert not limits.chinchilla_fit(1000, limits.INLINE_MAX_BOOTSTRAP).as_job
    assert limits.chinchilla_fit(47, limits.INLINE_MAX_BOOTSTRAP + 1).as_job
    inline = limits.chinchilla_fit(47, limits.INLINE_MAX_BOOTSTRAP)
    assert inline.cpu_s == pytest.approx(2.6 + 5 * 0.12)
    assert inline.cpu_s < 3.5  # an inline request stays within ~3 CPU seconds
    # the cap: 1,000 resamples ≈ 2 minutes in a job
    assert limits.chinchilla_fit(100, limits.MAX_BOOTSTRAP).cpu_s == pytest.approx(122.6)
    assert not limits.conditional_fit(5000, 12).as_job  # 65,000 units: 0.09 s
    assert limits.conditional_fit(5000, 4999).as_job  # the issue-sized progressive check
    assert limits.conditional_fit(5000, 4999).cpu_s == pytest.approx(35, rel=0.01)
    assert not limits.pdf_report(limits.INLINE_MAX_REPORT_RESULTS).as_job
    assert limits.pdf_report(limits.INLINE_MAX_REPORT_RESULTS + 1).as_job
    assert limits.pdf_report(5000).cpu_s == pytest.approx(1.8 + 5000 * 0.0043)


def test_torch_memory_limit_is_the_setting_or_a_quarter_of_ram() -> None:
    assert limits.torch_memory_limit_bytes(2.0) == 2 * 2**30
    ram = limits.physical_memory_bytes()
    assert ram is not None
    assert ram > 0
    assert limits.torch_memory_limit_bytes(None) == max(ram // 4, 2**30)


def test_memory_estimates_grow_with_each_shape_field() -> None:
    a = catalog_architecture("llama_3_2_1b")
    base = decode_memory_bytes([a], batch=8, context=1024, max_layers=2)
    # measured on CPU (bench/jobs_capacity.py): 2,529 MiB of resident memory
    assert base / 2**20 == pytest.approx(2538, rel=0.02)
    assert decode_memory_bytes([a], batch=64, context=1024, max_layers=2) > base
    assert decode_memory_bytes([a], batch=8, context=8192, max_layers=2) > base
    assert decode_memory_bytes([a], batch=8, context=1024, max_layers=4) > base
    cal = {
        "prefill_points": [(1, 512)],
        "decode_points": [(1, 512)],
        "matmul_n": 1024,
        "copy_gib": 0.25,
    }
    one = calibration_memory_bytes(a, max_layers=1, **cal)  # type: ignore[arg-type]
    assert calibration_memory_bytes(a, max_layers=None, **cal) > one  # type: ignore[arg-type]


def test_bootstrap_cap_is_checked_before_any_work(client: TestClient, session: Session) -> None:
    h = api_headers(client, create_user(session, role="viewer").email)
    body = {"runs": _runs(101), "bootstrap": 1000}
    r = client.post(f"{API}/chinchilla/fit", json=body, headers=h)
    assert r.status_code == 422
    assert "100,000" in r.text
    assert "bootstrap" in r.text
    assert session.query(Job).count() == 0


# ---- progress ------------------------------------------------------------------------------
@pytest.mark.slow
def test_fits_report_progress_through_their_resamples_and_stages() -> None:
    seen: list[tuple[int, str]] = []
    runs = _runs()
    fitting.fit_chinchilla(
        [r["params"] for r in runs],
        [r["tokens"] for r in runs],
        [r["loss"] for r in runs],
        bootstrap=4,
        progress=lambda p, m: seen.append((p, m)),
    )
    assert [m for _, m in seen][-1] == "bootstrap resample 4 of 4"
    assert [p for p, _ in seen] == sorted(p for p, _ in seen)
    seen.clear()
    c = conditional.synthetic_runs(
        conditional.PUBLISHED["bian_task3"],
        [(8e7, 3.6), (1.45e8, 3.4), (2.97e8, 3.2)],
        per_scale=10,
    )
    conditional.progressive(c, progress=lambda p, m: seen.append((p, m)))
    assert [m for _, m in seen] == [
        "progressive check: stage 1 of 2",
        "progressive check: stage 2 of 2",
    ]


# ---- fits as jobs through the API ----------------------------------------------------------
@pytest.mark.slow
@pytest.mark.usefixtures("inline_jobs")
def test_fit_over_the_inline_limit_is_a_job_with_the_same_result(
    client: TestClient, session: Session
) -> None:
    h = api_headers(client, create_user(session, role="viewer").email)
    runs = _runs()
    inline = client.post(f"{API}/chinchilla/fit", json={"runs": runs, "bootstrap": 5}, headers=h)
    assert inline.status_code == 200
    r = client.post(f"{API}/chinchilla/fit", json={"runs": runs, "bootstrap": 6}, headers=h)
    assert r.status_code == 202, r.text
    assert r.headers["location"] == f"/api/v1/jobs/{r.json()['id']}"
    assert r.json()["kind"] == "chinchilla_fit"
    job = client.get(r.headers["location"], headers=h).json()
    assert job["status"] == "succeeded", job
    assert (job["progress"], job["message"]) == (100, "done")
    assert job["result"]["bootstrap_samples"] == 6
    assert job["result"]["params"] == pytest.approx(inline.json()["params"])


@pytest.mark.usefixtures("inline_jobs")
def test_conditional_fit_over_the_inline_limit_is_a_job(
    client: TestClient, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = api_headers(client, create_user(session, role="viewer").email)
    c = conditional.synthetic_runs(
        conditional.PUBLISHED["bian_task3"],
        [(8e7, 3.6), (1.45e8, 3.4), (2.97e8, 3.2)],
        per_scale=20,
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
            c.n_non_embed, c.x, c.r, c.loss, c.reference_loss, strict=True
        )
    ]
    # 60 runs in 3 scales: 240 units; with the inline limit below that it is a job
    monkeypatch.setattr(limits, "INLINE_MAX_CONDITIONAL_WORK", 239)
    r = client.post(f"{API}/conditional-law/fit", json={"runs": body}, headers=h)
    assert r.status_code == 202, r.text
    job = client.get(f"/api/v1/jobs/{r.json()['id']}", headers=h).json()
    assert job["status"] == "succeeded", job
    assert [s["test_scale"] for s in job["result"]["progressive"]] == ["145M", "297M"]
    monkeypatch.setattr(limits, "INLINE_MAX_CONDITIONAL_WORK", 240)
    assert (
        client.post(f"{API}/conditional-law/fit", json={"runs": body}, headers=h).status_code == 200
    )


def test_a_fit_job_only_starts_for_runs_the_fit_accepts(
    client: TestClient, session: Session, queued: list[int]
) -> None:
    h = api_headers(client, create_user(session, role="viewer").email)
    r = client.post(f"{API}/chinchilla/fit", json={"runs": _runs()[:3], "bootstrap": 50}, headers=h)
    assert r.status_code == 422
    assert "too few" in r.text
    assert queued == []


# ---- one heavy job per user ----------------------------------------------------------------
def test_one_heavy_job_per_user_at_a_time(
    client: TestClient, session: Session, queued: list[int]
) -> None:
    arch = create_user(session, role="architect")
    h = api_headers(client, arch.email)
    first = client.post(f"{API}/chinchilla/fit", json={"runs": _runs(), "bootstrap": 50}, headers=h)
    assert first.status_code == 202
    job_id = first.json()["id"]
    # a second heavy submission of any kind is refused, naming the running job
    for path, body in (
        (f"{API}/chinchilla/fit", {"runs": _runs(), "bootstrap": 50}),
        (f"{API}/architecture-search/measure", MEASURE),
    ):
        r = client.post(path, json=body, headers=h)
        assert r.status_code == 409, r.text
        assert f"job {job_id} (chinchilla_fit) is still queued" in r.json()["detail"]
    # small work is not held up, and another user is not affected
    assert (
        client.post(
            f"{API}/chinchilla/fit", json={"runs": _runs(), "bootstrap": 0}, headers=h
        ).status_code
        == 200
    )
    other = api_headers(client, create_user(session, role="architect").email)
    assert (
        client.post(f"{API}/architecture-search/measure", json=MEASURE, headers=other).status_code
        == 202
    )
    # once the first has finished, the user may start another
    job = session.get(Job, job_id)
    assert job is not None
    job.status = "succeeded"
    session.flush()
    assert (
        client.post(f"{API}/architecture-search/measure", json=MEASURE, headers=h).status_code
        == 202
    )
    assert len(queued) == 3


def test_a_job_abandoned_in_its_queue_does_not_block_its_user(
    client: TestClient, session: Session, queued: list[int]
) -> None:
    user = create_user(session, role="architect")
    h = api_headers(client, user.email)
    first = client.post(f"{API}/architecture-search/measure", json=MEASURE, headers=h).json()
    job = session.get(Job, first["id"])
    assert job is not None
    # still queued an hour later: the pool that held it is gone (an app restart)
    job.created_at = jobs.utcnow() - timedelta(seconds=jobs.ABANDONED_AFTER_S + 1)
    session.flush()
    r = client.post(f"{API}/architecture-search/measure", json=MEASURE, headers=h)
    assert r.status_code == 202, r.text
    session.refresh(job)
    assert job.status == "failed"
    assert "its queue was lost" in (job.error or "")


def test_the_page_names_the_running_job(
    client: TestClient, session: Session, queued: list[int]
) -> None:
    user = create_user(session, role="architect")
    page_login(client, user.email)
    token = csrf_from(client.get("/scaling/fit").text)
    csv_text = "params,tokens,loss\n" + "".join(
        f"{r['params']},{r['tokens']},{r['loss']}\n" for r in _runs()
    )
    data = {"csrftoken": token, "runs_csv": csv_text, "bootstrap": "40"}
    assert client.post("/scaling/fit", data=data).status_code == 202
    again = client.post("/scaling/fit", data=data)
    assert again.status_code == 409
    assert f"your job {queued[0]} (chinchilla_fit) is still queued" in again.text
    assert "Fit" in again.text  # the form's results area, not an error page


# ---- torch: roles and memory ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("role", "status"),
    [
        ("viewer", 403),
        ("product_lead", 403),
        ("governance", 403),
        ("architect", 202),
        ("admin", 202),
    ],
)
def test_torch_measurement_needs_architect_or_admin(
    client: TestClient, session: Session, queued: list[int], role: str, status: int
) -> None:
    h = api_headers(client, create_user(session, role=role).email)
    r = client.post(f"{API}/architecture-search/measure", json=MEASURE, headers=h)
    assert r.status_code == status, r.text


@pytest.mark.usefixtures("small_torch_limit")
def test_measurement_beyond_the_machine_is_refused_naming_the_field(
    client: TestClient, session: Session, queued: list[int]
) -> None:
    h = api_headers(client, create_user(session, role="architect").email)
    # KV caches of 256 sequences at 32,768 tokens: 4.3 GB; at batch 1 it would fit
    big = {**MEASURE, "batch": 256, "context": 32768}
    r = client.post(f"{API}/architecture-search/measure", json=big, headers=h)
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["field"] == "batch"
    assert "limit for one torch job on this machine is 1.0 GiB" in body["detail"]
    # a design whose LM head alone is beyond the limit: the designs themselves are the problem
    huge = {
        **MEASURE,
        "designs": [
            {
                "label": "wide",
                "architecture": {**TINY, "d_model": 8192, "n_heads": 256, "vocab": 1_000_000},
            }
        ],
    }
    r = client.post(f"{API}/architecture-search/measure", json=huge, headers=h)
    assert r.status_code == 422
    assert r.json()["field"] == "designs"
    assert queued == []


def test_calibration_beyond_the_machine_is_refused_naming_the_field(
    client: TestClient,
    session: Session,
    queued: list[int],
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(settings, "torch_memory_gib", 5.0)
    h = api_headers(client, create_user(session, role="admin").email)
    body = {"model": "llama_3_2_1b", "gpu": "h100_sxm_80gb", "matmul_n": 64}
    r = client.post("/api/v1/calibrations", json=body, headers=h)  # 16 layers: 9.6 GiB; 1: 4.4
    assert r.status_code == 422, r.text
    assert r.json()["field"] == "max_layers"
    assert "limit for one torch job on this machine is 5.0 GiB" in r.json()["detail"]
    ok = client.post("/api/v1/calibrations", json={**body, "max_layers": 1}, headers=h)
    assert ok.status_code == 202, ok.text
    arch_h = api_headers(client, create_user(session, role="architect").email)
    assert (
        client.post(
            "/api/v1/calibrations", json={**body, "max_layers": 1}, headers=arch_h
        ).status_code
        == 403
    )


# ---- large PDF reports ---------------------------------------------------------------------
@pytest.fixture
def report_world(client: TestClient, session: Session) -> dict[str, Any]:
    lead = create_user(session, role="product_lead")
    dep = create_deployment(session, user=lead, name="Large one")
    session.commit()
    gov = api_headers(client, create_user(session, role="governance").email)
    results = [
        {"segment": s, "metric": "accuracy", "phase": p, "value": v}
        for s in ("EU", "US")
        for p, v in (("before", 0.8), ("after", 0.9))
    ]
    r = client.post(
        f"/api/v1/deployments/{dep.id}/evaluations",
        json={"label": "pilot", "results": results},
        headers=gov,
    )
    assert r.status_code == 201
    return {"dep": dep.id, "lead": lead, "h": api_headers(client, lead.email)}


@pytest.mark.slow
@pytest.mark.usefixtures("inline_jobs")
def test_large_pdf_is_a_job_downloaded_when_done(
    client: TestClient,
    report_world: dict[str, Any],
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dep, h = report_world["dep"], report_world["h"]
    assert client.get(f"/api/v1/deployments/{dep}/report?format=pdf", headers=h).status_code == 200
    monkeypatch.setattr(limits, "INLINE_MAX_REPORT_RESULTS", 3)  # the deployment has 4
    r = client.get(f"/api/v1/deployments/{dep}/report?format=pdf", headers=h)
    assert r.status_code == 409
    assert f"POST /api/v1/deployments/{dep}/report/jobs" in r.json()["detail"]
    # the other formats stay inline
    assert client.get(f"/api/v1/deployments/{dep}/report?format=json", headers=h).status_code == 200
    started = client.post(f"/api/v1/deployments/{dep}/report/jobs", headers=h)
    assert started.status_code == 202, started.text
    job = client.get(started.headers["location"], headers=h).json()
    assert job["status"] == "succeeded", job
    assert "content_b64" not in job["result"]  # polling does not carry the file
    assert job["result"]["download"] == f"/api/v1/jobs/{job['id']}/download"
    pdf = client.get(job["result"]["download"], headers=h)
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert f"deployment-{dep}.pdf" in pdf.headers["content-disposition"]
    assert len(pdf.content) == job["result"]["size_bytes"]
    text = "".join(
        p.extract_text() for p in pypdf.PdfReader(__import__("io").BytesIO(pdf.content)).pages
    )
    assert "Large one" in text
    public_key = signing.public_bytes(signing.report_signing_key(settings))
    manifest = signed_export.verify(pdf.content, public_key)
    assert manifest["format"] == "pdf"


def test_report_cap_and_roles(
    client: TestClient,
    session: Session,
    report_world: dict[str, Any],
    queued: list[int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dep, h = report_world["dep"], report_world["h"]
    viewer = api_headers(client, create_user(session, role="viewer").email)
    assert client.post(f"/api/v1/deployments/{dep}/report/jobs", headers=viewer).status_code == 403
    outsider = api_headers(client, create_user(session, org="Other", role="admin").email)
    assert (
        client.post(f"/api/v1/deployments/{dep}/report/jobs", headers=outsider).status_code == 404
    )
    monkeypatch.setattr(limits, "MAX_REPORT_RESULTS", 3)
    r = client.post(f"/api/v1/deployments/{dep}/report/jobs", headers=h)
    assert r.status_code == 422
    assert r.json()["field"] == "format"
    assert "export it as JSON or CSV" in r.json()["detail"]
    assert queued == []
    # a job that has not finished has nothing to download yet
    monkeypatch.setattr(limits, "MAX_REPORT_RESULTS", 100)
    job_id = client.post(f"/api/v1/deployments/{dep}/report/jobs", headers=h).json()["id"]
    r = client.get(f"/api/v1/jobs/{job_id}/download", headers=h)
    assert r.status_code == 409
    assert "queued" in r.json()["detail"]


@pytest.mark.slow
def test_the_report_job_trusts_the_route_that_queued_it(
    client: TestClient,
    session: Session,
    report_world: dict[str, Any],
    queued: list[int],
    settings: Settings,
) -> None:
    """report:export is checked once, by the route that queues the job (app/auth/guards.py): the
    job renders for the user who asked even if their role changed since, while the download is
    the route's to refuse (403 for a role without report:export)."""
    dep, lead, h = report_world["dep"], report_world["lead"], report_world["h"]
    started = client.post(f"/api/v1/deployments/{dep}/report/jobs", headers=h)
    assert started.status_code == 202, started.text
    job_id = started.json()["id"]
    assert queued == [job_id]
    lead.role = "viewer"
    session.commit()
    jobs.run(job_id, lambda: session, settings=settings)
    job = client.get(f"/api/v1/jobs/{job_id}", headers=h).json()
    assert job["status"] == "succeeded", job
    assert client.get(f"/api/v1/jobs/{job_id}/download", headers=h).status_code == 403


@pytest.mark.slow
@pytest.mark.usefixtures("inline_jobs")
def test_report_page_offers_the_job_and_the_download(
    client: TestClient, report_world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    dep = report_world["dep"]
    page_login(client, report_world["lead"].email)
    monkeypatch.setattr(limits, "INLINE_MAX_REPORT_RESULTS", 3)
    page = client.get(f"/deployments/{dep}/report?format=pdf")
    assert page.status_code == 200
    assert "holds 4 evaluation results" in page.text
    assert f'action="/deployments/{dep}/report/jobs"' in page.text
    r = client.post(f"/deployments/{dep}/report/jobs", data={"csrftoken": csrf_from(page.text)})
    assert r.status_code == 202, r.text
    job_id = r.text.split('id="job-')[1].split('"')[0]
    assert f'hx-get="/jobs/{job_id}"' in r.text
    done = client.get(f"/jobs/{job_id}")
    assert "succeeded" in done.text
    assert f'href="/jobs/{job_id}/download"' in done.text
    pdf = client.get(f"/jobs/{job_id}/download")
    assert pdf.content.startswith(b"%PDF")


def test_job_out_hides_the_file_but_keeps_the_rest() -> None:
    from app.estimates.schemas import JobOut

    job = Job(
        id=7,
        org_id=1,
        kind="report_pdf",
        status="succeeded",
        progress=100,
        message="done",
        params={},
        result={"filename": "r.pdf", "content_b64": "JVBERg=="},
        error=None,
        created_by="a@b",
        runner="process",
        attempts=1,
        created_at=jobs.utcnow(),
        started_at=None,
        heartbeat_at=None,
        finished_at=None,
    )
    out = json.loads(JobOut.model_validate(job).model_dump_json())
    assert out["result"] == {"filename": "r.pdf", "download": "/api/v1/jobs/7/download"}
