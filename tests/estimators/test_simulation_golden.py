"""The load simulation's results are unchanged by its speed-ups (issue 19 item 7).

``data/simulation_golden.json`` holds ``simulate_load_uncached(...).as_dict()`` for eight workloads
(Poisson and saturated arrivals, dense and MoE models, tensor parallelism, engines with and without
CUDA graphs, single-token outputs, the ideal roofline step model) recorded before the simulation
was optimised; every figure must be reproduced exactly.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from app.estimators.engines import ENGINES
from app.estimators.inference import ServingConfig, StepModel
from app.estimators.reference_data import catalog_architecture, catalog_gpu
from app.estimators.simulation import simulate_load_uncached

GOLDEN = json.loads((Path(__file__).parent / "data" / "simulation_golden.json").read_text())


def _json_round_trip(d: dict[str, Any]) -> Any:
    return json.loads(json.dumps(d))


@pytest.mark.parametrize("entry", GOLDEN, ids=lambda e: "-".join(map(str, e["case"][:6])))
def test_simulation_reproduces_recorded_results(entry: dict[str, Any]) -> None:
    model, gpu, eng, n_gpus, ideal, rate, inp, out, max_seqs, max_tokens, n_req = entry["case"]
    sm = StepModel.build(
        catalog_architecture(model),
        catalog_gpu(gpu),
        ENGINES[eng],
        ServingConfig(n_gpus=n_gpus),
        ideal=ideal,
    )
    got = simulate_load_uncached(
        sm,
        request_rate=rate,
        input_tokens=inp,
        output_tokens=out,
        max_seqs=max_seqs,
        max_batched_tokens=max_tokens,
        n_requests=n_req,
    ).as_dict()
    assert _json_round_trip(got) == entry["result"]
