"""Compare four portfolios, load simulation included (issue 6): median of repeated runs.

    python -m bench.portfolios

1. pure: evaluate four portfolios on the demo "Code assistant" deployment (Mixtral 8x7B on 2×H100,
   900k requests/day) and compare them — the numerical work alone;
2. HTTP: ``GET /api/v1/portfolios/compare?ids=…`` in process against a fresh SQLite database with
   the demo data (auth, queries, evaluation, JSON). Target: < 300 ms median.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from dataclasses import replace

from app.estimators.engines import ENGINES
from app.estimators.inference import ServingConfig
from app.estimators.interventions import Scenario
from app.estimators.portfolio import AxisData, Item, compare, evaluate_portfolio
from app.estimators.reference_data import catalog_architecture, catalog_gpu
from app.rules.reference import catalog
from bench._inprocess import demo_app

PORTFOLIOS = {
    "as is": [],
    "serving": [
        Item("serving_optimization", "paged_attention_speculative"),
        Item("serving_optimization", "quantization"),
    ],
    "reasoning": [
        Item("reasoning_compute", "cot_self_consistency", {"samples": 5}),
        Item("serving_optimization", "speculative_decoding"),
    ],
    "retrieval + PEFT": [Item("retrieval", "rag", {"corpus_tokens": 5e8}), Item("peft", "qlora")],
}


def _median_ms(fn, repeats: int = 7) -> float:  # type: ignore[no-untyped-def]
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(samples)


def pure() -> float:
    c = catalog()
    gpu = replace(catalog_gpu("h100_sxm_80gb"), price_per_hour_usd=2.5)
    base = Scenario(
        catalog_architecture("mixtral_8x7b"),
        gpu,
        ENGINES["sglang"],
        ServingConfig(n_gpus=2),
        2500,
        120,
        900_000,
        300,
        25,
    )
    data = AxisData(c["matrix"], c["profiles"], {}, c["techniques"], {})

    def run() -> None:
        evals = {n: evaluate_portfolio(base, items, data) for n, items in PORTFOLIOS.items()}
        compare(evals, {n: n for n in evals})

    run()  # warm-up
    return _median_ms(run)


def http() -> float:
    with demo_app() as demo:
        from app.auth.permissions import Role

        client = demo.client
        h = demo.headers(Role.architect)
        deps = {
            d["name"]: d["id"] for d in client.get("/api/v1/deployments", headers=h).json()["items"]
        }
        ids = []
        for name, items in PORTFOLIOS.items():
            body = {
                "deployment_id": deps["Code assistant"],
                "name": name,
                "items": [
                    {"axis": i.axis, "technique": i.technique, "params": dict(i.params)}
                    for i in items
                ],
            }
            ids.append(client.post("/api/v1/portfolios", json=body, headers=h).json()["id"])
        url = "/api/v1/portfolios/compare?ids=" + ",".join(map(str, ids))
        assert client.get(url, headers=h).status_code == 200
        return _median_ms(lambda: client.get(url, headers=h))


def main() -> None:
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}"
    )
    print(
        f"compare 4 portfolios (evaluate + load simulation + compare), pure: median {pure():.0f} ms"
    )
    print(
        f"GET /api/v1/portfolios/compare (4 ids, in process, SQLite): median {http():.0f} ms "
        f"(target < 300 ms)"
    )


if __name__ == "__main__":
    main()
