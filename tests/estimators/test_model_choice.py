"""Capability-floor and capacity items pick a catalog model that is better on the failure's task
family (published figures) and fits, and say by how much (issue 18 regressions: a 3B deployment
was told to move to Llama-2-7B, chosen by parameter count; 70B deployments got no option)."""

from __future__ import annotations

import math
import re
from dataclasses import replace

import pytest

from app.estimators.architecture import Architecture
from app.estimators.engines import ENGINES
from app.estimators.inference import ServingConfig
from app.estimators.interventions import Scenario, evaluate
from app.estimators.quality import compare, figures_from_rows, headline
from app.estimators.reference_data import architecture_from_row, catalog_gpu, read_rows
from app.estimators.techniques import ParamError, _fit_gpus, plan, technique_impact

QUALITY = figures_from_rows(read_rows("model_quality.csv"))
# The released catalog models with their figures, as the assessment and portfolio services pass
# them (app.catalog.service.architecture_of; research designs without a published total left out)
MODELS: dict[str, Architecture] = {
    r["key"]: replace(architecture_from_row(r), quality=QUALITY.get(r["key"], ()))
    for r in read_rows("models.csv")
    if r["total_params"].strip()
}
GAIN = re.compile(r"(MMLU-Pro|MMLU|GPQA Diamond|GPQA|MATH|IFEval|HumanEval) ([\d.]+) → ([\d.]+)")


def _scenario(model: str, gpu: str, n_gpus: int) -> Scenario:
    g = replace(catalog_gpu(gpu), price_per_hour_usd=3.99)
    return Scenario(
        MODELS[model],
        g,
        ENGINES["vllm"],
        ServingConfig(n_gpus=n_gpus),
        1000,
        200,
        200_000,
        2000,
        100,
    )


def _picked(technique: str, s: Scenario, **params: object) -> tuple[str, tuple[str, ...]]:
    p = plan(technique, s, models=MODELS, params=params)
    assert p is not None
    name = p.assumptions[0].removeprefix("serve ").removesuffix(" instead")
    return name, p.assumptions


def test_3b_capability_floor_moves_to_a_better_model_not_llama_2() -> None:
    s = _scenario("llama_3_2_3b", "l40s", 1)
    name, notes = _picked("larger_base_model", s)
    assert name != "Llama-2-7B"
    key = next(k for k, a in MODELS.items() if a.name == name)
    m = GAIN.search(notes[1])
    assert m is not None, notes
    before, after = float(m.group(2)), float(m.group(3))
    assert after > before
    assert notes[1].startswith("better on general tasks")
    assert "https://" in notes[1]  # the source of both figures
    cmp = compare(MODELS["llama_3_2_3b"].quality, MODELS[key].quality, "general")
    assert cmp is not None
    assert cmp.gain == pytest.approx(after - before)
    # it fits on the deployment's GPU type
    assert evaluate(_fit_gpus(replace(s, arch=MODELS[key]))).fits


def test_llama_3_1_8b_is_better_than_llama_3_2_3b_and_llama_2_is_never_picked() -> None:
    cmp = compare(MODELS["llama_3_2_3b"].quality, MODELS["llama_3_1_8b"].quality, "general")
    assert cmp is not None
    assert cmp.benchmark == "MMLU"
    assert (cmp.before.value, cmp.after.value) == (63.4, 69.4)  # Meta cards, instruct, 5-shot
    assert cmp.matched == "same setting kind"
    # no published figures: no evidence it is better, so never chosen automatically
    assert MODELS["llama_2_7b"].quality == ()
    for gpu, n in (("l40s", 1), ("a10", 1), ("h100_sxm_80gb", 1)):
        name, _ = _picked("larger_base_model", _scenario("llama_3_2_3b", gpu, n))
        assert name not in ("Llama-2-7B", "Llama-2-13B", "Llama-2-70B")


@pytest.mark.parametrize("model", ["llama_3_1_70b", "llama_3_3_70b"])
@pytest.mark.parametrize("technique", ["larger_base_model", "moe_model"])
def test_70b_deployments_get_an_option(model: str, technique: str) -> None:
    s = _scenario(model, "h100_sxm_80gb", 4)
    name, notes = _picked(technique, s)
    m = GAIN.search(notes[1])
    assert m is not None, notes
    assert float(m.group(3)) > float(m.group(2))
    if technique == "moe_model":
        assert next(a for a in MODELS.values() if a.name == name).is_moe
    impact = technique_impact(s, technique, models=MODELS)
    assert impact.fields["tpot_delta_ms"] is not None
    assert any("better on general tasks" in n for n in impact.assumptions)


def test_task_family_changes_the_benchmarks() -> None:
    s = _scenario("llama_3_1_8b", "a10", 1)
    _, notes = _picked("larger_base_model", s, task_family="code")
    assert "better on code tasks: HumanEval" in notes[1]
    with pytest.raises(ParamError) as exc:
        plan("larger_base_model", s, models=MODELS, params={"task_family": "poetry"})
    assert exc.value.field == "task_family"


def test_no_option_when_nothing_better_fits() -> None:
    # the strongest released general model in the catalog: nothing better on the general family
    assert (
        plan("larger_base_model", _scenario("qwen3_235b_a22b", "h100_sxm_80gb", 8), models=MODELS)
        is None
    )


def test_a_chosen_model_says_whether_it_is_better() -> None:
    s = _scenario("llama_3_1_8b", "h100_sxm_80gb", 1)
    p = plan("larger_base_model", s, models=MODELS, params={"model": "llama_3_2_3b"})
    assert p is not None
    assert p.assumptions[1].startswith("not better on general tasks: MMLU")
    p = plan("larger_base_model", s, models=MODELS, params={"model": "llama_2_13b"})
    assert p is not None
    assert "the gain is not known" in p.assumptions[1]


def test_headline_figure_prefers_the_developers_instruct_figure() -> None:
    h = headline(MODELS["llama_3_1_8b"].quality)
    assert h["MMLU"].value == 69.4
    assert h["MMLU"].kind == "instruct"
    assert "llama3_1/MODEL_CARD.md" in h["MMLU"].source
    # unverified rows (third-party reproductions, leaderboard pages) are left out
    assert all("unverified" not in f.setting for fs in QUALITY.values() for f in fs)
    assert "gpt_oss_120b" not in QUALITY


@pytest.mark.parametrize("key", sorted(MODELS))
def test_every_released_catalog_model_loads_and_estimates(key: str) -> None:
    a = MODELS[key]
    assert a.total_params > 0
    assert a.active_params <= a.total_params
    s = _fit_gpus(_scenario(key, "h100_sxm_80gb", 1))
    out = evaluate(s)
    assert out.fits, (key, out.reason)
    assert math.isfinite(out.tpot_ms)
    assert out.tpot_ms > 0
    assert out.monthly_cost_usd is not None
