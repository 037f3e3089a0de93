"""The load scenario's request data, shared by ``bench/locustfile.py`` and ``bench/load.py``
(which must not import locust: it patches the standard library for gevent on import)."""

from __future__ import annotations

ESTIMATE = {
    "model": "llama_3_1_8b",
    "gpu": "h100_sxm_80gb",
    "n_gpus": 1,
    "engine": "vllm",
    "input_tokens": 1500,
    "output_tokens": 300,
    "batch_size": 8,
}
# What architects open on the estimate page: a handful of model × GPU configurations (the page runs
# its load simulations for each; they are memoised per server process, so a configuration's first
# visit costs more than the next ones: both show in the percentiles).
ESTIMATE_PAGES = [
    "/estimates",
    "/estimates?model=llama_3_1_8b&gpu=a100_sxm_80gb",
    "/estimates?model=llama_3_1_8b&gpu=l40s&input_tokens=2048&output_tokens=512",
    "/estimates?model=qwen3_8b&gpu=h100_sxm_80gb&batch_size=32",
    "/estimates?model=mixtral_8x7b&gpu=h100_sxm_80gb&n_gpus=2",
    "/estimates?model=llama_3_1_70b&gpu=h100_sxm_80gb&n_gpus=4",
    "/estimates?model=llama_3_1_70b&gpu=h200_sxm_141gb&n_gpus=2&precision=fp8",
    "/estimates?model=llama_3_2_3b&gpu=l4&requests_per_day=200000",
]
QUESTIONNAIRE = {
    "fm.factual_staleness.severity": "3",
    "fm.factual_staleness.share": "35",
    "fm.factual_staleness.corpus_tokens": "4e7",
    "fm.factual_staleness.cross_document": "no",
    "fm.policy_noncompliance.severity": "2",
    "fm.policy_noncompliance.share": "8",
    "fm.complex_task_errors.severity": "2",
    "fm.complex_task_errors.share": "10",
    "fm.serving_cost.severity": "1",
    "governance_capacity": "12",
}
