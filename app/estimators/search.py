"""Portfolio search: enumerate technique combinations, evaluate each as a portfolio, and return
the Pareto frontier with a recommendation (pure; issue 20).

**Space.** The axes searched are those of the failure modes with severity above 0, plus
``serving_optimization`` always (the seed's precedence: serving economics come first). On each
axis a candidate takes at most one option (or none): one technique, except on
``serving_optimization``, where an option may stack 2 to :data:`MAX_SERVING_STACK` distinct
serving techniques that the estimators price together and in which each technique changes the
served scenario (``apply_all`` of the stack differs from that of the stack without any one part),
e.g. paged attention + speculative decoding + quantisation; single and stacked serving options go
through the same pruning (:func:`_prune_serving`: dominated on their own dropped, at most
:data:`MAX_SERVING_STACKED` kept, :data:`MAX_SERVING_OPTIONS` when there are no stacks). At most
one model swap (a larger dense model or a MoE) per candidate. Each technique is tried with its
key parameters on the grid :data:`GRID` (self-consistency k,
speculative α/γ, RAG depth k, …; every choice of a ``choice`` parameter such as the precision; the
automatic pick and up to :data:`MAX_SWAP_MODELS` catalog models for a swap), the rest at the
defaults of :mod:`app.estimators.techniques`, at most :data:`MAX_VARIANTS` variants per technique.
Techniques the estimators do not price, and variants they refuse, are listed in ``excluded``
with the reason.

**Evaluation — the same computation as a portfolio.** A candidate's serving figures (monthly
cost, TTFT / TPOT p95, fits) depend only on its options that change the served scenario
("serving options": retrieval, reasoning compute, quantisation, speculative decoding, a model
swap, …); options that only add a one-off cost (merged fine-tunes, alignment) leave it unchanged
(checked per option: ``apply_all(base, option) == base``). So each distinct set of serving options
(a *serving state*) is evaluated once with :func:`app.estimators.portfolio.evaluate_portfolio`,
and the candidates are combined with numpy: one-off cost = the state's one-off cost + each
one-off option's cost on the state's model and GPU (cached per option and model), governance
burden = Σ over chosen axes of (6 − governance level) + the regulated-retrieval burden, as
:func:`evaluate_portfolio` computes it. ``tests/estimators/test_search.py`` checks the combined
figures against :func:`evaluate_portfolio` of whole candidates. States share work without
changing a figure: scenario evaluations and load simulations are memoised on their inputs, so a
scenario or load point that several states reach is computed once.

**Figures.** ``time_to_answer_p95_ms`` = the portfolio's TTFT p95 to the first *answer* token
(retrieval latency and reasoning tokens included); ``ttft_p95_ms`` = that minus reasoning tokens ×
TPOT p95 (the first token the model emits). ``coverage`` = Σ w_f over the failure modes addressed /
Σ w_f over all searched (0-1), with w_f = severity/4 · (0.5 + 0.5·traffic share) · (1 + 0.25·segment
risk), the rules engine's scoring factors; a failure mode is addressed when the candidate has a
technique on one of its axes.

**Frontier.** Objectives: coverage (max), monthly cost (min), time to answer (min), governance
burden (min). ``pareto`` holds the feasible frontier (feasible candidates no feasible candidate
dominates) and the infeasible points of the overall frontier (no candidate dominates them; marked
``feasible: false``: what relaxing a constraint would buy). Candidates with equal objectives are
shown once (the smallest one-off cost). **Best** (seed precedence): when serving economics fail
today (does not fit, over the monthly budget, misses a latency constraint, or a serving-cost
failure mode), only plans with a serving option count as feasible (serving before any other axis
investment: a plan without one is marked ``feasible: false``, and when none qualifies nothing is
recommended); then the highest coverage, then the lowest monthly cost, time to answer and
governance burden.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from app.estimators.architecture import Architecture
from app.estimators.candidates import in_place
from app.estimators.card_economics import Stream, fit_swap, serve
from app.estimators.errors import FieldError
from app.estimators.hosted import (
    HOSTED_DATA_RISK_BURDEN,
    DataRisk,
    HostedLatency,
    HostedPrice,
    data_note,
    hosted_cost,
    hosted_data_risks,
    hosted_technique,
)
from app.estimators.interventions import ONE_OFF_KINDS, OneOff, Scenario, apply_all, evaluate
from app.estimators.portfolio import (
    REGULATED_RETRIEVAL_BURDEN,
    AxisData,
    Item,
    PortfolioEvaluation,
    check_items,
    evaluate_portfolio,
)
from app.estimators.quality import DEFAULT_FAMILY
from app.estimators.techniques import (
    PARAMS,
    UNPRICED,
    better_models,
    plan,
    pricing_params,
    resolve_params,
    split_plan,
)

SERVING_AXIS = "serving_optimization"
SWAP_AXES = frozenset({"dense_pretraining", "sparse_moe"})
SEVERITY_MAX = 4  # the questionnaire's scale (app.rules.engine.SEVERITY_MAX)
RISK_STEP = 0.25  # the rules engine's segment-risk factor step
MAX_VARIANTS = 8
MAX_SWAP_MODELS = 2
MAX_SERVING_OPTIONS = 6  # serving options combined (the rest: see _prune_serving)
MAX_SERVING_STACK = 3  # serving techniques stacked in one option at most (see _stacks)
MAX_STACKED_OPTIONS = 8  # techniques stacks are made of (see _prune_serving)
# serving options combined when stacks compete (singles and stacks together): one fewer than
# MAX_SERVING_OPTIONS, as each stack's serving states are distinct served scenarios (a load
# simulation each, where variants of one technique often share theirs), which keeps the
# synthetic case of bench.search within issue 20's time target
MAX_SERVING_STACKED = 5
MAX_PARETO = 300
FRONTIER_BLOCK = 256  # rows compared at once by frontier (a block x block x 4 array)
MAX_FINAL_ROUNDS = 4  # rounds of pricing the frontier with the capacity planner (combine)
MAX_EXCLUDED = 60
# Hosted options (include_hosted): "move to hosted model X" for the MAX_HOSTED_MOVES cheapest
# hosted APIs per request at the deployment's token mix (plus every priced one with a published
# latency), "route the easy share to a hosted small model" for the MAX_HOSTED_ROUTES cheapest, at
# each routed share of HOSTED_ROUTE_SHARES. The router adds the cascade's latency
# (app.estimators.serving_interventions.Cascade.router_latency_ms, 10 ms).
MAX_HOSTED_MOVES = 3
MAX_HOSTED_ROUTES = 2
HOSTED_ROUTE_SHARES = (0.3, 0.6)
ROUTER_LATENCY_MS = 10.0
# The key parameters and the values tried. Sources: Wang et al. 2023 (self-consistency gains
# mostly by 5-10 samples), Leviathan et al. 2023 Table 2 (α 0.5-0.9, γ 3-7), Lewis et al. 2020 /
# Edge et al. 2024 (5-10 passages; GraphRAG reads more summaries), Dettmers et al. 2023 (rank
# 8-64). Names shared by several techniques take the same values unless GRID_BY_TECHNIQUE says.
GRID: dict[str, tuple[object, ...]] = {
    "samples": (3, 5, 10),
    "alpha": (0.6, 0.8),
    "gamma": (3, 5),
    "k": (3, 5, 10),
    "rank": (8, 16, 64),
    "share": (0.3, 0.6),
    "routing_share": (0.3, 0.6),
    "hit_rate": (0.2, 0.4),
    "n_gpus": (1, 2, 4, 8),
    "tensor_parallel": (1, 2, 4, 8),
}
GRID_BY_TECHNIQUE: dict[str, dict[str, tuple[object, ...]]] = {
    "graphrag": {"k": (10, 20)},
    "retrieval_then_long_context": {"k": (4, 8)},
    "paged_attention_speculative": {"alpha": (0.6, 0.8), "gamma": (4,)},
    "speculative_decoding": {"alpha": (0.6, 0.8), "gamma": (3, 5)},
}


FinalRow = tuple[bool, float, float, float, float, float]  # fits, cost, one-off, TTFT, TPOT, TtA


class SearchError(FieldError):
    pass


@dataclass(frozen=True, slots=True)
class FailureMode:
    key: str
    axes: tuple[str, ...]
    severity: int
    traffic_share: float = 0.0
    segment_risk: int = 0  # 0 none, 1 low, 2 medium, 3 high

    @property
    def weight(self) -> float:
        return (
            self.severity
            / SEVERITY_MAX
            * (0.5 + 0.5 * self.traffic_share)
            * (1 + RISK_STEP * self.segment_risk)
        )


@dataclass(frozen=True, slots=True)
class Constraints:
    """None: no limit."""

    monthly_budget_usd: float | None = None
    one_off_budget_usd: float | None = None
    ttft_p95_ms: float | None = None
    tpot_p95_ms: float | None = None
    time_to_answer_p95_ms: float | None = None
    governance_capacity: int | None = None


@dataclass(frozen=True, slots=True)
class HostedOffer:
    """A hosted LLM API at the organisation's effective prices (plain data from the catalog)."""

    key: str
    provider: str
    model: str
    price: HostedPrice
    ttft_ms: float | None = None
    output_tokens_per_s: float | None = None
    context_tokens: int | None = None
    cached_share: float = 0.0  # share of prompt tokens read from the provider's cache

    def cost_per_request(self, input_tokens: float, output_tokens: float) -> float:
        return hosted_cost(
            self.price, input_tokens, output_tokens, 0.0, self.cached_share
        ).cost_per_request_usd

    def monthly(self, input_tokens: float, output_tokens: float, requests_per_day: float) -> float:
        return hosted_cost(
            self.price, input_tokens, output_tokens, requests_per_day, self.cached_share
        ).monthly_cost_usd

    def fits(self, tokens: float) -> bool:
        return self.context_tokens is None or tokens <= self.context_tokens


@dataclass(frozen=True, slots=True)
class Option:
    axis: str
    technique: str
    params: tuple[tuple[str, Any], ...]
    serving: bool  # changes the served scenario
    hosted: HostedOffer | None = None  # a hosted API option (share in params)
    # a stack of serving options (distinct techniques, see _stacks): its parts; () for one
    parts: tuple[Option, ...] = ()

    @property
    def share(self) -> float:
        return float(dict(self.params).get("share", 1.0))

    @property
    def item(self) -> Item:
        return Item(self.axis, self.technique, dict(self.params))

    @property
    def leaves(self) -> tuple[Option, ...]:
        """The single-technique options it is made of (itself unless a stack)."""
        return self.parts or (self,)

    @property
    def items(self) -> list[Item]:
        return [o.item for o in self.leaves]


@dataclass(frozen=True, slots=True)
class Excluded:
    technique: str
    why: str


@dataclass(slots=True)
class Space:
    """The enumerated candidates: ``choice[n, a]`` = the option index on axis ``a`` of candidate
    ``n`` (0 = none; options[a][i - 1] otherwise); ``state[n]`` its serving state."""

    base: Scenario
    data: AxisData
    regulated: bool
    failure_modes: tuple[FailureMode, ...]
    axes: tuple[str, ...]
    options: tuple[tuple[Option, ...], ...]
    choice: npt.NDArray[np.int32]
    state: npt.NDArray[np.int64]
    states: list[tuple[int, ...]]  # per state: the serving option index per axis (0 = none)
    excluded: list[Excluded] = field(default_factory=list)
    regulatory_flags: tuple[str, ...] = ()  # the deployment's (hosted options' data risks)
    # evaluation caches (plans per item; apply_all's steps per intervention prefix)
    plans: dict[tuple[str, tuple[tuple[str, Any], ...]], Any] = field(default_factory=dict)
    memo: dict[tuple[Any, ...], tuple[Scenario, tuple[OneOff, ...]]] = field(default_factory=dict)
    finals: dict[int, FinalRow | None] = field(default_factory=dict)  # see final_figures

    @property
    def size(self) -> int:
        return int(self.choice.shape[0])

    def state_options(self, s: int) -> list[Option]:
        """A state's single-technique options (a stack's parts in its place)."""
        return [o for a, i in enumerate(self.states[s]) if i for o in self.options[a][i - 1].leaves]

    def state_items(self, s: int) -> list[Item]:
        return [o.item for o in self.state_options(s) if o.hosted is None]

    def candidate_options(self, n: int) -> list[Option]:
        """A candidate's single-technique options (a stack's parts in its place)."""
        return [
            o for a, i in enumerate(self.choice[n]) if i for o in self.options[a][int(i) - 1].leaves
        ]

    def items(self, n: int) -> list[Item]:
        return [o.item for o in self.candidate_options(n)]


@dataclass(frozen=True, slots=True)
class ServingFigures:
    """What the search reads of a state's :class:`PortfolioEvaluation`."""

    fits: bool
    monthly_cost_usd: float | None
    one_off_cost_usd: float | None
    ttft_ms_p95: float | None
    tpot_ms_p95: float | None

    @classmethod
    def of(cls, ev: PortfolioEvaluation) -> ServingFigures:
        # the search's "TTFT" is the time to the answer (see the module docstring)
        return cls(
            ev.fits,
            ev.monthly_cost_usd,
            ev.one_off_cost_usd,
            ev.time_to_answer_ms_p95,
            ev.tpot_ms_p95,
        )


@dataclass(frozen=True, slots=True)
class StateOutcome:
    """A serving state's evaluation (None: the estimators refused it, ``error`` says why)."""

    evaluation: ServingFigures | None
    arch: Architecture | None
    cot_tokens: int
    error: str | None = None
    first_token_ms: float | None = None  # TTFT to the first emitted token, when set directly

    def as_json(self) -> list[Any]:
        """JSON-able (a job part's result); the model is rebuilt by :func:`outcome_from_json`."""
        ev = self.evaluation
        figs = (
            None
            if ev is None
            else [ev.fits, ev.monthly_cost_usd, ev.one_off_cost_usd, ev.ttft_ms_p95, ev.tpot_ms_p95]
        )
        return [figs, self.cot_tokens, self.error, self.first_token_ms]


def outcome_from_json(space: Space, s: int, data: Sequence[Any]) -> StateOutcome:
    figs, cot, error = data[:3]
    first = data[3] if len(data) > 3 else None
    if figs is None:
        return StateOutcome(None, None, int(cot), error)
    return StateOutcome(
        ServingFigures(bool(figs[0]), *figs[1:]), state_arch(space, s), int(cot), error, first
    )


def state_arch(space: Space, s: int) -> Architecture:
    """The model a state serves (a swap's), as apply_all chains its interventions."""
    items = space.state_items(s)
    if any(o.hosted is not None and o.share >= 1 for o in space.state_options(s)):
        return space.base.arch  # moved to a hosted API: nothing else is served
    after, _ = apply_all(space.base, [i for it in items for i in _plan(space, it).interventions])
    return after.arch


def _values(
    technique: str, name: str, p: Any, s: Scenario, models: Mapping[str, Architecture]
) -> tuple[object, ...]:
    grid = GRID_BY_TECHNIQUE.get(technique, {}).get(name, GRID.get(name))
    if p.type == "model":
        # "" is the automatic pick; then the catalog models published as better on the task
        # family that fit (the recommendation's own picker's list, best first), not "larger"
        found = better_models(s, models, DEFAULT_FAMILY, moe=technique == "moe_model")
        return ("", *[m.key for m in found[:MAX_SWAP_MODELS]])
    if p.type == "choice":
        return tuple(p.choices) or (p.default,)
    if grid is None:
        return (p.default,)
    ok = []
    for v in grid:
        try:
            ok.append(p.check(v))
        except ValueError:
            continue
    return tuple(ok) or (p.default,)


def variants(
    technique: str, s: Scenario, models: Mapping[str, Architecture], corpus_tokens: float = 0.0
) -> list[dict[str, object]]:
    """The parameter sets tried for ``technique`` (at most :data:`MAX_VARIANTS`, evenly spread
    over the grid's product when it is larger)."""
    spec = PARAMS.get(technique, ())
    names = [p.name for p in spec]
    grids = [_values(technique, p.name, p, s, models) for p in spec]
    combos = list(itertools.product(*grids)) if grids else [()]
    if len(combos) > MAX_VARIANTS:
        step = len(combos) / MAX_VARIANTS
        combos = [combos[int(i * step)] for i in range(MAX_VARIANTS)]
    base = pricing_params(technique, corpus_tokens)
    return [{**base, **dict(zip(names, c, strict=True))} for c in combos]


def _options(
    base: Scenario, data: AxisData, axis: str, corpus_tokens: float, excluded: list[Excluded]
) -> list[Option]:
    out: list[Option] = []
    for technique in sorted(t for t, a in data.technique_axis.items() if a == axis):
        why_in_place = in_place(technique, base)
        if why_in_place is not None:
            excluded.append(Excluded(technique, f"already in place: {why_in_place}"))
            continue
        if technique in UNPRICED:
            excluded.append(
                Excluded(
                    technique,
                    "the estimators have no cost model for it "
                    "(already in every engine profile, or a pretraining "
                    "decision), so it cannot be compared",
                )
            )
            continue
        tried = 0
        for params in variants(technique, base, data.models, corpus_tokens):
            try:
                resolved = resolve_params(technique, params)
                p = plan(technique, base, params=resolved, models=data.models)
                if p is None:  # e.g. no automatic pick: explicit swap models may still plan
                    continue
                after, _ = apply_all(base, list(p.interventions))
                if after != base:
                    evaluate(after)  # refuses what the estimators cannot serve (e.g. int4 KV)
            except FieldError as exc:
                excluded.append(Excluded(technique, f"{_label(params)}: {exc}"))
                continue
            tried += 1
            out.append(Option(axis, technique, tuple(sorted(resolved.items())), after != base))
        if not tried and not any(e.technique == technique for e in excluded):
            excluded.append(
                Excluded(
                    technique,
                    "no model to swap to in the catalog" if axis in SWAP_AXES else "not priced",
                )
            )
    return out


def _label(params: Mapping[str, object]) -> str:
    shown = {k: v for k, v in params.items() if k != "corpus_tokens"}
    return ", ".join(f"{k}={v}" for k, v in shown.items()) or "defaults"


def build_space(
    base: Scenario,
    data: AxisData,
    failure_modes: Sequence[FailureMode],
    *,
    regulated: bool = False,
    corpus_tokens: float = 0.0,
    max_candidates: int = 2_000_000,
    hosted: Sequence[HostedOffer] = (),
    regulatory_flags: Sequence[str] = (),
) -> Space:
    """Enumerate the candidates. Raises :class:`SearchError` (field ``failure_modes``) when the
    space exceeds ``max_candidates``. ``hosted``: the hosted APIs to try (include_hosted)."""
    fms = tuple(f for f in failure_modes if f.severity > 0)
    wanted = {a for f in fms for a in f.axes if a in data.matrix}
    axes = tuple(sorted(wanted | ({SERVING_AXIS} if SERVING_AXIS in data.matrix else set())))
    excluded: list[Excluded] = []
    for t, a in sorted(data.technique_axis.items()):
        if a not in axes:
            excluded.append(
                Excluded(
                    t,
                    f"on {a.replace('_', ' ')}, which none of the failure modes searched points at",
                )
            )
    options = tuple(
        tuple(
            _prune_serving(
                base, data, _options(base, data, a, corpus_tokens, excluded), regulated, excluded
            )
            + (hosted_options(base, hosted, excluded) if a == SERVING_AXIS else [])
        )
        for a in axes
    )
    size = math.prod(len(o) + 1 for o in options)
    if size > max_candidates:
        raise SearchError(
            f"{size:,} candidates exceed the limit of {max_candidates:,}: "
            "search fewer failure modes",
            field="failure_modes",
        )
    if axes:
        grids = np.indices([len(o) + 1 for o in options], dtype=np.int32)
        choice = grids.reshape(len(axes), -1).T.copy()
    else:
        choice = np.zeros((1, 0), dtype=np.int32)
    swap_cols = [a for a, ax in enumerate(axes) if ax in SWAP_AXES]
    if len(swap_cols) > 1:  # at most one model swap per candidate
        choice = choice[(choice[:, swap_cols] > 0).sum(axis=1) <= 1]
    if SERVING_AXIS in axes:  # moved to a hosted API: no other option applies to what is served
        sc = axes.index(SERVING_AXIS)
        moves = [
            i for i, o in enumerate(options[sc], start=1) if o.hosted is not None and o.share >= 1
        ]
        if moves:
            moved = np.isin(choice[:, sc], moves)
            choice = choice[~moved | ((choice > 0).sum(axis=1) == 1)]
    serving_mask = [
        np.array([0] + [1 if o.serving else 0 for o in opts], dtype=np.int32) for opts in options
    ]
    keys = (
        np.stack([choice[:, a] * serving_mask[a][choice[:, a]] for a in range(len(axes))], axis=1)
        if axes
        else np.zeros((1, 0), dtype=np.int32)
    )
    uniq, inverse = np.unique(keys, axis=0, return_inverse=True)
    return Space(
        base,
        data,
        regulated,
        fms,
        axes,
        options,
        choice,
        inverse.reshape(-1).astype(np.int64),
        [tuple(int(x) for x in row) for row in uniq],
        excluded,
        tuple(regulatory_flags),
    )


def _no_worse(u: tuple[float, ...], v: tuple[float, ...]) -> bool:
    return all(a <= b for a, b in zip(u, v, strict=True))


Score = tuple[float, float, float]  # on its own: monthly cost, time to answer, TPOT p95


def _what(o: Option) -> str:
    """An option's parameters as the excluded list shows them (a stack: each part's)."""
    if o.parts:
        return "; ".join(f"{p.technique}: {_label(dict(p.params))}" for p in o.parts)
    return _label(dict(o.params))


def _score(
    base: Scenario, data: AxisData, o: Option, regulated: bool, excluded: list[Excluded]
) -> Score | None:
    """``o`` on its own (the portfolio computation, ``planner=False``); None (listed in
    ``excluded``) when the estimators refuse it or it does not fit."""
    inf = float("inf")
    try:
        ev = evaluate_portfolio(base, o.items, data, regulated=regulated, planner=False)
    except FieldError as exc:
        excluded.append(Excluded(o.technique, f"{_what(o)}: {exc}"))
        return None
    if not ev.fits:
        excluded.append(Excluded(o.technique, f"{_what(o)}: does not fit"))
        return None
    return (
        inf if ev.monthly_cost_usd is None else ev.monthly_cost_usd,
        inf if ev.ttft_ms_p95 is None else ev.ttft_ms_p95,
        inf if ev.tpot_ms_p95 is None else ev.tpot_ms_p95,
    )


def _keep_best(
    scored: list[tuple[Score, Option]], excluded: list[Excluded], cap: int = MAX_SERVING_OPTIONS
) -> list[Option]:
    """Of ``scored``, those no other is as cheap and as fast or better than on its own, at most
    ``cap``, the cheapest per month; each single left out is listed with why, the stacks left
    out are counted (one line per reason)."""
    kept: list[tuple[Score, Option]] = []
    dominated: list[str] = []
    for v, o in scored:
        by = next((w for u, w in scored if u != v and _no_worse(u, v)), None)
        if by is None:
            kept.append((v, o))
        elif o.parts:
            dominated.append(f"{o.technique}, by {by.technique}")
        else:
            excluded.append(
                Excluded(
                    o.technique,
                    f"{_what(o)}: on its own, {by.technique} ({_what(by)}) is as cheap "
                    "and as fast or better",
                )
            )
    kept.sort(key=lambda vo: (vo[0], vo[1].technique))
    why = f"dearer on its own than the {cap} serving options searched"
    for _, o in kept[cap:]:
        if not o.parts:
            excluded.append(Excluded(o.technique, f"{_what(o)}: {why}"))
    dearer = [o.technique for _, o in kept[cap:] if o.parts]
    if dominated:
        excluded.append(
            Excluded(
                "serving stacks",
                f"{len(dominated)} stack(s) another serving option is as cheap and as fast as or "
                f"better than on its own (e.g. {dominated[0]})",
            )
        )
    if dearer:
        excluded.append(
            Excluded("serving stacks", f"{len(dearer)} stack(s) {why} (e.g. {dearer[0]})")
        )
    return [o for _, o in kept[:cap]]


def _prune_serving(
    base: Scenario, data: AxisData, opts: list[Option], regulated: bool, excluded: list[Excluded]
) -> list[Option]:
    """The serving-optimisation options worth combining, single techniques and stacks of them.
    When there are more than :data:`MAX_SERVING_OPTIONS` single ones, each is evaluated on its own
    (the portfolio computation); those dominated on their own by another on monthly cost, time to
    answer and TPOT p95 (or that do not fit) are left out, and of the rest at most
    :data:`MAX_SERVING_OPTIONS`, the cheapest per month. The stacks (:func:`_stacks`, 2 to
    :data:`MAX_SERVING_STACK` distinct techniques) are made of the cheapest variant on its own of
    each of the :data:`MAX_STACKED_OPTIONS` cheapest techniques (one dominated on its own may
    still complement another, e.g. response caching); singles and stacks then go through the same
    pruning together, so at most :data:`MAX_SERVING_STACKED` serving options (single or stacked)
    are combined with the other axes. Serving options combine with every other axis's, so this
    keeps the space (and the search's time) bounded as techniques are added; each one left out
    is listed with the reason."""
    serving = [o for o in opts if o.axis == SERVING_AXIS and o.serving]
    chosen = serving
    scores: dict[int, Score | None] = {}

    def scored(options: Sequence[Option]) -> list[tuple[Score, Option]]:
        for o in options:
            if id(o) not in scores:
                scores[id(o)] = _score(base, data, o, regulated, excluded)
        return [(v, o) for o in options if (v := scores[id(o)]) is not None]

    stackable = serving
    if len(serving) > MAX_SERVING_OPTIONS:
        ranked = sorted(scored(serving), key=lambda vo: (vo[0], vo[1].technique))
        chosen = _keep_best(ranked, excluded)
        # stacks: of each technique its cheapest variant on its own (a technique another
        # dominates on its own may still complement it, e.g. response caching), the cheapest
        cheapest = {o.technique: o for _, o in reversed(ranked)}
        stackable = sorted(cheapest.values(), key=lambda o: (scores[id(o)], o.technique))
        stackable = stackable[:MAX_STACKED_OPTIONS]
    stacks = _stacks(base, data, stackable, excluded)
    if stacks:
        pool = scored(chosen + stacks)
        chosen = (
            _keep_best(pool, excluded, MAX_SERVING_STACKED)
            if len(pool) > MAX_SERVING_STACKED
            else [o for _, o in pool]
        )
    ids = {id(o) for o in chosen}
    kept = [o for o in opts if not (o.axis == SERVING_AXIS and o.serving) or id(o) in ids]
    return kept + [o for o in stacks if id(o) in ids]


def _stacks(
    base: Scenario, data: AxisData, singles: Sequence[Option], excluded: list[Excluded]
) -> list[Option]:
    """The stacks of 2 to :data:`MAX_SERVING_STACK` of ``singles`` with distinct techniques that
    the estimators price together and in which every technique changes the served scenario:
    ``apply_all`` of the stack differs from ``apply_all`` of the stack without any one of its
    parts (else that part is a no-op on top of the others, e.g. an option the others already
    set). Those refused (``apply_all`` or :func:`evaluate` raises) or with a no-op part are
    counted in ``excluded``."""
    inter: dict[int, list[Any]] = {}
    for i, o in enumerate(singles):
        p = plan(o.technique, base, params=dict(o.params), models=data.models)
        if p is not None:
            inter[i] = list(p.interventions)
    after: dict[tuple[int, ...], Scenario | None] = {}

    def applied(combo: tuple[int, ...]) -> Scenario | None:
        if combo not in after:
            try:
                s, _ = apply_all(base, [x for i in combo for x in inter[i]])
                evaluate(s)  # refuses what the estimators cannot serve
                after[combo] = s
            except FieldError:
                after[combo] = None
        return after[combo]

    out: list[Option] = []
    refused: list[str] = []
    no_op: list[str] = []
    for size in range(2, MAX_SERVING_STACK + 1):
        for combo in itertools.combinations(sorted(inter), size):
            parts = tuple(singles[i] for i in combo)
            if len({p.technique for p in parts}) < size:
                continue  # variants of one technique
            name = " + ".join(p.technique for p in parts)
            s = applied(combo)
            if s is None:
                refused.append(name)
                continue
            subs = [applied(tuple(j for j in combo if j != i)) for i in combo]
            if any(sub == s for sub in subs if sub is not None):
                no_op.append(name)
                continue
            out.append(Option(SERVING_AXIS, name, (), True, None, parts))
    if refused:
        excluded.append(
            Excluded(
                "serving stacks",
                f"{len(refused)} combination(s) the estimators refuse together (e.g. {refused[0]})",
            )
        )
    if no_op:
        excluded.append(
            Excluded(
                "serving stacks",
                f"{len(no_op)} combination(s) in which a technique changes nothing on top of "
                f"the others (e.g. {no_op[0]})",
            )
        )
    return out


def hosted_options(
    base: Scenario, offers: Sequence[HostedOffer], excluded: list[Excluded]
) -> list[Option]:
    """The hosted candidates on the serving axis (module docstring): a move to each of the
    cheapest APIs per request at the deployment's token mix (and to every one with a published
    latency), and routing a share of the requests to each of the cheapest."""
    tokens = base.input_tokens + base.output_tokens
    fit: list[HostedOffer] = []
    for o in offers:
        if o.fits(tokens):
            fit.append(o)
        else:
            excluded.append(
                Excluded(
                    hosted_technique(o.provider, o.model),
                    f"a request ({tokens:,} tokens) exceeds its {o.context_tokens:,}-token context",
                )
            )
    fit.sort(key=lambda o: (o.cost_per_request(base.input_tokens, base.output_tokens), o.key))
    moves = fit[:MAX_HOSTED_MOVES] + [
        o for o in fit[MAX_HOSTED_MOVES:] if o.ttft_ms is not None and o.output_tokens_per_s
    ]
    out = [
        Option(
            SERVING_AXIS,
            hosted_technique(o.provider, o.model),
            (("kind", "move"), ("model_key", o.key), ("share", 1.0)),
            True,
            o,
        )
        for o in moves
    ]
    for o in fit[:MAX_HOSTED_ROUTES]:
        out += [
            Option(
                SERVING_AXIS,
                hosted_technique(o.provider, o.model),
                (("kind", "route"), ("model_key", o.key), ("share", share)),
                True,
                o,
            )
            for share in HOSTED_ROUTE_SHARES
        ]
    left = len(fit) - len(moves)
    if left > 0:
        excluded.append(
            Excluded(
                "hosted APIs",
                f"{left} more priced hosted API(s) not searched: dearer per "
                f"request at this token mix than the {MAX_HOSTED_MOVES} "
                "cheapest, and no published latency",
            )
        )
    return out


def _hosted_state(space: Space, opts: Sequence[Option], h: Option) -> StateOutcome:
    """A state with a hosted option. Moved (share 1): the API's bill at the deployment's traffic
    and token mix, its published latency (None: unknown), nothing self-hosted. Routed (share r):
    the self-hosted portfolio of the other options serves 1 − r of the requests (its GPUs'
    load scaled, the router's latency added to TTFT), the API r of them at the deployment's
    token mix; the p95 latencies are the slower of the two (None when the API's is unknown)."""
    base, offer = space.base, h.hosted
    assert offer is not None
    lat = HostedLatency.of(offer.ttft_ms, offer.output_tokens_per_s)
    fits = offer.fits(base.input_tokens + base.output_tokens)
    if h.share >= 1:
        monthly = offer.monthly(base.input_tokens, base.output_tokens, base.requests_per_day)
        return StateOutcome(
            ServingFigures(fits, monthly, 0.0, lat.time_to_answer_ms, lat.tpot_ms),
            base.arch,
            0,
            None,
            lat.ttft_ms,
        )
    routed = replace(
        base,
        load_factor=base.load_factor * (1 - h.share),
        extra_ttft_ms=base.extra_ttft_ms + ROUTER_LATENCY_MS,
    )
    items = [o.item for o in opts if o.hosted is None]
    try:
        ev = evaluate_portfolio(routed, items, space.data, regulated=space.regulated)
        after, _ = apply_all(routed, [i for it in items for i in _plan(space, it).interventions])
    except FieldError as exc:
        return StateOutcome(None, None, 0, f"{_items_label(items)} + {h.technique}: {exc}")
    api = offer.monthly(base.input_tokens, base.output_tokens, base.requests_per_day * h.share)
    total: float | None = None if ev.monthly_cost_usd is None else ev.monthly_cost_usd + api
    tta: float | None = None
    tpot: float | None = None
    first: float | None = None
    if (
        lat.ttft_ms is not None
        and lat.tpot_ms is not None
        and ev.ttft_ms_p95 is not None
        and ev.tpot_ms_p95 is not None
    ):
        h_ttft = lat.ttft_ms + ROUTER_LATENCY_MS
        tta, tpot = max(ev.ttft_ms_p95, h_ttft), max(ev.tpot_ms_p95, lat.tpot_ms)
        first = max(ev.ttft_ms_p95 - after.cot_tokens * ev.tpot_ms_p95, h_ttft)
    return StateOutcome(
        ServingFigures(ev.fits and fits, total, ev.one_off_cost_usd, tta, tpot),
        after.arch,
        after.cot_tokens,
        None,
        first,
    )


def evaluate_state(space: Space, s: int) -> StateOutcome:
    """One serving state: the figures :func:`evaluate_portfolio` (``planner=False``, the
    screening computation) gives its items, computed by :func:`screen_items` (the same steps
    without what the search does not read; ``tests/estimators/test_search.py`` checks equality)."""
    opts = space.state_options(s)
    h = next((o for o in opts if o.hosted is not None), None)
    if h is not None:
        return _hosted_state(space, opts, h)
    items = space.state_items(s)
    try:
        figs, after = screen_items(space, items)
    except FieldError as exc:
        return StateOutcome(None, None, 0, f"{_items_label(items)}: {exc}")
    return StateOutcome(figs, after.arch, after.cot_tokens)


def _apply(space: Space, interventions: Sequence[Any]) -> tuple[Scenario, list[OneOff]]:
    """:func:`apply_all` on the search's base, memoised by prefix: apply_all folds the
    interventions in their canonical order, so states sharing the first interventions (most
    of them: the states are a product of per-axis options) share those steps."""
    ordered = sorted(interventions, key=lambda i: i.order)
    s: Scenario = space.base
    costs: list[OneOff] = []
    key: tuple[Any, ...] = ()
    for x in ordered:
        key = (*key, x)
        hit = space.memo.get(key)
        if hit is None:
            nxt, c = x.apply(s)
            hit = space.memo[key] = (nxt, (*costs, *c))
        s, costs = hit[0], list(hit[1])
    return s, costs


def _one_off_total(one_offs: Sequence[OneOff]) -> float | None:
    """:meth:`app.estimators.card_economics.Priced.one_off_usd`'s total."""
    kinds: list[float | None] = []
    for kind in ONE_OFF_KINDS:
        parts = [o.cost_usd for o in one_offs if o.kind == kind]
        kinds.append(
            None if any(p is None for p in parts) else round(sum(p or 0.0 for p in parts), 2)
        )
    return None if any(v is None for v in kinds) else round(sum(v or 0.0 for v in kinds), 2)


def screen_items(space: Space, items: Sequence[Item]) -> tuple[ServingFigures, Scenario]:
    """The serving figures :func:`evaluate_portfolio` ``(space.base, items, planner=False)``
    reports (monthly cost, one-off total, fits, time to answer and TPOT p95, rounded as it rounds
    them), by the steps of :func:`app.estimators.card_economics.price_change` that produce them:
    plans cached per item, interventions applied with a prefix memo, the unchanged deployment's
    side and the figures' bands (which the search does not read) left out. Also the scenario
    apply_all gives (its model and reasoning tokens). Raises what evaluate_portfolio raises."""
    base = space.base
    check_items(items, space.data)
    whole: list[Any] = []
    limited: list[Any] = []
    share = 0.0
    for item in items:
        p = _plan(space, item)
        w, lim, sh = split_plan(p)
        whole.extend(w)
        limited.extend(lim)
        if lim:
            share = max(share, sh)
    share = min(max(share if limited else 1.0, 0.0), 1.0)
    full, one_offs = _apply(space, [*whole, *limited])
    served = fit_swap(full, [*whole, *limited])
    after = serve(base, [Stream(served, 1.0)], router=False, planner=False)
    if limited and share < 1.0:
        main = fit_swap(_apply(space, whole)[0], whole)
        split = serve(
            base, [Stream(main, 1.0 - share), Stream(served, share)], router=True, planner=False
        )
        if not after.fits or (
            split.fits
            and split.gpu_hours is not None
            and after.gpu_hours is not None
            and split.gpu_hours <= after.gpu_hours
        ):
            after = split
    tta, tpot = after.time_to_answer_p95_ms, after.tpot_p95_ms
    figs = ServingFigures(
        after.fits,
        after.monthly_cost_usd,
        _one_off_total(one_offs),
        None if tta is None else round(tta, 3),
        None if tpot is None else round(tpot, 4),
    )
    return figs, full


def _plan(space: Space, item: Item) -> Any:
    key = (item.technique, tuple(sorted(item.params.items())))
    p = space.plans.get(key)
    if p is None:
        p = space.plans[key] = plan(
            item.technique, space.base, params=item.params, models=space.data.models
        )
    if p is None:
        raise SearchError(f"{item.technique}: not priced", field="items")
    return p


def _items_label(items: Sequence[Item]) -> str:
    return " + ".join(f"{i.technique} ({_label(i.params)})" for i in items) or "as is"


Progress = Callable[[int, str], None]


def evaluate_states(
    space: Space, indices: Sequence[int], progress: Progress | None = None
) -> dict[int, StateOutcome]:
    out: dict[int, StateOutcome] = {}
    for n, s in enumerate(indices):
        out[s] = evaluate_state(space, s)
        if progress is not None and (n % 10 == 0 or n == len(indices) - 1):
            progress(
                int(100 * (n + 1) / max(len(indices), 1)),
                f"{n + 1} of {len(indices)} serving states evaluated",
            )
    return out


@dataclass(frozen=True, slots=True)
class HostedPart:
    """What a point's hosted option costs and changes (see :func:`hosted_part`)."""

    key: str
    provider: str
    model: str
    kind: str  # "move": every request; "route": the easiest ``share``
    share: float
    hosted_monthly_cost_usd: float
    self_hosted_monthly_cost_usd: float | None
    cached_share: float
    input_per_m_usd: float
    cached_input_per_m_usd: float | None
    output_per_m_usd: float
    latency_known: bool
    latency_source: str
    data_leaves_organisation: bool
    governance_risks: tuple[DataRisk, ...]
    governance_burden_added: int
    note: str


@dataclass(frozen=True, slots=True)
class Point:
    index: int  # candidate number in the space
    items: tuple[Item, ...]
    monthly_cost_usd: float | None
    one_off_usd: float | None
    ttft_p95_ms: float | None
    tpot_p95_ms: float | None
    time_to_answer_p95_ms: float | None
    coverage: float
    governance_burden: int
    feasible: bool
    hosted: HostedPart | None = None  # the hosted API part, when the point has one


@dataclass(frozen=True, slots=True)
class Best:
    """The recommended point: its position in the frontier (None: none is recommended) and why."""

    index: int | None
    why: str


@dataclass(frozen=True, slots=True)
class Baseline:
    """The deployment as it is: its serving figures and why serving economics fail today."""

    monthly_cost_usd: float | None
    ttft_p95_ms: float | None
    tpot_p95_ms: float | None
    fits: bool
    serving_fails: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SearchResult:
    candidates_evaluated: int
    states_evaluated: int
    elapsed_ms: float
    pareto: tuple[Point, ...]
    best: Best
    excluded: tuple[Excluded, ...]
    serving_first: bool
    baseline: Baseline


@dataclass(slots=True)
class Figures:
    """Per-candidate figures (NaN: cannot be computed; ``valid`` False: the estimators refused
    the candidate's serving state)."""

    cost: npt.NDArray[np.float64]
    one_off: npt.NDArray[np.float64]
    ttft: npt.NDArray[np.float64]
    tpot: npt.NDArray[np.float64]
    tta: npt.NDArray[np.float64]
    coverage: npt.NDArray[np.float64]
    burden: npt.NDArray[np.int64]
    fits: npt.NDArray[np.bool_]
    valid: npt.NDArray[np.bool_]
    serving: npt.NDArray[np.bool_]
    # a hosted API without a published latency: comparable on cost, coverage and burden, but no
    # latency constraint can be met by it (its latency is unknown, never claimed)
    latency_unknown: npt.NDArray[np.bool_]

    @property
    def comparable(self) -> npt.NDArray[np.bool_]:
        """Evaluated, fits, and its time to answer known (or a hosted API's, unknown)."""
        return self.valid & self.fits & (~np.isnan(self.tta) | self.latency_unknown)


def _num(v: float | None) -> float:
    return math.nan if v is None else float(v)


def _one_off_of(
    space: Space, opt: Option, arch: Architecture, cache: dict[tuple[Option, Architecture], float]
) -> float:
    """A one-off option's cost on the state's model (its GPU is the deployment's): the cost its
    interventions carry when applied to it, as apply_all charges them inside a portfolio."""
    key = (opt, arch)
    if key not in cache:
        p = _plan(space, opt.item)
        _, costs = apply_all(replace(space.base, arch=arch), list(p.interventions))
        cache[key] = (
            math.nan
            if any(c.cost_usd is None for c in costs)
            else float(sum(c.cost_usd or 0.0 for c in costs))
        )
    return cache[key]


def figures(space: Space, outcomes: Mapping[int, StateOutcome]) -> Figures:
    """Combine the states' evaluations with the one-off, governance and coverage tables."""
    n_states = len(space.states)
    st_cost, st_one, st_ttft, st_tpot, st_tta = (np.full(n_states, np.nan) for _ in range(5))
    st_fits = np.zeros(n_states, dtype=bool)
    st_valid = np.zeros(n_states, dtype=bool)
    archs: list[Architecture | None] = [None] * n_states
    for s, o in outcomes.items():
        ev = o.evaluation
        if ev is None:
            continue
        st_valid[s], st_fits[s], archs[s] = True, ev.fits, o.arch
        st_cost[s], st_one[s] = _num(ev.monthly_cost_usd), _num(ev.one_off_cost_usd)
        if ev.ttft_ms_p95 is not None and ev.tpot_ms_p95 is not None:
            st_tta[s], st_tpot[s] = ev.ttft_ms_p95, ev.tpot_ms_p95
            st_ttft[s] = round(ev.ttft_ms_p95 - o.cot_tokens * ev.tpot_ms_p95, 3)
            if o.first_token_ms is not None:
                st_ttft[s] = round(o.first_token_ms, 3)
    st = space.state
    one_off = st_one[st].copy()
    cache: dict[tuple[Option, Architecture], float] = {}
    # one-off options: their cost on each state's model, added where chosen
    distinct_archs = {a for a in archs if a is not None}
    arch_index = {a: i for i, a in enumerate(sorted(distinct_archs, key=lambda a: a.name))}
    st_arch = np.array([arch_index[a] if a is not None else -1 for a in archs], dtype=np.int64)
    cand_arch = st_arch[st]
    for a, opts in enumerate(space.options):
        col = space.choice[:, a]
        for i, opt in enumerate(opts, start=1):
            if opt.serving:
                continue
            mask = col == i
            if not mask.any():
                continue
            for arch, ai in arch_index.items():
                sel = mask & (cand_arch == ai)
                if sel.any():
                    one_off[sel] += _one_off_of(space, opt, arch, cache)
    burden = np.zeros(space.size, dtype=np.int64)
    for a, ax in enumerate(space.axes):
        chosen = space.choice[:, a] > 0
        burden += chosen * (6 - space.data.matrix[ax]["governance"])
        if space.regulated and ax == "retrieval":
            burden += chosen * REGULATED_RETRIEVAL_BURDEN
    hosted = np.zeros(space.size, dtype=bool)
    for a, opts in enumerate(space.options):
        for i, opt in enumerate(opts, start=1):
            if opt.hosted is None:
                continue
            sel = space.choice[:, a] == i
            hosted |= sel
            # the data leaves the organisation: each data-privacy risk it brings in
            risks = hosted_data_risks(space.regulatory_flags, opt.hosted.provider)
            burden += sel * (HOSTED_DATA_RISK_BURDEN * len(risks))
    total_w = sum(f.weight for f in space.failure_modes)
    addressed = np.zeros(space.size, dtype=np.float64)
    for f in space.failure_modes:
        cols = [a for a, ax in enumerate(space.axes) if ax in f.axes]
        if cols:
            addressed += f.weight * (space.choice[:, cols] > 0).any(axis=1)
    coverage = np.round(addressed / total_w, 4) if total_w > 0 else np.zeros(space.size)
    serving_col = space.axes.index(SERVING_AXIS) if SERVING_AXIS in space.axes else None
    serving = (
        space.choice[:, serving_col] > 0
        if serving_col is not None
        else np.zeros(space.size, dtype=bool)
    )
    tta = st_tta[st]
    return Figures(
        st_cost[st],
        np.round(one_off, 2),
        st_ttft[st],
        st_tpot[st],
        tta,
        coverage,
        burden,
        st_fits[st],
        st_valid[st],
        serving,
        hosted & np.isnan(tta),
    )


def feasible(fig: Figures, c: Constraints, *, serving_first: bool = False) -> npt.NDArray[np.bool_]:
    """Within every constraint; with ``serving_first`` (serving economics fail today) only
    candidates with a serving option qualify (the seed: serving before any other axis)."""
    ok = fig.comparable
    if serving_first:
        ok &= fig.serving
    limits = (
        (fig.cost, c.monthly_budget_usd),
        (fig.one_off, c.one_off_budget_usd),
        (fig.ttft, c.ttft_p95_ms),
        (fig.tpot, c.tpot_p95_ms),
        (fig.tta, c.time_to_answer_p95_ms),
    )
    for values, limit in limits:
        if limit is not None:
            ok &= ~np.isnan(values) & (values <= limit)
    if c.governance_capacity is not None:
        ok &= fig.burden <= c.governance_capacity
    return ok


def _objectives(fig: Figures) -> npt.NDArray[np.float64]:
    """Columns to minimise: cost, time to answer, burden, −coverage (NaN cost/time: +inf)."""
    inf = np.inf
    return np.stack(
        [
            np.where(np.isnan(fig.cost), inf, fig.cost),
            np.where(np.isnan(fig.tta), inf, fig.tta),
            fig.burden.astype(np.float64),
            -fig.coverage,
        ],
        axis=1,
    )


def frontier(
    obj: npt.NDArray[np.float64],
    candidates: npt.NDArray[np.int64],
    tiebreak: npt.NDArray[np.float64],
) -> list[int]:
    """The candidates (indices into ``obj``) no other of ``candidates`` dominates (minimise every
    column); of equal objective vectors only the first by ``tiebreak`` is kept."""
    if candidates.size == 0:
        return []
    sub = obj[candidates]
    order = np.lexsort((tiebreak[candidates], sub[:, 3], sub[:, 2], sub[:, 1], sub[:, 0]))
    rows = sub[order]
    # Sorted by cost then time then burden (then coverage, then the tiebreak): no later row
    # dominates an earlier one, so a row is kept when no earlier row is <= it in every column.
    # An earlier row that is <= it and not kept has a kept row <= it in turn (<= is transitive),
    # so it is enough to compare each block of rows with the rows kept before the block and with
    # the block's earlier rows (numpy, FRONTIER_BLOCK rows at a time).
    keep = np.zeros(rows.shape[0], dtype=bool)
    front = rows[:0]
    for lo in range(0, rows.shape[0], FRONTIER_BLOCK):
        blk = rows[lo : lo + FRONTIER_BLOCK]
        dominated = np.triu(_all_le(blk, blk), k=1).any(axis=0)
        if front.shape[0]:
            dominated |= _all_le(front, blk).any(axis=0)
        keep[lo : lo + blk.shape[0]] = ~dominated
        front = np.concatenate([front, blk[~dominated]])
    return [int(n) for n in candidates[order[keep]]]


def _all_le(a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
    """``out[i, j]``: row ``a[i]`` <= row ``b[j]`` in every column (column by column: numpy's
    ``all`` over a short last axis is many times slower)."""
    out = a[:, None, 0] <= b[None, :, 0]
    for c in range(1, a.shape[1]):
        out &= a[:, None, c] <= b[None, :, c]
    return out


def serving_fails(
    base_eval: ServingFigures, fms: Sequence[FailureMode], c: Constraints
) -> list[str]:
    """Why serving economics fail today (empty: they do not)."""
    why = []
    if not base_eval.fits:
        why.append("the deployment does not fit on its GPUs")
    cost = base_eval.monthly_cost_usd
    if c.monthly_budget_usd is not None and cost is not None and cost > c.monthly_budget_usd:
        why.append(
            f"it costs ${cost:,.0f}/month in GPU-hours needed against a "
            f"${c.monthly_budget_usd:,.0f} budget"
        )
    ttft, tpot = base_eval.ttft_ms_p95, base_eval.tpot_ms_p95
    if c.ttft_p95_ms is not None and ttft is not None and ttft > c.ttft_p95_ms:
        why.append(f"TTFT p95 {ttft:,.0f} ms exceeds {c.ttft_p95_ms:,g} ms")
    if c.tpot_p95_ms is not None and tpot is not None and tpot > c.tpot_p95_ms:
        why.append(f"TPOT p95 {tpot:,.1f} ms exceeds {c.tpot_p95_ms:,g} ms")
    if any(SERVING_AXIS in f.axes for f in fms):
        why.append("a serving-economics failure mode was reported")
    return why


def _point(space: Space, fig: Figures, feas: npt.NDArray[np.bool_], n: int) -> Point:
    def f(v: float) -> float | None:
        return None if math.isnan(v) else float(v)

    items = tuple(Item(i.axis, i.technique, dict(i.params)) for i in space.items(n))
    h = next((o for o in space.candidate_options(n) if o.hosted is not None), None)
    return Point(
        n,
        items,
        f(fig.cost[n]),
        f(fig.one_off[n]),
        f(fig.ttft[n]),
        f(fig.tpot[n]),
        f(fig.tta[n]),
        float(fig.coverage[n]),
        int(fig.burden[n]),
        bool(feas[n]),
        None if h is None else hosted_part(space, h, f(fig.cost[n])),
    )


def hosted_part(space: Space, h: Option, total: float | None) -> HostedPart:
    """What a point's hosted option costs and changes: the API's share of the bill (its prices x
    the routed requests' tokens), the self-hosted rest, the latency's source, and the data that
    leaves the organisation with the framework risks it brings in."""
    o, b = h.hosted, space.base
    assert o is not None
    api = o.monthly(b.input_tokens, b.output_tokens, b.requests_per_day * h.share)
    lat = HostedLatency.of(o.ttft_ms, o.output_tokens_per_s)
    risks = hosted_data_risks(space.regulatory_flags, o.provider)
    what = (
        "moves every request to"
        if h.share >= 1
        else f"routes the easiest {h.share:.0%} of requests to"
    )
    return HostedPart(
        key=o.key,
        provider=o.provider,
        model=o.model,
        kind="move" if h.share >= 1 else "route",
        share=h.share,
        hosted_monthly_cost_usd=api,
        self_hosted_monthly_cost_usd=None if total is None else max(total - api, 0.0),
        cached_share=o.cached_share,
        input_per_m_usd=o.price.input,
        cached_input_per_m_usd=o.price.cached_input,
        output_per_m_usd=o.price.output,
        latency_known=lat.time_to_answer_ms is not None,
        latency_source=lat.reason,
        data_leaves_organisation=True,
        governance_risks=tuple(risks),
        governance_burden_added=HOSTED_DATA_RISK_BURDEN * len(risks),
        note=f"{what} the hosted API {o.provider} {o.model}; "
        + data_note(space.regulatory_flags, o.provider),
    )


def _why(p: Point, serving_why: list[str], n_feasible: int) -> str:
    names = ", ".join(i.technique for i in p.items) or "no change"
    parts = []
    if serving_why:
        serving = [i.technique for i in p.items if i.axis == SERVING_AXIS]
        lead = "serving economics fail today (" + "; ".join(serving_why) + ")"
        parts.append(
            lead + f", so serving comes first: it includes {serving[0]}" if serving else lead
        )
    cost = (
        f"${p.monthly_cost_usd:,.0f}/month"
        if p.monthly_cost_usd is not None
        else ("an unpriced monthly cost")
    )
    parts.append(
        f"of the {n_feasible:,} plans within the constraints it has the highest "
        f"coverage ({p.coverage:.0%}), at the lowest cost for that ({cost})"
    )
    if p.hosted is not None:
        parts.append(p.hosted.note)
        if not p.hosted.latency_known:
            parts.append(
                "its time to answer is unknown (no published latency), so it is chosen "
                "only because no latency limit was set"
            )
    return f"{names}: " + "; ".join(parts) + "."


def choose(points: Sequence[Point], serving_why: Sequence[str], n_feasible: int) -> Best:
    """The recommended point (its index in ``points``) and why: when serving economics fail
    (``serving_why``), feasible points with a serving option first; then the highest coverage,
    then the lowest monthly cost, time to answer and governance burden."""
    inf = math.inf

    def rank(i: int) -> tuple[float, ...]:
        p = points[i]
        serving = any(it.axis == SERVING_AXIS for it in p.items)
        return (
            0.0 if not serving_why or serving else 1.0,
            -p.coverage,
            inf if p.monthly_cost_usd is None else p.monthly_cost_usd,
            inf if p.time_to_answer_p95_ms is None else p.time_to_answer_p95_ms,
            p.governance_burden,
        )

    feasible_pts = [i for i, p in enumerate(points) if p.feasible]
    if not feasible_pts and serving_why:
        return Best(
            None,
            "serving economics fail today (" + "; ".join(serving_why) + ") and no "
            "plan with a serving option meets every constraint; serving comes before "
            "any other axis, so none is recommended: relax the budget or the latency "
            "limits",
        )
    if not feasible_pts:
        return Best(
            None,
            "no candidate meets every constraint; the points shown are the frontier "
            "without them: relax the budget, the latency limits or the governance "
            "capacity",
        )
    pick = min(feasible_pts, key=rank)
    return Best(pick, _why(points[pick], list(serving_why), n_feasible))


def final_figures(space: Space, n: int) -> FinalRow | None:
    """Candidate ``n``'s figures by the portfolio computation with the capacity planner
    (:func:`evaluate_portfolio`, as a saved portfolio is priced): fits, monthly cost, one-off,
    TTFT (first emitted token), TPOT and time to answer p95 (NaN: none; fits False: the planner
    refused it). None for a hosted point (its figures are the API's, and a route's self-hosted
    part is already the planner's). Cached on the space."""
    if n in space.finals:
        return space.finals[n]
    out: FinalRow | None = None
    if not any(o.hosted is not None for o in space.candidate_options(n)):
        try:
            ev = evaluate_portfolio(
                space.base, space.items(n), space.data, regulated=space.regulated
            )
            out = (
                bool(ev.fits),
                _num(ev.monthly_cost_usd),
                _num(ev.one_off_cost_usd),
                _num(ev.ttft_ms_p95),
                _num(ev.tpot_ms_p95),
                _num(ev.time_to_answer_ms_p95),
            )
        except FieldError:
            nan = math.nan
            out = (False, nan, nan, nan, nan, nan)
    space.finals[n] = out
    return out


def finalise(space: Space, fig: Figures, indices: Sequence[int]) -> None:
    """Replace the screened figures of ``indices`` by :func:`final_figures` (in place)."""
    for n in indices:
        row = final_figures(space, n)
        if row is None:
            continue
        fits, fig.cost[n], fig.one_off[n], fig.ttft[n], fig.tpot[n], fig.tta[n] = row
        fig.fits[n] = fits


def _base_figures(fig: Figures, n: int) -> ServingFigures | None:
    if not fig.valid[n]:
        return None

    def f(v: float) -> float | None:
        return None if math.isnan(v) else float(v)

    return ServingFigures(
        bool(fig.fits[n]), f(fig.cost[n]), f(fig.one_off[n]), f(fig.tta[n]), f(fig.tpot[n])
    )


def _shown(
    space: Space,
    fig: Figures,
    feas: npt.NDArray[np.bool_],
    among: npt.NDArray[np.int64] | None = None,
) -> list[int]:
    """The feasible frontier and the infeasible points of the overall frontier (of ``among``,
    default every candidate), best coverage first."""
    ok = fig.comparable
    obj = _objectives(fig)
    tiebreak = (
        np.where(np.isnan(fig.one_off), np.inf, fig.one_off) + (space.choice > 0).sum(axis=1) * 1e-9
    )
    pool = np.arange(space.size, dtype=np.int64) if among is None else among
    feas_front = frontier(obj, pool[feas[pool]], tiebreak)
    all_front = frontier(obj, pool[ok[pool]], tiebreak)
    shown = list(dict.fromkeys(feas_front + [n for n in all_front if not feas[n]]))
    shown.sort(key=lambda n: (-fig.coverage[n], obj[n, 0], obj[n, 1], obj[n, 2]))
    return shown


def combine(
    space: Space,
    outcomes: Mapping[int, StateOutcome],
    c: Constraints,
    started: float,
    *,
    planner: bool = True,
) -> SearchResult:
    """The frontier and the pick. Every candidate is screened with its serving state's figures
    (``planner=False`` figures); with ``planner`` (the default) the deployment as it is and the
    screened frontier's points are then priced with the capacity planner, as a saved portfolio
    is (:func:`final_figures`), and feasibility and dominance are decided again among them: the
    points returned carry the figures their saved portfolios show."""
    fig = figures(space, outcomes)
    base_n = int(np.flatnonzero((space.choice == 0).all(axis=1))[0])
    if planner:
        finalise(space, fig, [base_n])
    base_eval = _base_figures(fig, base_n)
    serving_why = (
        serving_fails(base_eval, space.failure_modes, c)
        if base_eval
        else ["the deployment as it is cannot be evaluated"]
    )
    if planner:
        finalise(space, fig, list(space.finals))  # the planner's figures known already
    feas = feasible(fig, c, serving_first=bool(serving_why))
    n_feasible = int(feas.sum())
    shown = _shown(space, fig, feas)[:MAX_PARETO]
    rounds = 0
    while planner:
        # price the frontier's screened points with the planner; where that changes the
        # frontier (a point's planner figures miss a constraint or are dominated), the next
        # screened points come up: again until the frontier's points all carry the planner's
        todo = [n for n in shown if n not in space.finals]
        if not todo:
            break
        finalise(space, fig, todo)
        feas = feasible(fig, c, serving_first=bool(serving_why))
        rounds += 1
        if rounds >= MAX_FINAL_ROUNDS:  # keep the points priced so far
            shown = _shown(space, fig, feas, np.array(shown, dtype=np.int64))
            break
        shown = _shown(space, fig, feas)[:MAX_PARETO]
    ok = fig.comparable
    points = tuple(_point(space, fig, feas, n) for n in shown)
    best = choose(points, serving_why, n_feasible)
    if best.index is None and c.monthly_budget_usd is not None and np.isnan(fig.cost[ok]).all():
        best = replace(
            best,
            why="the GPU has no price, so no monthly cost can be computed and the monthly "
            "budget cannot be checked: set the GPU's price (catalog) or search without "
            "a monthly budget",
        )
    excluded = list(space.excluded)
    for o in outcomes.values():
        if o.error and len(excluded) < MAX_EXCLUDED:
            excluded.append(Excluded(o.error.split(" (", 1)[0], o.error))
    baseline = Baseline(
        monthly_cost_usd=base_eval.monthly_cost_usd if base_eval else None,
        ttft_p95_ms=float(fig.ttft[base_n]) if not math.isnan(fig.ttft[base_n]) else None,
        tpot_p95_ms=base_eval.tpot_ms_p95 if base_eval else None,
        fits=bool(base_eval.fits) if base_eval else False,
        serving_fails=tuple(serving_why),
    )
    return SearchResult(
        space.size,
        len(outcomes),
        round((time.perf_counter() - started) * 1e3, 1),
        points,
        best,
        tuple(excluded),
        bool(serving_why),
        baseline,
    )


def search(
    base: Scenario,
    data: AxisData,
    failure_modes: Sequence[FailureMode],
    constraints: Constraints,
    *,
    regulated: bool = False,
    corpus_tokens: float = 0.0,
    progress: Progress | None = None,
    max_candidates: int = 2_000_000,
    hosted: Sequence[HostedOffer] = (),
    regulatory_flags: Sequence[str] = (),
) -> SearchResult:
    """Enumerate, evaluate every serving state, combine and pick (see the module docstring)."""
    started = time.perf_counter()
    space = build_space(
        base,
        data,
        failure_modes,
        regulated=regulated,
        corpus_tokens=corpus_tokens,
        max_candidates=max_candidates,
        hosted=hosted,
        regulatory_flags=regulatory_flags,
    )
    outcomes = evaluate_states(space, range(len(space.states)), progress)
    return combine(space, outcomes, constraints, started)
