"""Decode-step speed of the paper's 1B designs (LLaMA-3.2-1B, Panda-1B, Surefire-1B) with torch
on this machine's accelerator, against the step model's predicted speed-ups.

    python -m bench.design_decode [--batch 64] [--context 5120] [--gpu h100_sxm_80gb]
"""

from __future__ import annotations

import argparse

from app.estimators.calibration import measure_decode
from app.estimators.engines import ENGINES
from app.estimators.inference import ServingConfig, StepModel
from app.estimators.reference_data import catalog_architecture, catalog_gpu

KEYS = ("llama_3_2_1b", "bian_panda_1b", "bian_surefire_1b")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--context", type=int, default=5120)
    p.add_argument("--gpu", default="h100_sxm_80gb")
    p.add_argument("--max-layers", type=int, default=0, help="0: every layer")
    a = p.parse_args()
    archs = [catalog_architecture(k) for k in KEYS]
    res = measure_decode(
        archs, batch=a.batch, context=a.context, max_layers=a.max_layers or None, iters=20
    )
    gpu = catalog_gpu(a.gpu)
    pred = [
        StepModel.build(x, gpu, ENGINES["vllm"], ServingConfig()).decode(a.batch, a.context).time_s
        * 1e3
        for x in archs
    ]
    print(
        f"device {res.device} ({res.dtype}, torch {res.torch_version}); batch {a.batch}, "
        f"context {a.context}; predicted on {gpu.name} (vllm profile)"
    )
    for x, m, pr, n in zip(archs, res.step_ms, pred, res.layers_measured, strict=True):
        print(
            f"  {x.name:<14} {n:>2}/{x.n_layers} layers  measured {m:8.3f} ms/step "
            f"({a.batch / m * 1e3:9.0f} tok/s, x{res.step_ms[0] / m:.2f})  predicted "
            f"{pr:8.3f} ms (x{pred[0] / pr:.2f})"
        )
    for note in res.notes:
        print("  note:", note)


if __name__ == "__main__":
    main()
