"""Pricing the recommendation cards (issue 18): every candidate technique of each demo
deployment's failure modes, cold (no cache), as one assessment submission does.

    python -m bench.cards

Prints the seconds per deployment and per priced candidate. Each candidate runs the static
estimator and a 1,000-request load simulation per traffic stream, before and after. Target: an
assessment's cards priced in < 2 s on one core (it runs in the request; the result is cached per
deployment, technique and parameters).
"""

from __future__ import annotations

import platform
import time
from dataclasses import replace

from app.demo import DEMO_ASSESSMENTS, DEMO_DEPLOYMENTS
from app.estimators.candidates import CANDIDATES
from app.estimators.engines import ENGINES
from app.estimators.inference import ServingConfig
from app.estimators.interventions import Scenario
from app.estimators.reference_data import catalog_architecture, catalog_gpu
from app.estimators.simulation import simulate_load
from app.estimators.techniques import SHARE_LIMITED, technique_impact
from app.estimators.traffic import DEFAULT_PEAK_TO_AVERAGE

PRICE = {"a100_sxm_80gb": 2.70, "h100_sxm_80gb": 3.99}  # economics.md §1.2 defaults


def main() -> None:
    print(f"bench.cards on {platform.processor() or platform.machine()}")
    for d in DEMO_DEPLOYMENTS:
        gpu = replace(catalog_gpu(d["gpu"]), price_per_hour_usd=PRICE.get(d["gpu"]))
        s = Scenario(
            catalog_architecture(d["model"]),
            gpu,
            ENGINES[d["engine"]],
            ServingConfig(n_gpus=d["n_gpus"]),
            d["mean_input_tokens"],
            d["mean_output_tokens"],
            float(d["requests_per_day"]),
            d["ttft_slo_ms"],
            d["tpot_slo_ms"],
            peak_to_average=DEFAULT_PEAK_TO_AVERAGE,
        )
        answers = DEMO_ASSESSMENTS[d["name"]]["answers"]
        pairs = {
            (t, a.get("traffic_share") or 1.0)
            for a in answers
            for t in CANDIDATES.get(a["failure_mode"], ())
        }
        cache_clear = getattr(simulate_load, "cache_clear", None)
        if cache_clear is not None:
            cache_clear()
        t0 = time.perf_counter()
        for t, share in sorted(pairs):
            technique_impact(s, t, params={"traffic_share": share} if t in SHARE_LIMITED else {})
        dt = time.perf_counter() - t0
        print(
            f"  {d['name']:<20} {len(pairs):>3} candidates priced in {dt:6.2f} s "
            f"({dt / max(len(pairs), 1) * 1000:6.0f} ms each; target < 2 s)"
        )


if __name__ == "__main__":
    main()
