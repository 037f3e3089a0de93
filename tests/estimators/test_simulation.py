from __future__ import annotations

from typing import Any

import pytest

from app.estimators.architecture import Architecture
from app.estimators.engines import engine
from app.estimators.hardware import ALLREDUCE_LATENCY_S, GpuSpec
from app.estimators.inference import (
    ACTIVATION_BYTES,
    ServingConfig,
    StepModel,
    Workload,
    estimate_inference,
    experts_touched,
)
from app.estimators.reference_data import catalog_architecture, catalog_gpu
from app.estimators.simulation import SimulationError, plan_capacity, simulate_load

ARCH = catalog_architecture("llama_3_1_8b")
GPU = catalog_gpu("h100_sxm_80gb")
SM = StepModel.build(ARCH, GPU, engine("vllm"), ServingConfig())
IN, OUT = 512, 128


def sim(rate: float, n: int = 600, seed: int = 0):  # type: ignore[no-untyped-def]
    return simulate_load(
        SM,
        request_rate=rate,
        input_tokens=IN,
        output_tokens=OUT,
        max_seqs=256,
        max_batched_tokens=8192,
        n_requests=n,
        seed=seed,
    )


def test_light_load_matches_the_unloaded_estimate() -> None:
    est = estimate_inference(ARCH, GPU, engine("vllm"), ServingConfig(), Workload(IN, OUT, 1))
    r = sim(0.05, n=200)
    # mostly alone on the server: TTFT is the prefill of one request, TPOT a batch-1 step
    assert r.ttft_ms[50] == pytest.approx(est.timing.ttft_ms, rel=0.05)
    assert r.tpot_ms[50] == pytest.approx(est.timing.tpot_ms, rel=0.05)
    assert r.requests_per_s == pytest.approx(0.05, rel=0.2)
    assert not r.saturated


def test_latency_grows_with_load_and_overload_saturates() -> None:
    rates = [1.0, 10.0, 40.0]
    results = [sim(r) for r in rates]
    tpots = [r.tpot_ms[50] for r in results]
    assert tpots == sorted(tpots)
    assert results[-1].mean_batch > results[0].mean_batch
    over = sim(1e4)
    assert over.saturated
    assert over.ttft_ms[99] > 10 * results[0].ttft_ms[99]


def test_same_seed_same_result_and_percentiles_ordered() -> None:
    a, b = sim(8.0, seed=3), sim(8.0, seed=3)
    assert a == b
    for d in (a.ttft_ms, a.tpot_ms, a.e2e_ms):
        assert d[50] <= d[95] <= d[99]


def test_kv_capacity_caps_the_batch() -> None:
    r = simulate_load(
        SM,
        request_rate=1e4,
        input_tokens=IN,
        output_tokens=OUT,
        max_seqs=4,
        max_batched_tokens=8192,
        n_requests=100,
    )
    assert r.mean_batch <= 4


@pytest.mark.parametrize(
    ("kwargs", "field"), [({"request_rate": 0}, "request_rate"), ({"max_seqs": 0}, "input_tokens")]
)
def test_bad_simulation_input(kwargs, field) -> None:  # type: ignore[no-untyped-def]
    base = {
        "request_rate": 1.0,
        "input_tokens": 10,
        "output_tokens": 10,
        "max_seqs": 4,
        "max_batched_tokens": 100,
    }
    with pytest.raises(SimulationError) as exc:
        simulate_load(SM, **{**base, **kwargs})
    assert exc.value.field == field


def test_capacity_plan_meets_the_slo_and_scales_with_traffic() -> None:
    kw = {
        "input_tokens": IN,
        "output_tokens": OUT,
        "ttft_slo_ms": 500.0,
        "tpot_slo_ms": 40.0,
        "max_seqs": 256,
        "max_batched_tokens": 8192,
        "price_per_gpu_hour": 2.0,
        "n_requests": 400,
    }
    small = plan_capacity(SM, requests_per_day=100_000, **kw)
    big = plan_capacity(SM, requests_per_day=50_000_000, **kw)
    assert small.replicas == 1
    assert big.replicas is not None
    assert big.replicas > 1
    assert big.at_planned_rate is not None
    assert big.at_planned_rate.ttft_ms[95] <= 500
    assert big.at_planned_rate.tpot_ms[95] <= 40
    assert big.monthly_cost_usd == pytest.approx(big.replicas * 730 * 2.0)
    assert small.max_rate_per_replica == pytest.approx(big.max_rate_per_replica)


def test_capacity_plan_reports_an_unreachable_slo() -> None:
    plan = plan_capacity(
        SM,
        requests_per_day=1000,
        input_tokens=IN,
        output_tokens=OUT,
        ttft_slo_ms=1.0,
        tpot_slo_ms=40.0,
        max_seqs=256,
        max_batched_tokens=8192,
        price_per_gpu_hour=None,
        n_requests=200,
    )
    assert plan.replicas is None
    assert plan.reason
    assert "TTFT" in plan.reason


def test_results_are_memoised_and_equal_to_a_fresh_run() -> None:
    from app.estimators.simulation import simulate_load_uncached

    kwargs = {
        "request_rate": 3.25,
        "input_tokens": 300,
        "output_tokens": 40,
        "max_seqs": 64,
        "max_batched_tokens": 4096,
        "n_requests": 200,
        "seed": 7,
    }
    before = simulate_load.cache_info()  # type: ignore[attr-defined]
    first = simulate_load(SM, **kwargs)  # type: ignore[arg-type]
    again = simulate_load(SM, **kwargs)  # type: ignore[arg-type]
    after = simulate_load.cache_info()  # type: ignore[attr-defined]
    assert again is first
    assert (after.misses - before.misses, after.hits - before.hits) == (1, 1)
    assert simulate_load_uncached(SM, **kwargs) == first  # type: ignore[arg-type]
    other = simulate_load(SM, **{**kwargs, "seed": 8})  # type: ignore[arg-type]
    assert other != first  # another seed is another key


@pytest.mark.parametrize(
    ("model", "gpus"), [("llama_3_1_8b", 1), ("mixtral_8x7b", 2), ("llama_3_1_70b", 4)]
)
def test_step_coefficients_reproduce_the_roofline_formula(model: str, gpus: int) -> None:
    """StepModel precomputes its coefficients; they must equal the formula written out."""

    def weight_bytes_read(arch: Architecture, tokens: float, bytes_w: float) -> float:
        """Weights a forward pass over ``tokens`` tokens reads (the embedding is a gather)."""
        dense_body = (
            arch.non_embedding_params - arch.n_layers * arch.n_experts * arch.mlp_params_per_expert
        )
        experts = arch.n_layers * experts_touched(arch, tokens) * arch.mlp_params_per_expert
        return (dense_body + experts + arch.vocab * arch.d_model) * bytes_w

    def allreduce_s(arch: Architecture, gpu: GpuSpec, tp: int, tokens: float) -> float:
        """Two ring all-reduces of the activations per layer (Megatron tensor parallelism)."""
        if tp <= 1:
            return 0.0
        msg = tokens * arch.d_model * ACTIVATION_BYTES
        per = ALLREDUCE_LATENCY_S + 2 * (tp - 1) / tp * msg / gpu.interconnect_bytes_per_s
        return 2 * arch.n_layers * per

    arch = catalog_architecture(model)
    sm = StepModel.build(arch, GPU, engine("vllm"), ServingConfig(n_gpus=gpus))
    n_decode, ctx_sum, n_prefill, pre_tok, pre_sq = 24, 24 * 900, 2, 1200, 2 * 600 * 600
    got = sm.step(n_decode, ctx_sum, n_prefill, pre_tok, pre_sq)
    d_attn = arch.n_heads * arch.d_head
    tokens = n_decode + pre_tok
    flops = (
        2 * tokens * arch.active_non_embedding_params
        + 2 * (n_decode + n_prefill) * arch.vocab * arch.d_model
        + 4 * arch.n_layers * d_attn * ctx_sum
        + 2 * arch.n_layers * d_attn * pre_sq
    )
    # the KV cache read, and written for every new token (decoded ones too)
    mem = weight_bytes_read(arch, tokens, sm.bytes_w) + sm.kv_bytes_per_token * (ctx_sum + tokens)
    assert got.compute_s == pytest.approx(flops / (sm.peak_flops * gpus), rel=1e-12)
    assert got.memory_s == pytest.approx(mem / (GPU.bandwidth_bytes_per_s * gpus), rel=1e-12)
    assert got.comm_s == pytest.approx(allreduce_s(arch, GPU, gpus, tokens), rel=1e-12)
    assert (got.comm_s > 0) == (gpus > 1)


def _iteration_by_iteration(
    sm: StepModel,
    rate: float,
    s_in: int,
    s_out: int,
    max_seqs: int,
    max_batched_tokens: int,
    n: int,
    seed: int = 0,
) -> dict[str, Any]:
    """The scheduler written the plain way: one engine iteration per loop, StepModel.step for
    each. simulate_load must agree with it (it times runs of decode iterations in closed form)."""
    import numpy as np

    arrivals = np.cumsum(np.random.default_rng(seed).exponential(1.0 / rate, n)).tolist()
    first, finish = [0.0] * n, [0.0] * n
    waiting: list[int] = []
    running: list[tuple[int, int]] = []  # (admission iteration, request)
    t, it, nxt, done, batch_sum = 0.0, 0, 0, 0, 0
    while done < n:
        if not waiting and not running and arrivals[nxt] > t:
            t = arrivals[nxt]
        while nxt < n and arrivals[nxt] <= t:
            waiting.append(nxt)
            nxt += 1
        admitted: list[int] = []
        while waiting and len(running) + len(admitted) < max_seqs:
            if admitted and (len(admitted) + 1) * s_in > max_batched_tokens:
                break
            admitted.append(waiting.pop(0))
        na = len(admitted)
        ctx = sum(s_in + it - a for a, _ in running)
        t += sm.step(len(running), ctx, na, na * s_in, na * s_in * s_in).time_s
        batch_sum += len(running) + na
        for r in admitted:
            first[r] = t
            running.append((it, r))
        for a, r in [x for x in running if x[0] + s_out - 1 == it]:
            finish[r] = t
            running.remove((a, r))
            done += 1
        it += 1
    arr, first_a, finish_a = np.asarray(arrivals), np.asarray(first), np.asarray(finish)
    lat = sm.first_token_latency_s  # every request's own first-token latency, off the GPU
    first_a, finish_a = first_a + lat, finish_a + lat

    def pct(x: np.ndarray) -> dict[int, float]:
        return dict(zip((50, 95, 99), np.percentile(x, (50, 95, 99)).tolist(), strict=True))

    return {
        "iterations": it,
        "mean_batch": batch_sum / it,
        "ttft_ms": pct((first_a - arr) * 1e3),
        "tpot_ms": pct((finish_a - first_a) / max(s_out - 1, 1) * 1e3),
        "e2e_ms": pct((finish_a - arr) * 1e3),
    }


@pytest.mark.parametrize(
    ("model", "gpus", "rate", "s_in", "s_out", "max_seqs"),
    [
        ("llama_3_1_8b", 1, 2.0, 512, 128, 256),  # light: idle gaps, short batches
        ("llama_3_1_8b", 1, 60.0, 900, 64, 32),  # full KV: arrivals wait for completions
        ("llama_3_1_8b", 1, 1e9, 3000, 40, 64),  # all at once; prefill split by the token budget
        ("mixtral_8x7b", 2, 20.0, 400, 100, 128),  # MoE experts touched, tensor parallel
        ("llama_3_1_70b", 4, 5.0, 2000, 2, 16),  # two output tokens: runs of one iteration
        ("llama_3_1_8b", 1, 30.0, 256, 1, 8),  # one output token: no decode at all
    ],
)
def test_simulation_equals_the_scheduler_run_one_iteration_at_a_time(
    model: str, gpus: int, rate: float, s_in: int, s_out: int, max_seqs: int
) -> None:
    from app.estimators.simulation import simulate_load_uncached

    sm = StepModel.build(catalog_architecture(model), GPU, engine("vllm"), ServingConfig(gpus))
    got = simulate_load_uncached(
        sm,
        request_rate=rate,
        input_tokens=s_in,
        output_tokens=s_out,
        max_seqs=max_seqs,
        max_batched_tokens=8192,
        n_requests=150,
        seed=5,
    )
    want = _iteration_by_iteration(sm, rate, s_in, s_out, max_seqs, 8192, 150, seed=5)
    assert got.iterations == want["iterations"]
    assert got.mean_batch == pytest.approx(want["mean_batch"], rel=1e-12)
    for name in ("ttft_ms", "tpot_ms", "e2e_ms"):
        assert getattr(got, name) == pytest.approx(want[name], rel=1e-9, abs=1e-9), name


def test_a_decode_run_in_closed_form_equals_the_cumulative_sum() -> None:
    """_decode_run against the direct sum: random lines with and without a crossover (compute
    overtaking memory inside the run), stop times before, inside and past the run."""
    import numpy as np

    from app.estimators.simulation import _decode_run

    rng = np.random.default_rng(11)
    for _ in range(400):
        a1, a2 = rng.uniform(1e-3, 3e-2, 2)
        b1, b2 = rng.choice([0.0, 1e-6, 1e-5, 3e-4], 2) * rng.uniform(0.5, 2, 2)
        k_max = int(rng.integers(1, 400))
        dts = np.maximum(a1 + b1 * np.arange(k_max), a2 + b2 * np.arange(k_max))
        ends = np.cumsum(dts)
        assert _decode_run(a1, b1, a2, b2, k_max, None) == (k_max, pytest.approx(ends[-1]))
        for until in (1e-9, ends[0], float(rng.uniform(0, ends[-1] * 1.2)), ends[-1] * 2):
            j = 1 + int(np.searchsorted(ends[:-1], until, side="left"))
            n, secs = _decode_run(a1, b1, a2, b2, k_max, until)
            assert n == j or abs(ends[j - 1] - until) < 1e-12 * until  # ties aside
            assert secs == pytest.approx(ends[n - 1], rel=1e-12)


def test_scheduler_limits_follow_each_engines_documented_defaults() -> None:
    from app.estimators.engines import scheduler_limits

    h100, a100 = GPU, catalog_gpu("a100_sxm_80gb")
    rtx = catalog_gpu("rtx_4090")
    vllm = engine("vllm")
    # vLLM V1 get_batch_defaults: >= 70 GiB and not an A100 -> 1024 / 8192 (server)
    assert (
        scheduler_limits(vllm, h100).max_num_seqs,
        scheduler_limits(vllm, h100).max_num_batched_tokens,
    ) == (1024, 8192)
    assert scheduler_limits(vllm, h100, offline=True).max_num_batched_tokens == 16384
    for small in (a100, rtx):
        lim = scheduler_limits(vllm, small)
        assert (lim.max_num_seqs, lim.max_num_batched_tokens) == (256, 2048)
    assert scheduler_limits(engine("sglang"), rtx).max_num_batched_tokens == 2048
    assert scheduler_limits(engine("sglang"), h100).max_num_batched_tokens == 8192
    assert scheduler_limits(engine("tensorrt-llm"), h100).max_num_seqs == 2048
    assert scheduler_limits(engine("llama.cpp"), h100).max_num_seqs == 4


def test_max_load_runs_within_the_kv_and_scheduler_limits() -> None:
    from app.estimators.simulation import max_load, running_limits

    eng = engine("llama.cpp")
    est = estimate_inference(ARCH, GPU, eng, ServingConfig(), Workload(IN, OUT))
    sm = StepModel.build(ARCH, GPU, eng, ServingConfig())
    lim = running_limits(eng, sm, est.memory)
    assert lim.max_seqs == min(est.memory.max_batch_size, 4) == 4
    r = max_load(sm, lim, input_tokens=IN, output_tokens=OUT, n_requests=200)
    assert r.mean_batch <= 4 + 1e-9
    # the scheduler cap binds: four llama.cpp slots sustain far less than vLLM's 1024
    vllm = engine("vllm")
    sm_v = StepModel.build(ARCH, GPU, vllm, ServingConfig())
    lim_v = running_limits(vllm, sm_v, est.memory)
    assert lim_v.max_seqs == min(est.memory.max_batch_size, 1024) > 4
    r_v = max_load(sm_v, lim_v, input_tokens=IN, output_tokens=OUT, n_requests=200)
    assert r_v.output_tokens_per_s > 5 * r.output_tokens_per_s


def test_max_load_refuses_when_one_request_does_not_fit() -> None:
    from app.estimators.simulation import max_load, running_limits

    big = catalog_architecture("llama_3_1_70b")
    eng = engine("vllm")
    est = estimate_inference(big, GPU, eng, ServingConfig(), Workload(IN, OUT))
    sm = StepModel.build(big, GPU, eng, ServingConfig())
    with pytest.raises(SimulationError):
        max_load(sm, running_limits(eng, sm, est.memory), input_tokens=IN, output_tokens=OUT)


def test_capacity_plan_never_exceeds_max_load() -> None:
    from app.estimators.simulation import max_load, running_limits

    eng = engine("vllm")
    est = estimate_inference(ARCH, GPU, eng, ServingConfig(), Workload(IN, OUT))
    lim = running_limits(eng, SM, est.memory)
    top = max_load(SM, lim, input_tokens=IN, output_tokens=OUT)
    plan = plan_capacity(
        SM,
        requests_per_day=1e6,
        input_tokens=IN,
        output_tokens=OUT,
        ttft_slo_ms=1e6,
        tpot_slo_ms=1e6,
        max_seqs=lim.max_seqs,
        max_batched_tokens=lim.max_batched_tokens,
        price_per_gpu_hour=None,
    )
    # with SLOs that never bind, the bisection's top is the saturated capacity itself
    assert plan.max_rate_per_replica <= top.requests_per_s
    assert plan.max_rate_per_replica > 0.8 * top.requests_per_s


@pytest.mark.parametrize("eng_name", ["vllm", "hf-transformers", "ideal"])
@pytest.mark.parametrize(("model", "gpus"), [("llama_3_1_8b", 1), ("mixtral_8x7b", 2)])
def test_step_model_fast_path_is_the_operator_formula(eng_name: str, model: str, gpus: int) -> None:
    """StepModel evaluates the operator sum written out for speed; it must equal
    app.estimators.operators.step_time (which the vectorised sweep uses) and decode_line must
    reproduce pure decode steps."""
    from app.estimators.operators import step_time

    arch = catalog_architecture(model)
    sm = StepModel.build(
        arch, GPU, engine(eng_name), ServingConfig(n_gpus=gpus), ideal=eng_name == "ideal"
    )
    for args in [
        (1, 700, 0, 0, 0),
        (24, 24 * 900, 2, 1200, 2 * 600 * 600),
        (0, 0, 4, 8192, 4 * 2048**2),
        (256, 256 * 3000, 0, 0, 0),
    ]:
        t, c, m, comm = step_time(sm.coeffs, *args, max)
        got = sm.step(*args)
        assert got.time_s == pytest.approx(t, rel=1e-12)
        assert sm.time(*args) == pytest.approx(t, rel=1e-12)  # the simulation's inner loop
        assert (got.compute_s, got.memory_s, got.comm_s) == pytest.approx((c, m, comm), rel=1e-12)
        n, ctx = args[0], args[1]
        if args[2] == 0 and n:
            a1, b1, a2, b2, extra = sm.decode_line(n)
            assert max(a1 + b1 * ctx, a2 + b2 * ctx) + extra == pytest.approx(t, rel=1e-9)


def test_time_parts_rebuild_the_step_time_for_every_engine() -> None:
    """The load simulation's cached per-shape parts give exactly StepModel.time (issue 19
    item 7: the inner loop pays one multiply-add)."""
    from app.estimators.engines import ENGINES
    from app.estimators.inference import ServingConfig, StepModel
    from app.estimators.reference_data import catalog_architecture, catalog_gpu

    arch, gpu = catalog_architecture("mixtral_8x7b"), catalog_gpu("a100_sxm_80gb")
    for name in ("vllm", "hf-transformers", "llama.cpp", "tensorrt-llm"):
        sm = StepModel.build(arch, gpu, ENGINES[name], ServingConfig(n_gpus=2))
        for nd, ctx, npre, pt, sq in [
            (3, 5e3, 2, 2048, 2 * 1024**2),
            (0, 0.0, 1, 512, 512**2),
            (100, 1e5, 0, 0, 0),
            (1, 10.0, 0, 0, 0),
        ]:
            g0, att, floor, extra = sm.time_parts(nd, npre, pt, sq)
            expected = sm.time(nd, ctx, npre, pt, sq)
            assert max(g0 + att * ctx, floor) + extra == pytest.approx(expected, rel=1e-12)
