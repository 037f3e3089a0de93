"""What this machine can do: the measurements behind the inline limits and caps of
``app/jobs/limits.py`` (issue 17).

    python -m bench.jobs_capacity [--skip-pdf] [--skip-torch]

Prints CPU seconds (``time.process_time``, so the figures do not depend on what else the machine
runs) of

* a Chinchilla fit of Sardana et al.'s 47 runs and of tiles of them (470, 4,700 runs), without
  and with bootstrap resamples: the fit's base cost and the cost of one resample;
* the conditional-law fit with its progressive check, per run per fit;
* the PDF audit report by evaluation results (in process, a fresh SQLite database with the demo
  data; JSON and HTML beside it);
* the peak memory of the torch decode measurement (resident-set growth of a fresh process)
  against ``decode_memory_bytes``'s estimate from the shapes.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import subprocess
import sys
import time
from importlib import resources

import numpy as np

from bench._inprocess import demo_app


def _cpu(fn, *args, **kwargs) -> float:  # type: ignore[no-untyped-def]
    t = time.process_time()
    fn(*args, **kwargs)
    return time.process_time() - t


def fits() -> None:
    from app.estimators.chinchilla import FITS
    from app.scaling import conditional, fitting

    text = (resources.files("app.scaling") / "data" / "sardana_training_runs.csv").read_text()
    rows = list(csv.DictReader(text.splitlines()))
    n, d, loss = (np.array([float(r[k]) for r in rows]) for k in ("params", "tokens", "loss"))
    for reps in (1, 10, 100):
        nn, dd, ll = np.tile(n, reps), np.tile(d, reps), np.tile(loss, reps)
        base = min(_cpu(fitting.fit_chinchilla, nn, dd, ll) for _ in range(2))
        boot = _cpu(fitting.fit_chinchilla, nn, dd, ll, bootstrap=20)
        print(
            f"chinchilla fit, {nn.size} runs: {base:.2f} s; per resample {(boot - base) / 20:.3f} s"
        )
    ref = FITS["epoch_2024"]
    for n_scales, per in ((12, 417), (500, 10)):
        sizes = np.geomspace(8e7, 1e9, n_scales)
        runs = conditional.synthetic_runs(
            conditional.PUBLISHED["bian_task3"], [(s, ref.loss(s, 100 * s)) for s in sizes], per
        )
        if n_scales == 500:  # every run its own scale: the heaviest progressive check
            runs = conditional.Runs(
                runs.x,
                runs.r,
                runs.loss,
                runs.reference_loss,
                [f"s{i}" for i in range(len(runs.x))],
                runs.n_non_embed,
            )
        scales = len(set(runs.scale))
        cpu = _cpu(conditional.fit_conditional, runs.x, runs.r, runs.loss, runs.reference_loss)
        cpu += _cpu(conditional.progressive, runs)
        units = len(runs.x) * scales
        print(
            f"conditional fit, {len(runs.x)} runs in {scales} scales: {cpu:.2f} s "
            f"({cpu / units * 1e6:.2f} µs per run per fit)"
        )


def pdf_reports() -> None:
    with demo_app() as demo:
        from app.auth.permissions import Role
        from app.jobs import limits

        client = demo.client
        admin, gov = demo.headers(Role.admin), demo.headers(Role.governance)
        dep = client.get("/api/v1/deployments", headers=admin).json()["items"][0]["id"]
        limits.INLINE_MAX_REPORT_RESULTS = 10**9  # time every size inline
        done = 0
        for target in (200, 800, 2000, 4000):
            while done < target:
                k = min(1000, target - done)
                results = [
                    {
                        "segment": f"seg{(done + i) // 2}",
                        "metric": "accuracy",
                        "phase": ("before", "after")[i % 2],
                        "value": 0.8 + 0.1 * (((done + i) // 2) % 3 == 0),
                    }
                    for i in range(k)
                ]
                r = client.post(
                    f"/api/v1/deployments/{dep}/evaluations",
                    headers=gov,
                    json={"label": f"e{done}", "results": results},
                )
                assert r.status_code == 201, r.text[:300]
                done += k
            url = f"/api/v1/deployments/{dep}/report"
            cpu = {
                f: _cpu(client.get, url, params={"format": f}, headers=admin)
                for f in ("json", "html", "pdf")
            }
            print(
                f"report with {done} evaluation results: "
                + ", ".join(f"{k} {v:.2f} s" for k, v in cpu.items())
            )


MEASURE = """
import resource, sys
import torch  # noqa: F401 - imported before the baseline
from app.estimators.calibration import decode_memory_bytes, measure_decode
from app.estimators.reference_data import catalog_architecture
a = catalog_architecture(sys.argv[1])
batch, ctx, layers = (int(v) for v in sys.argv[2:5])
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
measure_decode([a], batch=batch, context=ctx, max_layers=layers, iters=3, warmup=1)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
est = decode_memory_bytes([a], batch=batch, context=ctx, max_layers=layers)
print(f"torch decode {sys.argv[1]} batch {batch} x {ctx}, {layers} layers: resident growth "
      f"{(peak - base) / 2**20:.0f} MiB, estimate {est / 2**20:.0f} MiB "
      f"({est / (peak - base):.2f}x)")
"""


def torch_memory() -> None:
    for args in (
        ("llama_3_2_1b", 8, 1024, 2),
        ("llama_3_2_1b", 64, 4096, 2),
        ("llama_3_1_8b", 8, 4096, 2),
    ):
        subprocess.run([sys.executable, "-c", MEASURE, *map(str, args)], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-pdf", action="store_true")
    parser.add_argument("--skip-torch", action="store_true")
    args = parser.parse_args()
    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}"
    )
    fits()
    if not args.skip_pdf:
        pdf_reports()
    if not args.skip_torch:
        torch_memory()


if __name__ == "__main__":
    main()
