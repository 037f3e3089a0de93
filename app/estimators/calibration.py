"""GPU-backed calibration: measure the local accelerator with torch and compare the estimator.

Measures achieved matmul FLOP/s and device memory bandwidth, then times prefill and decode steps of
a LLaMA-style decoder built in torch with the exact shapes of an architecture (random weights; a
slice of layers scaled up when the model does not fit). The efficiency factors that make the
roofline match the measurements are fitted with leave-one-out, so the reported error of the
calibrated estimator is measured on points its factors were not fitted to.

Runs on CUDA when present, else on the CPU (useful only for small shapes). torch is imported
lazily: the rest of ``app.estimators`` does not need it.

Usage: ``python -m app.estimators.calibration --model llama_3_1_8b --gpu h100_sxm_80gb``
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from app.estimators.architecture import Architecture
from app.estimators.engines import ENGINES
from app.estimators.fitting import Observation, fit_roofline, leave_one_group_out
from app.estimators.hardware import GpuSpec
from app.estimators.inference import ServingConfig, Workload, estimate_inference
from app.estimators.reference_data import catalog_architecture, catalog_gpu

CPU_MATMUL_N = 1024
CPU_COPY_GIB = 0.25


@dataclass(frozen=True, slots=True)
class PointMeasurement:
    phase: str  # "prefill" | "decode"
    batch: int
    tokens: int  # prefill: prompt length; decode: context length
    measured_ms: float
    bound_ms: float

    @property
    def efficiency(self) -> float:
        return self.bound_ms / self.measured_ms


@dataclass(frozen=True, slots=True)
class CalibrationResult:
    device: str
    torch_version: str
    dtype: str
    gpu_key: str
    model: str
    layers_measured: int
    layers_total: int
    matmul_tflops: float
    bandwidth_tbps: float
    spec_bf16_tflops: float
    spec_bandwidth_tbps: float
    points: list[PointMeasurement]
    prefill_efficiency: float
    decode_efficiency: float
    loo_mape_prefill: float
    loo_mape_decode: float
    bound_violations: int
    decode_graphs: bool
    elapsed_s: float
    created_at: str
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["points"] = [{**asdict(p), "efficiency": p.efficiency} for p in self.points]
        return d


def _median_time(
    fn: Callable[[], Any], sync: Callable[[], None], *, warmup: int, iters: int
) -> float:
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def fit_efficiency(points: Sequence[PointMeasurement]) -> tuple[float, float]:
    """Median efficiency, and the leave-one-out mean absolute percentage error of the calibrated
    prediction (bound / efficiency fitted on the other points)."""
    effs = [p.efficiency for p in points]
    if not effs:
        return float("nan"), float("nan")
    if len(effs) == 1:
        return effs[0], float("nan")
    errs = []
    for i, p in enumerate(points):
        eff = statistics.median(effs[:i] + effs[i + 1 :])
        predicted = p.bound_ms / eff
        errs.append(abs(predicted - p.measured_ms) / p.measured_ms)
    return statistics.median(effs), 100 * statistics.median(errs)


def run_calibration(
    arch: Architecture,
    gpu: GpuSpec,
    *,
    prefill_points: Sequence[tuple[int, int]],
    decode_points: Sequence[tuple[int, int]],
    max_layers: int | None = None,
    device: str | None = None,
    matmul_n: int = 8192,
    copy_gib: float = 2.0,
    warmup: int = 3,
    iters: int = 10,
    progress: Callable[[int, str], None] | None = None,
) -> CalibrationResult:
    """Measure; ``prefill_points`` are (batch, prompt), ``decode_points`` (batch, context)."""
    t_start = time.perf_counter()
    torch, dev, dtype, sync, name = _device(device)
    cuda = dev.type == "cuda"
    notes: list[str] = []
    if not cuda and (matmul_n > CPU_MATMUL_N or copy_gib > CPU_COPY_GIB):
        # A GPU-sized 8192³ matmul takes minutes on a CPU: measure the peaks at CPU sizes.
        matmul_n, copy_gib = min(matmul_n, CPU_MATMUL_N), min(copy_gib, CPU_COPY_GIB)
        notes.append(f"CPU run: matmul {matmul_n}³ and a {copy_gib} GiB copy")
    torch.manual_seed(0)

    # 1. matmul FLOP/s and copy bandwidth
    report = progress or (lambda _p, _m: None)
    total_points = max(1, len(prefill_points) + len(decode_points))
    report(2, "measuring matmul FLOP/s and copy bandwidth")
    matmul_tflops = _matmul_tflops(torch, dev, dtype, matmul_n, sync, warmup, iters)
    bandwidth_tbps = _copy_tbps(torch, dev, dtype, copy_gib, sync, warmup, iters)

    # 2. the decoder
    layers = min(arch.n_layers, max_layers or arch.n_layers)
    model = _TorchDecoder(arch, layers, dev, dtype)
    scale = arch.n_layers / layers
    if layers < arch.n_layers:
        notes.append(f"{layers} of {arch.n_layers} layers measured; layer time scaled by {scale:g}")
    points: list[PointMeasurement] = []
    ideal = ENGINES["ideal"]
    for batch, prompt in prefill_points:
        report(10 + 85 * len(points) // total_points, f"prefill batch {batch} x {prompt}")
        fn = model.prefill_fn(batch, prompt)
        ms = _scaled(model, fn, sync, scale, warmup, iters, batch, 1) * 1e3
        est = estimate_inference(arch, gpu, ideal, ServingConfig(), Workload(prompt, 1, batch))
        points.append(
            PointMeasurement("prefill", batch, prompt, ms, est.timing.prefill.time_s * 1e3)
        )
    graphs = cuda
    for batch, ctx in decode_points:
        report(10 + 85 * len(points) // total_points, f"decode batch {batch} at context {ctx}")
        step = model.decode_fn(batch, ctx, graphs=graphs)
        if step is None:
            graphs = False
            notes.append("CUDA graph capture failed; decode timed eagerly")
            step = model.decode_fn(batch, ctx, graphs=False)
            assert step is not None
        fn = step
        ms = _scaled(model, fn, sync, scale, warmup, iters, batch, 1) * 1e3
        # A decode step at context ctx: the estimator's mean context is s_in + (s_out-1)/2.
        est = estimate_inference(arch, gpu, ideal, ServingConfig(), Workload(ctx, 1, batch))
        points.append(PointMeasurement("decode", batch, ctx, ms, est.timing.decode.time_s * 1e3))
        del fn
    pre = [p for p in points if p.phase == "prefill"]
    dec = [p for p in points if p.phase == "decode"]
    pe, pm = fit_efficiency(pre)
    de, dm = fit_efficiency(dec)
    return CalibrationResult(
        device=name,
        torch_version=torch.__version__,
        dtype=str(dtype).replace("torch.", ""),
        gpu_key=gpu.key,
        model=arch.name,
        layers_measured=layers,
        layers_total=arch.n_layers,
        matmul_tflops=matmul_tflops,
        bandwidth_tbps=bandwidth_tbps,
        spec_bf16_tflops=gpu.bf16_tflops_dense,
        spec_bandwidth_tbps=gpu.bandwidth_tbps,
        points=points,
        prefill_efficiency=pe,
        decode_efficiency=de,
        loo_mape_prefill=pm,
        loo_mape_decode=dm,
        bound_violations=sum(p.measured_ms < p.bound_ms for p in points),
        decode_graphs=graphs,
        elapsed_s=time.perf_counter() - t_start,
        created_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        notes=notes,
    )


# --- memory the measurements need, from the shapes alone (checked before a job starts) -------
CPU_BYTES_PER_ELEMENT = 4  # fp32 on a CPU (bf16 on CUDA halves every figure below)


def _weights_elements(arch: Architecture, layers: int) -> int:
    d, f, h, kv, dh = arch.d_model, arch.d_ff, arch.n_heads, arch.n_kv_heads, arch.d_head
    per_layer = 2 * d * h * dh + 2 * d * kv * dh + 3 * d * f + 2 * d
    # + the LM head, and the randn temporary of the largest matrix while it is scaled by 0.02
    return layers * per_layer + d * arch.vocab + d + max(d * arch.vocab, d * f, d * h * dh)


def _step_elements(arch: Architecture, layers: int, batch: int, q: int, ctx: int) -> int:
    """KV caches at ``ctx`` for ``batch`` sequences, and one step's activations for ``q`` new
    tokens each (the attention scores materialised by the CPU path included)."""
    d, f, h, kv, dh = arch.d_model, arch.d_ff, arch.n_heads, arch.n_kv_heads, arch.d_head
    caches = layers * 2 * batch * kv * ctx * dh
    acts = batch * q * (4 * d + 2 * h * dh + 2 * kv * dh + 3 * f) + batch * h * q * ctx
    return caches + acts + batch * arch.vocab


def decode_memory_bytes(
    archs: Sequence[Architecture],
    *,
    batch: int,
    context: int,
    max_layers: int | None,
    bytes_per_element: int = CPU_BYTES_PER_ELEMENT,
) -> int:
    """Peak memory of :func:`measure_decode` (the designs are built one at a time)."""
    peak = 0
    for a in archs:
        layers = min(a.n_layers, max_layers or a.n_layers)
        peak = max(
            peak, _weights_elements(a, layers) + _step_elements(a, layers, batch, 1, context)
        )
    return peak * bytes_per_element


def calibration_memory_bytes(
    arch: Architecture,
    *,
    prefill_points: Sequence[tuple[int, int]],
    decode_points: Sequence[tuple[int, int]],
    max_layers: int | None,
    matmul_n: int,
    copy_gib: float,
    cuda: bool = False,
    bytes_per_element: int = CPU_BYTES_PER_ELEMENT,
) -> int:
    """Peak memory of :func:`run_calibration`: the peak probes (matmul, copy; CPU-sized off
    CUDA), then the decoder with two points' caches alive while one replaces the other."""
    if not cuda:
        matmul_n, copy_gib = min(matmul_n, CPU_MATMUL_N), min(copy_gib, CPU_COPY_GIB)
    probes = max(3 * matmul_n**2 * bytes_per_element, int(2 * copy_gib * 2**30))
    layers = min(arch.n_layers, max_layers or arch.n_layers)
    steps = [_step_elements(arch, layers, b, s, s) for b, s in prefill_points]
    steps += [_step_elements(arch, layers, b, 1, c) for b, c in decode_points]
    model = _weights_elements(arch, layers) + 2 * max(steps, default=0)
    return max(probes, model * bytes_per_element)


def _device(device: str | None) -> tuple[Any, Any, Any, Callable[[], None], str]:
    """torch, the device (CUDA when present), its dtype (bf16 on CUDA, fp32 on CPU), a
    synchronise function and the device's name."""
    import torch

    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    cuda = dev.type == "cuda"
    sync: Callable[[], None] = torch.cuda.synchronize if cuda else (lambda: None)
    name = torch.cuda.get_device_name(dev) if cuda else "cpu"
    return torch, dev, torch.bfloat16 if cuda else torch.float32, sync, name


@dataclass(frozen=True, slots=True)
class DecodeMeasurement:
    device: str
    dtype: str
    torch_version: str
    batch: int
    context: int
    step_ms: list[float]  # one per architecture, whole model (sliced layers scaled)
    layers_measured: list[int]
    notes: list[str]


def measure_decode(
    archs: Sequence[Architecture],
    *,
    batch: int,
    context: int,
    max_layers: int | None = 2,
    device: str | None = None,
    warmup: int = 3,
    iters: int = 10,
    progress: Callable[[int, str], None] | None = None,
) -> DecodeMeasurement:
    """Time one decode step (batch sequences at ``context`` tokens of KV cache) of each
    architecture with random weights on the local device: the scaling lab's check of its
    designs' relative speed."""
    torch, dev, dtype, sync, name = _device(device)
    torch.manual_seed(0)
    report = progress or (lambda _p, _m: None)
    steps, measured, notes = [], [], []
    for i, arch in enumerate(archs):
        report(5 + 90 * i // max(1, len(archs)), f"decode step of {arch.name}")
        layers = min(arch.n_layers, max_layers or arch.n_layers)
        model = _TorchDecoder(arch, layers, dev, dtype)
        fn = model.decode_fn(batch, context, graphs=dev.type == "cuda")
        if fn is None:
            notes.append(f"{arch.name}: CUDA graph capture failed; timed eagerly")
            fn = model.decode_fn(batch, context, graphs=False)
        assert fn is not None
        scale = arch.n_layers / layers
        steps.append(_scaled(model, fn, sync, scale, warmup, iters, batch, 1) * 1e3)
        measured.append(layers)
        del model, fn
    if any(n < a.n_layers for n, a in zip(measured, archs, strict=True)):
        notes.append("layers sliced; the measured layers' time scaled to the full depth")
    return DecodeMeasurement(
        name,
        str(dtype).replace("torch.", ""),
        torch.__version__,
        batch,
        context,
        steps,
        measured,
        notes,
    )


def _scaled(
    model: _TorchDecoder,
    fn: Callable[[], Any],
    sync: Callable[[], None],
    scale: float,
    warmup: int,
    iters: int,
    batch: int,
    q_tokens: int,
) -> float:
    """Time ``fn`` (all measured layers + head); scale the layer part when layers were sliced."""
    total = _median_time(fn, sync, warmup=warmup, iters=iters)
    if scale == 1.0:
        return total
    head = _median_time(model.head_fn(batch * q_tokens), sync, warmup=warmup, iters=iters)
    # Two separate medians: at tiny shapes timer noise can put the head above the total.
    return head + max(total - head, 0.0) * scale


def _matmul_tflops(
    torch: Any, dev: Any, dtype: Any, n: int, sync: Callable[[], None], warmup: int, iters: int
) -> float:
    a = torch.randn(n, n, device=dev, dtype=dtype)
    b = torch.randn(n, n, device=dev, dtype=dtype)
    t = _median_time(lambda: a @ b, sync, warmup=warmup, iters=iters)
    return 2 * n**3 / t / 1e12


def _copy_tbps(
    torch: Any, dev: Any, dtype: Any, gib: float, sync: Callable[[], None], warmup: int, iters: int
) -> float:
    """Device-to-device copy, counting bytes read and written."""
    n_el = int(gib * 2**30 / (2 if dtype == torch.bfloat16 else 4))
    src = torch.empty(n_el, device=dev, dtype=dtype)
    dst = torch.empty_like(src)
    t = _median_time(lambda: dst.copy_(src), sync, warmup=warmup, iters=iters)
    return float(2 * src.numel() * src.element_size() / t / 1e12)


class _TorchDecoder:
    """LLaMA-style decoder with random weights: RMSNorm, GQA attention (SDPA), SwiGLU MLP, LM head.
    Rotary embeddings are left out (elementwise; a small share of the time)."""

    def __init__(self, arch: Architecture, n_layers: int, dev: Any, dtype: Any) -> None:
        import torch

        if arch.is_moe:
            raise ValueError("calibration builds dense decoders; pick a dense architecture")
        self.arch, self.dev, self.dtype, self.torch = arch, dev, dtype, torch
        d, f, h, kv, dh = arch.d_model, arch.d_ff, arch.n_heads, arch.n_kv_heads, arch.d_head

        def w(*shape: int) -> Any:
            return torch.randn(*shape, device=dev, dtype=dtype) * 0.02

        self.layers = [
            {
                "wq": w(d, h * dh),
                "wk": w(d, kv * dh),
                "wv": w(d, kv * dh),
                "wo": w(h * dh, d),
                "wg": w(d, f),
                "wu": w(d, f),
                "wd": w(f, d),
                "n1": torch.ones(d, device=dev, dtype=dtype),
                "n2": torch.ones(d, device=dev, dtype=dtype),
            }
            for _ in range(n_layers)
        ]
        self.norm = torch.ones(d, device=dev, dtype=dtype)
        self.lm_head = w(d, arch.vocab)

    def _rms(self, x: Any, g: Any) -> Any:
        return x * self.torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5) * g

    def _layer(
        self, x: Any, p: dict[str, Any], kc: Any, vc: Any, pos: Any, ctx: int, causal: bool
    ) -> Any:
        torch = self.torch
        a = self.arch
        b, s, _ = x.shape
        hdn = self._rms(x, p["n1"])
        q = (hdn @ p["wq"]).view(b, s, a.n_heads, a.d_head).transpose(1, 2)
        k = (hdn @ p["wk"]).view(b, s, a.n_kv_heads, a.d_head).transpose(1, 2)
        v = (hdn @ p["wv"]).view(b, s, a.n_kv_heads, a.d_head).transpose(1, 2)
        kc.index_copy_(2, pos, k)
        vc.index_copy_(2, pos, v)
        o = torch.nn.functional.scaled_dot_product_attention(
            q, kc[:, :, :ctx], vc[:, :, :ctx], is_causal=causal, enable_gqa=True
        )
        x = x + o.transpose(1, 2).reshape(b, s, a.n_heads * a.d_head) @ p["wo"]
        h2 = self._rms(x, p["n2"])
        return x + (torch.nn.functional.silu(h2 @ p["wg"]) * (h2 @ p["wu"])) @ p["wd"]

    def _caches(self, batch: int, ctx: int) -> list[tuple[Any, Any]]:
        shape = (batch, self.arch.n_kv_heads, ctx, self.arch.d_head)
        return [
            (
                self.torch.zeros(shape, device=self.dev, dtype=self.dtype),
                self.torch.zeros(shape, device=self.dev, dtype=self.dtype),
            )
            for _ in self.layers
        ]

    def prefill_fn(self, batch: int, prompt: int) -> Callable[[], Any]:
        torch = self.torch
        caches = self._caches(batch, prompt)
        x0 = torch.randn(batch, prompt, self.arch.d_model, device=self.dev, dtype=self.dtype)
        pos = torch.arange(prompt, device=self.dev)

        def run() -> Any:
            with torch.inference_mode():
                x = x0
                for p, (kc, vc) in zip(self.layers, caches, strict=True):
                    x = self._layer(x, p, kc, vc, pos, prompt, True)
                return self._rms(x[:, -1:], self.norm) @ self.lm_head

        return run

    def decode_fn(self, batch: int, ctx: int, *, graphs: bool) -> Callable[[], Any] | None:
        torch = self.torch
        caches = self._caches(batch, ctx)
        x0 = torch.randn(batch, 1, self.arch.d_model, device=self.dev, dtype=self.dtype)
        pos = torch.tensor([ctx - 1], device=self.dev)

        def step() -> Any:
            with torch.inference_mode():
                x = x0
                for p, (kc, vc) in zip(self.layers, caches, strict=True):
                    x = self._layer(x, p, kc, vc, pos, ctx, False)
                return self._rms(x, self.norm) @ self.lm_head

        if not graphs:
            return step
        try:
            stream = torch.cuda.Stream()
            stream.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(stream):
                for _ in range(2):
                    step()
            torch.cuda.current_stream().wait_stream(stream)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                step()
            replay: Callable[[], Any] = graph.replay
            return replay
        except RuntimeError:
            return None

    def head_fn(self, rows: int) -> Callable[[], Any]:
        x = self.torch.randn(rows, self.arch.d_model, device=self.dev, dtype=self.dtype)
        return lambda: self._rms(x, self.norm) @ self.lm_head


# --- command line (works without the web app or database) -----------------------------------


def _pairs(text: str) -> list[tuple[int, int]]:
    out = []
    for item in text.split(","):
        b, _, n = item.partition("x")
        out.append((int(b), int(n)))
    return out


def observations_from_results(results: Sequence[dict[str, Any]], phase: str) -> list[Observation]:
    """Calibration JSON results (``CalibrationResult.as_dict``) -> fitting observations."""
    return [
        Observation(
            group=r["model"],
            n_layers=int(r["layers_total"]),
            bound_s=p["bound_ms"] / 1e3,
            measured_s=p["measured_ms"] / 1e3,
        )
        for r in results
        for p in r["points"]
        if p["phase"] == phase
    ]


def refit_report(paths: Sequence[str]) -> str:
    """Fit efficiency + per-layer overhead per phase over saved results; leave-one-model-out."""
    results = [json.loads(open(p, encoding="utf-8").read()) for p in paths]
    lines = [
        f"devices: {sorted({r['device'] for r in results})}; models: "
        f"{[r['model'] for r in results]}"
    ]
    for phase in ("prefill", "decode"):
        obs = observations_from_results(results, phase)
        fit = fit_roofline(obs)
        loo = leave_one_group_out(obs) if len({o.group for o in obs}) > 1 else {}
        overhead_us = fit.overhead_per_layer_s * 1e6
        held_out = ", ".join(f"{g} {e:.1f}%" for g, e in loo.items())
        lines.append(
            f"{phase}: efficiency {fit.efficiency:.3f}, overhead {overhead_us:.1f} us/layer/step,"
            f" in-sample median APE {fit.median_ape:.1f}% (n={fit.n}); "
            f"leave-one-model-out median APE: {held_out}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "refit":
        sys.stdout.write(refit_report(argv[1:]) + "\n")
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="llama_3_1_8b")
    ap.add_argument("--gpu", default="h100_sxm_80gb", help="catalog key of the spec to compare")
    ap.add_argument(
        "--prefill", default="1x512,1x1024,1x2048,1x4096,4x1024", help="batch x prompt points"
    )
    ap.add_argument(
        "--decode",
        default="1x512,1x2048,8x1024,16x2048,32x1024,64x512",
        help="batch x context points",
    )
    ap.add_argument("--max-layers", type=int, default=None)
    ap.add_argument("--matmul-n", type=int, default=8192)
    ap.add_argument("--json", default=None, help="write the result here")
    args = ap.parse_args(argv)
    try:
        arch, gpu = catalog_architecture(args.model), catalog_gpu(args.gpu)
    except KeyError as exc:
        ap.error(str(exc))
    res = run_calibration(
        arch,
        gpu,
        prefill_points=_pairs(args.prefill),
        decode_points=_pairs(args.decode),
        max_layers=args.max_layers,
        matmul_n=args.matmul_n,
    )
    out = res.as_dict()
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(out, fh, indent=2)
    w = sys.stdout.write
    w(
        f"device {res.device}  torch {res.torch_version}  {res.dtype}  model {res.model} "
        f"({res.layers_measured}/{res.layers_total} layers)\n"
    )
    w(
        f"matmul {res.matmul_tflops:.1f} TFLOP/s (spec {res.spec_bf16_tflops:.1f}, "
        f"{100 * res.matmul_tflops / res.spec_bf16_tflops:.0f}%)  copy bandwidth "
        f"{res.bandwidth_tbps:.2f} TB/s (spec {res.spec_bandwidth_tbps:.2f}, "
        f"{100 * res.bandwidth_tbps / res.spec_bandwidth_tbps:.0f}%)\n"
    )
    w(f"{'phase':8} {'batch':>5} {'tokens':>7} {'measured ms':>12} {'bound ms':>10} {'eff':>6}\n")
    for p in res.points:
        w(
            f"{p.phase:8} {p.batch:5d} {p.tokens:7d} {p.measured_ms:12.3f} {p.bound_ms:10.3f} "
            f"{p.efficiency:6.3f}\n"
        )
    w(
        f"fitted efficiency: prefill {res.prefill_efficiency:.3f} (LOO median APE "
        f"{res.loo_mape_prefill:.1f}%), decode {res.decode_efficiency:.3f} (LOO median APE "
        f"{res.loo_mape_decode:.1f}%); bound violations {res.bound_violations}; "
        f"decode CUDA graphs {res.decode_graphs}; {res.elapsed_s:.1f}s\n"
    )
    for n in res.notes:
        w(f"note: {n}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
