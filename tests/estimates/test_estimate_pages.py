from __future__ import annotations

import html
import json
import re
from html.parser import HTMLParser
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.estimators.reference_data import catalog_architecture, catalog_gpu
from app.estimators.training import estimate_finetune, zero_stage_effect
from tests.factories import create_deployment, create_user, csrf_from, figures_in, page_login


@pytest.fixture
def logged_in(client: TestClient, session: Session) -> TestClient:
    page_login(client, create_user(session, role="architect").email)
    return client


def test_estimator_page_renders_results_and_charts(logged_in: TestClient) -> None:
    r = logged_in.get(
        "/estimates?model=llama_3_1_8b&gpu=h100_sxm_80gb&input_tokens=1000"
        "&output_tokens=200&batch_size=8&request_rate=3"
    )
    assert r.status_code == 200, r.text[-2000:]
    assert "Fits" in r.text
    assert "Capacity plan" in r.text
    assert "Under load at" in r.text
    figs = figures_in(r.text)
    assert len(figs) == 5  # memory, batch, TTFT, load, cost
    batch = figs[1]
    names = [d["name"] for d in batch["data"]]
    assert "output tok/s (best case)" in names
    est, best = batch["data"][0]["y"], batch["data"][1]["y"]
    assert all(b >= e for e, b in zip(est, best, strict=True))


def test_estimator_page_shows_the_max_load_of_the_api(logged_in: TestClient) -> None:
    from app.estimators.engines import engine
    from app.estimators.inference import ServingConfig, StepModel, Workload, estimate_inference
    from app.estimators.reference_data import catalog_architecture, catalog_gpu
    from app.estimators.simulation import max_load, running_limits

    q = "model=llama_3_1_8b&gpu=h100_sxm_80gb&input_tokens=1000&output_tokens=200"
    r = logged_in.get(f"/estimates?{q}")
    assert r.status_code == 200
    assert "Max load (saturated server)" in r.text
    assert "10–90% range" in r.text  # the held-out bands beside the estimates
    assert "no band" not in r.text
    arch, gpu, eng = (
        catalog_architecture("llama_3_1_8b"),
        catalog_gpu("h100_sxm_80gb"),
        engine("vllm"),
    )
    est = estimate_inference(arch, gpu, eng, ServingConfig(), Workload(1000, 200))
    sm = StepModel.build(arch, gpu, eng, ServingConfig())
    top = max_load(sm, running_limits(eng, sm, est.memory), input_tokens=1000, output_tokens=200)
    assert f"{top.output_tokens_per_s:,.0f}" in r.text
    # the load chart's saturated capacity is the same simulation
    m = re.search(r"saturated capacity \(([\d.,]+) req/s\)", r.text)
    ml = re.search(r"<dt>Requests/s</dt><dd>([\d.,]+)</dd>", r.text)
    assert m
    assert ml
    assert m.group(1) == ml.group(1)


def test_estimator_htmx_returns_only_results_and_inline_errors(logged_in: TestClient) -> None:
    r = logged_in.get(
        "/estimates?input_tokens=0&gpu=a100_sxm_80gb&precision=fp8", headers={"HX-Request": "true"}
    )
    assert r.status_code == 422
    assert "<html" not in r.text
    assert 'id="results"' in r.text
    assert "input_tokens" in r.text
    r2 = logged_in.get("/estimates?gpu=a100_sxm_80gb&precision=fp8", headers={"HX-Request": "true"})
    assert r2.status_code == 422
    assert "does not support fp8" in r2.text


def test_estimator_htmx_success_renders_the_results_fragment_with_charts(
    logged_in: TestClient,
) -> None:
    r = logged_in.get("/estimates?model=llama_3_2_1b&gpu=l4", headers={"HX-Request": "true"})
    assert r.status_code == 200
    assert "<html" not in r.text
    assert len(figures_in(r.text)) == 5


def test_compare_page_lists_every_gpu(logged_in: TestClient) -> None:
    r = logged_in.get(
        "/estimates/compare?model=llama_3_1_70b&n_gpus=2&input_tokens=1000"
        "&output_tokens=200&requests_per_day=500000&ttft_slo_ms=2000&tpot_slo_ms=80"
    )
    assert r.status_code == 200
    assert r.text.count("<tr") >= 14
    assert "NVIDIA H100 SXM 80GB" in r.text


def test_training_page(logged_in: TestClient) -> None:
    r = logged_in.get("/estimates/training")
    assert r.status_code == 200
    assert "GPU-hours" in r.text
    assert "Trainable parameters" in r.text
    # held-out bands beside GPU-hours, wall clock and fine-tune throughput
    assert r.text.count("10–90% range") == 3
    bad = logged_in.get("/estimates/training?form=finetune&method=dora")
    assert bad.status_code == 422
    assert "method" in bad.text


def test_deployment_page_shows_monthly_cost_and_slo_check(
    logged_in: TestClient, session: Session
) -> None:
    user = create_user(session, role="architect")
    page_login(logged_in, user.email)
    dep = create_deployment(session, user=user)
    r = logged_in.get(f"/deployments/{dep.id}")
    assert r.status_code == 200
    assert "Serving cost and SLO check" in r.text
    assert f'hx-get="/deployments/{dep.id}/serving-cost"' in r.text  # the estimates' panel
    r = logged_in.get(f"/deployments/{dep.id}/serving-cost", headers={"HX-Request": "true"})
    assert r.status_code == 200
    assert "<html" not in r.text
    assert "Monthly serving cost" in r.text


def test_admin_runs_a_calibration_from_the_page_and_polls_it(
    client: TestClient, session: Session, asgi
) -> None:  # type: ignore[no-untyped-def]
    started: list[int] = []
    asgi.fastapi_app.state.job_runner = started.append  # the job itself is tested elsewhere
    page_login(client, create_user(session, role="admin").email)
    page = client.get("/calibrations")
    assert page.status_code == 200
    token = csrf_from(page.text)
    r = client.post(
        "/calibrations/run",
        data={
            "csrftoken": token,
            "model": "llama_3_2_1b",
            "gpu": "h100_sxm_80gb",
            "engine": "hf-transformers",
            "max_layers": "1",
        },
        headers={"HX-Request": "true"},
    )
    assert r.status_code == 202, r.text
    m = re.search(r'id="job-(\d+)"', r.text)
    assert m
    assert started == [int(m.group(1))]
    poll = client.get(f"/calibrations/jobs/{m.group(1)}")
    assert poll.status_code == 200
    assert "queued" in poll.text
    assert 'hx-trigger="every 1s"' in poll.text  # keeps polling until done
    bad = client.post(
        "/calibrations/import",
        data={
            "csrftoken": token,
            "model": "llama_3_1_8b",
            "gpu": "h100_sxm_80gb",
            "bench_file": "{not json",
        },
        headers={"HX-Request": "true"},
    )
    assert bad.status_code == 422
    assert "not a vllm bench serve result" in bad.text
    assert "{not json" in bad.text  # the pasted text is kept
    ok = client.post(
        "/calibrations/import",
        data={
            "csrftoken": token,
            "model": "llama_3_1_8b",
            "gpu": "h100_sxm_80gb",
            "n_gpus": "1",
            "precision": "bf16",
            "kv_cache_precision": "bf16",
            "engine": "vllm",
            "bench_file": json.dumps(
                {
                    "completed": 10,
                    "total_input_tokens": 1000,
                    "total_output_tokens": 1000,
                    "median_ttft_ms": 30,
                    "median_tpot_ms": 8,
                    "request_rate": 1,
                }
            ),
        },
        headers={"HX-Request": "true"},
    )
    assert ok.status_code == 202, ok.text
    assert len(started) == 2
    multipart = client.post(
        "/calibrations/import", data={"csrftoken": token}, files={"f": ("a.json", b"{}")}
    )
    assert multipart.status_code == 415
    asgi.fastapi_app.state.job_runner = None


def test_non_admin_sees_no_calibration_forms(logged_in: TestClient) -> None:
    r = logged_in.get("/calibrations")
    assert r.status_code == 200
    assert "Only administrators" in r.text


def test_a_config_that_does_not_fit_shows_what_would_and_no_figures(logged_in: TestClient) -> None:
    """Issue 22 item 3: 70B at bf16 on one H100."""
    r = logged_in.get(
        "/estimates?model=llama_3_1_70b&gpu=h100_sxm_80gb&n_gpus=1&precision=bf16"
        "&input_tokens=1024&output_tokens=256&batch_size=4"
    )
    assert r.status_code == 200, r.text[-2000:]
    assert "Does not fit" in r.text
    assert 'id="would-fit"' in r.text
    assert "1 × NVIDIA H100 SXM 80GB at fp8" in r.text
    assert "2 × NVIDIA H100 SXM 80GB at bf16" in r.text
    # no TTFT/TPOT/$ for it, no sweep charts, no capacity plan or max load
    assert 'id="no-figures"' in r.text
    for absent in (
        "TTFT (one request, idle server)",
        "TPOT at batch",
        "$ per million output tokens</td>",
        "Capacity plan",
        "Max load (saturated",
        "chart-batch",
        "chart-ttft",
        "chart-load",
    ):
        assert absent not in r.text, absent
    # one usable capacity: the chart's line and the table are the figure the reason names
    figs = figures_in(r.text)
    mem = figs[0]
    usable = mem["layout"]["shapes"][0]["x0"]
    assert usable == pytest.approx(85.899345920 * 0.9)
    assert f"{usable:.1f} GB the engine may use" in r.text
    assert f"usable ({usable:.1f} GB)" == mem["layout"]["annotations"][0]["text"]
    assert re.search(rf"/ {usable:.2f} GB \(90% of the GPU", r.text)


def test_a_config_that_fits_shows_no_would_fit(logged_in: TestClient) -> None:
    r = logged_in.get(
        "/estimates?model=llama_3_1_8b&gpu=h100_sxm_80gb&input_tokens=1000"
        "&output_tokens=200&batch_size=8"
    )
    assert r.status_code == 200
    assert 'id="would-fit"' not in r.text
    assert 'id="no-figures"' not in r.text
    assert "TTFT (one request, idle server)" in r.text


def test_inputs_beyond_the_context_are_refused_inline(logged_in: TestClient) -> None:
    r = logged_in.get(
        "/estimates?model=llama_2_7b&gpu=h100_sxm_80gb&input_tokens=4000&output_tokens=500",
        headers={"HX-Request": "true"},
    )
    assert r.status_code == 422
    assert 'href="#f-output_tokens"' in r.text
    assert "4,096-token context" in r.text
    assert "at most 96 output tokens fit" in r.text
    assert "TTFT (one request" not in r.text
    full = logged_in.get(
        "/estimates?model=llama_2_7b&gpu=h100_sxm_80gb&input_tokens=4000&output_tokens=500"
    )
    assert full.status_code == 422
    assert 'value="4000"' in full.text  # what was typed is kept


def test_compare_page_gives_the_reason_an_slo_is_missed(logged_in: TestClient) -> None:
    r = logged_in.get(
        "/estimates/compare?model=llama_3_1_8b&input_tokens=1024&output_tokens=256&batch_size=16"
        "&requests_per_day=1000000&ttft_slo_ms=1000&tpot_slo_ms=60"
    )
    assert r.status_code == 200
    row = next(tr for tr in r.text.split("<tr")[1:] if "<td>NVIDIA L4</td>" in tr)
    assert "✗ no" in row
    assert "no batch meets it" in row
    tpot = re.search(r"TPOT ([\d.,]+) ms at batch 1 exceeds the 60 ms SLO", row)
    assert tpot
    assert float(tpot.group(1)) > 60
    # every row that says it meets the SLOs shows a TPOT within 60 ms
    for tr in r.text.split("<tr")[2:]:
        cells = re.findall(r"<td[^>]*>(.*?)</td>", tr, re.S)
        if cells[3] == "✓ yes":
            assert float(cells[6].replace(",", "")) <= 60, cells


class _Fields(HTMLParser):
    """The ids, label[for] targets and labellable fields of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.label_for: set[str] = set()
        self.fields: list[tuple[str, str | None]] = []  # (tag, id)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.ids.append(a["id"] or "")
        if tag == "label" and a.get("for"):
            self.label_for.add(a["for"] or "")
        if tag == "select" or (tag == "input" and a.get("type") not in ("hidden", "submit")):
            self.fields.append((tag, a.get("id")))


def test_training_page_ids_are_unique_and_every_field_has_a_label(
    logged_in: TestClient,
) -> None:
    for url in ("/estimates/training", "/estimates/training?form=finetune&epochs=-1&gpu=x"):
        p = _Fields()
        p.feed(logged_in.get(url).text)
        dupes = {i for i in p.ids if p.ids.count(i) > 1}
        assert not dupes, dupes
        unlabelled = [f for f in p.fields if f[1] is None or f[1] not in p.label_for]
        assert not unlabelled, unlabelled
        assert len(p.fields) >= 18  # both forms, the fine-tune's dataset and epochs included
        assert {"ft-model", "ft-gpu", "ft-n_gpus", "ft-dataset_tokens", "ft-epochs"} <= set(p.ids)


def test_training_page_shows_fine_tune_duration_and_cost(logged_in: TestClient) -> None:
    r = logged_in.get(
        "/estimates/training?form=finetune&model=llama_3_1_8b&method=lora&lora_rank=16"
        "&sequence_length=2048&micro_batch_size=1&gpu=a100_sxm_80gb&n_gpus=2"
        "&gradient_checkpointing=on&dataset_tokens=36000000&epochs=3"
    )
    assert r.status_code == 200, r.text
    rate = estimate_finetune(
        catalog_architecture("llama_3_1_8b"),
        catalog_gpu("a100_sxm_80gb"),
        method="lora",
        n_gpus=2,
        lora_rank=16,
        sequence_length=2048,
    ).tokens_per_s
    hours = 36e6 * 3 / rate / 3600
    assert "Duration" in r.text
    assert "36M tokens × 3 epochs" in r.text  # one number format (app/formatting.py)
    assert "Fine-tune cost" in r.text
    assert "/GPU-hour" in r.text
    assert f"{hours:,.1f} hours" in r.text
    assert f"{2 * hours:,.1f}" in r.text  # GPU-hours on 2 GPUs
    bad = logged_in.get("/estimates/training?form=finetune&dataset_tokens=0&epochs=500")
    assert bad.status_code == 422
    assert 'aria-describedby="ft-dataset_tokens-error"' in bad.text
    assert 'id="ft-epochs-error"' in bad.text
    assert 'value="500"' in bad.text


def test_training_page_mfu_blank_is_modelled_and_explicit_value_is_kept(
    logged_in: TestClient,
) -> None:
    # Blank MFU (the default form): the modelled MFU, with its p10-p90 range and its source.
    r = logged_in.get("/estimates/training")
    assert r.status_code == 200
    assert 'name="mfu" type="text" inputmode="decimal" value=""' in r.text
    assert "(modelled; p10–p90 " in r.text
    assert "GEMM efficiency" in r.text  # the MFU model's note (app.estimators.training_mfu)
    modelled = logged_in.get(
        "/estimates/training?form=training&model=llama_3_1_8b&tokens=1e12&gpu=h100_sxm_80gb"
        "&n_gpus=64&mfu="
    )
    assert modelled.status_code == 200
    assert "(modelled; p10–p90 " in modelled.text
    # An explicit value is used as given and kept in the form.
    given = logged_in.get(
        "/estimates/training?form=training&model=llama_3_1_8b&tokens=1e12&gpu=h100_sxm_80gb"
        "&n_gpus=64&mfu=0.25"
    )
    assert given.status_code == 200
    assert 'value="0.25"' in given.text
    assert "0.250 (given)" in given.text
    assert "given by the request" in given.text
    bad = logged_in.get("/estimates/training?form=training&mfu=1.5")
    assert bad.status_code == 422
    assert 'value="1.5"' in bad.text


def test_training_page_takes_the_parallelism(logged_in: TestClient) -> None:
    base = "/estimates/training?form=training&model=llama_3_1_70b&tokens=1e12&gpu=h100_sxm_80gb"
    laid = logged_in.get(
        f"{base}&n_gpus=1024&tensor_parallel=8&pipeline_parallel=8&micro_batches=16&zero_stage=3"
    )
    assert laid.status_code == 200, laid.text
    assert "pipeline bubble 0.304" in laid.text
    assert 'name="zero_stage" type="text" inputmode="decimal" value="3"' in laid.text
    for query, field in (
        ("zero_stage=5", "zero_stage"),
        ("pipeline_parallel=3", "pipeline_parallel"),
    ):
        bad = logged_in.get(f"{base}&n_gpus=1024&{query}")
        assert bad.status_code == 422, query
        assert f'id="f-{field}"' in bad.text
        assert "has-error" in bad.text


FT = {"form": "finetune", "model": "llama_3_1_8b", "method": "lora", "gpu": "a100_sxm_80gb"}


def _ft(client: TestClient, **typed: str) -> Any:
    return client.get("/estimates/training", params={**FT, **typed})


@pytest.mark.parametrize(
    ("typed", "modules"),
    [("q_proj, v_proj", "q_proj, v_proj"), (" q , v ,o", " q , v ,o")],
)
def test_fine_tune_target_modules_with_spaces_are_read(
    logged_in: TestClient, typed: str, modules: str
) -> None:
    """Walk-through: "q_proj, v_proj" (a space after the comma) was a 422."""
    r = _ft(logged_in, target_modules=typed)
    assert r.status_code == 200, r.text[-2000:]
    assert "Duration" in r.text
    assert f'value="{modules}"' in r.text  # what was typed stays


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("q_proj,,v_proj", "an empty entry between commas"),
        ("q_proj,", "a trailing comma: list the modules once each"),  # not "between commas"
        (",q_proj", "a leading comma"),
        ("all-linear,q_proj", "all-linear already takes every linear layer: give it alone"),
        ("q_proj, all-linear", "all-linear already takes every linear layer: give it alone"),
    ],
)
def test_fine_tune_target_modules_refused_inline(
    logged_in: TestClient, typed: str, message: str
) -> None:
    """Walk-through: "q_proj,,v_proj" and "all-linear,q_proj" were accepted."""
    r = _ft(logged_in, target_modules=typed)
    assert r.status_code == 422, r.text[-2000:]
    error = r.text.split('id="ft-target_modules-error"')[1].split("</")[0]
    assert message in error
    assert f'value="{typed}"' in r.text


def test_a_fine_tune_that_does_not_fit_prints_no_duration_or_cost(logged_in: TestClient) -> None:
    """Review: QLoRA of a 405B model on one GPU said "Does not fit" and still printed a
    duration and a cost ($2,193)."""
    r = _ft(logged_in, model="llama_3_1_405b", method="qlora", n_gpus="1")
    assert r.status_code == 200, r.text[-2000:]
    assert "Does not fit" in r.text
    result = r.text.split("Does not fit", 1)[1].split("</dl>", 1)[0]
    assert "<dt>Duration</dt><dd>—, does not fit</dd>" in result
    assert "<dt>Fine-tune cost</dt><dd>—, does not fit</dd>" in result
    assert "$" not in result
    assert "hours for" not in result
    assert "<dt>Throughput</dt><dd>—, does not fit</dd>" in result  # nor a throughput
    verdict = r.text.split("Does not fit", 1)[1].split("</p>", 1)[0]
    assert "GB per GPU" in verdict
    assert re.search(r"needs \d[\d,]*\.\d GB per GPU; .+ has \d[\d,]*\.\d GB", verdict)


@pytest.mark.parametrize(
    ("field", "typed", "message"),
    [
        ("lora_rank", "2.5", "enter a whole number"),
        ("lora_rank", "inf", "enter a whole number"),
        ("lora_rank", "nan", "enter a whole number"),
        ("lora_rank", "1e308", "enter a number of at most 4096"),
        ("n_gpus", "1e9", "enter a number of at most 100,000"),
        ("micro_batch_size", "0.5", "enter a whole number"),
        ("lora_rank", "many", "enter a number"),
    ],
)
def test_fine_tune_whole_numbers_say_what_is_wrong(
    logged_in: TestClient, field: str, typed: str, message: str
) -> None:
    """Walk-through: lora_rank 2.5 / 1e308 / inf and n_gpus=1e9 all read "enter a number"."""
    r = _ft(logged_in, **{field: typed})
    assert r.status_code == 422, r.text[-2000:]
    error = r.text.split(f'id="ft-{field}-error"')[1].split("</")[0]
    assert error.split(">", 1)[1].strip() == message
    assert f'value="{typed}"' in r.text


def test_fine_tune_whole_number_in_exponent_notation_is_read(logged_in: TestClient) -> None:
    r = _ft(logged_in, lora_rank="1.6e1", n_gpus="2")
    assert r.status_code == 200, r.text[-2000:]


def test_training_page_prefills_plain_numbers(logged_in: TestClient) -> None:
    """Walk-through: the token counts were prefilled as raw floats ("15000000000000.0")."""
    r = logged_in.get("/estimates/training")
    assert r.status_code == 200
    assert '.0"' not in "".join(re.findall(r'value="[^"]*"', r.text))
    assert 'value="15000000000000"' in r.text
    assert 'value="100000000"' in r.text


def test_training_page_notes_interleaving_and_layout_errors(logged_in: TestClient) -> None:
    base = "/estimates/training?form=training&model=llama_3_1_70b&tokens=1e12&gpu=h100_sxm_80gb"
    r = logged_in.get(f"{base}&n_gpus=1024&tensor_parallel=8&pipeline_parallel=16&micro_batches=16")
    assert r.status_code == 200, r.text
    assert "the pipeline bubble costs 48%: more micro-batches or an interleaved" in r.text
    assert 'id="f-virtual_stages"' in r.text
    inter = logged_in.get(
        f"{base}&n_gpus=1024&tensor_parallel=8&pipeline_parallel=16&micro_batches=16"
        "&virtual_stages=4"
    )
    assert inter.status_code == 200, inter.text
    assert "(16 − 1)/(4·16 + 16 − 1) = 0.190" in inter.text
    assert "bubble costs" not in inter.text
    assert 'id="f-activation_recomputation"' in inter.text
    full = logged_in.get(f"{base}&n_gpus=1024&activation_recomputation=full")
    assert full.status_code == 200, full.text
    assert "full activation recomputation: MFU × 0.75" in full.text
    assert '<option value="full" selected>' in full.text
    assert '<option value="">— not given —</option>' in full.text
    no_m = logged_in.get(f"{base}&n_gpus=1024&pipeline_parallel=4&zero_stage=3")
    assert "pipeline bubble left out" in no_m.text
    assert "zero_stage 3: " in no_m.text
    # The ZeRO field's help says what the stage does with the current fit.
    assert html.escape(zero_stage_effect()) in no_m.text
    assert "per doubling" not in no_m.text
    for query, field, words in (
        ("pipeline_parallel=1024&micro_batches=1", "pipeline_parallel", "80 layers"),
        ("tensor_parallel=128", "tensor_parallel", "64 attention heads"),
        ("pipeline_parallel=4&micro_batches=6&virtual_stages=2", "micro_batches", "multiple"),
        ("activation_recomputation=partial", "activation_recomputation", "full"),
    ):
        bad = logged_in.get(f"{base}&n_gpus=1024&{query}")
        assert bad.status_code == 422, query
        assert f'<p class="field-error" id="{field}-error">' in bad.text
        error = bad.text.split(f'id="{field}-error">', 1)[1].split("</p>", 1)[0]
        assert words in error
