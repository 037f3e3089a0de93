"""Portfolio search use case (issue 20): the deployment's scenario, failure modes and constraints
in; the search of :mod:`app.estimators.search` run inline up to
:data:`app.jobs.limits.INLINE_MAX_SEARCH_STATES` serving states, as a job with progress above."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from app.assessments import service as assessments
from app.assessments.repository import AssessmentRepository
from app.auth.context import Caller
from app.catalog import hosted as hosted_catalog
from app.db import session_scope
from app.deployments import service as deployments
from app.deployments.models import Deployment
from app.deployments.repository import any_org_deployment
from app.errors import InvalidInput, NotFound
from app.estimators.errors import as_field
from app.estimators.hosted import DEFAULT_CACHED_SHARE, HostedPrice
from app.estimators.interventions import Scenario
from app.estimators.portfolio import AxisData
from app.estimators.search import (
    Constraints,
    FailureMode,
    HostedOffer,
    SearchResult,
    Space,
    StateOutcome,
    build_space,
    combine,
    evaluate_states,
    outcome_from_json,
)
from app.jobs import limits
from app.jobs import service as jobs
from app.jobs.models import Job
from app.jobs.registry import Progress
from app.jobs.repository import JobRepository
from app.jobs.service import run_settings
from app.portfolios import jobs as _jobs  # noqa: F401 - registers its job kinds
from app.portfolios.search_schemas import (
    BaselineOut,
    BestOut,
    ExcludedOut,
    FailureModeIn,
    ParetoPointOut,
    PortfolioSearchIn,
    PortfolioSearchOut,
    SearchPartOut,
)
from app.portfolios.service import _axis_data, _scenario
from app.rules.questionnaire import REGULATED_FLAGS, RISK_LEVELS


@dataclass(frozen=True, slots=True)
class Inputs:
    base: Scenario
    data: AxisData
    failure_modes: tuple[FailureMode, ...]
    given: tuple[FailureModeIn, ...]
    constraints: Constraints
    regulated: bool
    corpus_tokens: float
    hosted: tuple[HostedOffer, ...] = ()
    regulatory_flags: tuple[str, ...] = ()
    include_hosted: bool = False
    defaulted: tuple[tuple[str, str], ...] = ()  # (constraint, where its value came from)


FmsFound = tuple[list[FailureModeIn], float, int | None]
# Where a constraint left out of the request takes its value from (the reply says which applied)
DEFAULT_SOURCES = {
    "monthly_budget_usd": "the deployment's monthly budget",
    "ttft_p95_ms": "the deployment's TTFT SLO",
    "tpot_p95_ms": "the deployment's TPOT SLO",
    "time_to_answer_p95_ms": "the deployment's TTFT SLO (the answer waits for the reasoning "
    "tokens; portfolios and cards hold it to the same SLO)",
    "governance_capacity": "the latest assessment's governance capacity",
}


def _failure_modes(session: Session, dep: Deployment, req: PortfolioSearchIn) -> FmsFound:
    """The failure modes to search (given, else the latest assessment's), the corpus size the
    answers give and the latest assessment's governance capacity."""
    latest = next(iter(AssessmentRepository(session, dep.org_id).for_deployment(dep.id)), None)
    capacity = latest.serving.get("governance_capacity") if latest is not None else None
    corpus = assessments.answered_corpus(
        a.get("corpus_tokens") for a in (latest.answers if latest is not None else [])
    )
    if req.failure_modes is not None:
        return list(req.failure_modes), corpus, capacity
    if latest is None:
        raise InvalidInput(
            "this deployment has no submitted assessment: give the failure modes to search",
            field="failure_modes",
        )
    risk = {s["name"].lower(): RISK_LEVELS.get(s["risk"], 0) for s in dep.segments}
    out = [
        FailureModeIn(
            failure_mode=a["failure_mode"],
            severity=a["severity"],
            traffic_share=a.get("traffic_share", 0.0),
            segment_risk=max((risk.get(s.lower(), 0) for s in a.get("segments", [])), default=0),
        )
        for a in latest.answers
    ]
    return out, corpus, capacity


def inputs(session: Session, dep: Deployment, req: PortfolioSearchIn) -> Inputs:
    """Everything the search reads; 422 naming the field for anything wrong."""
    fms_in, corpus, capacity = _failure_modes(session, dep, req)
    rows = {r.key: r.axes for r in assessments.catalog(session, dep.org_id).rows}
    fms = []
    for i, f in enumerate(fms_in):
        if f.failure_mode not in rows:
            raise InvalidInput(
                f"unknown failure mode '{f.failure_mode}'; known: {', '.join(sorted(rows))}",
                field=f"failure_modes[{i}].failure_mode",
            )
        fms.append(
            FailureMode(
                f.failure_mode,
                tuple(rows[f.failure_mode]),
                f.severity,
                f.traffic_share,
                f.segment_risk,
            )
        )
    if len({f.key for f in fms}) != len(fms):
        raise InvalidInput("one entry per failure mode", field="failure_modes")
    if not any(f.severity > 0 for f in fms):
        raise InvalidInput(
            "no failure mode has a severity above 0: nothing to search for", field="failure_modes"
        )
    c, given = req.constraints, req.constraints.model_fields_set
    defaults = {
        "monthly_budget_usd": dep.monthly_budget_usd,
        "ttft_p95_ms": dep.ttft_slo_ms,
        "tpot_p95_ms": dep.tpot_slo_ms,
        # the user waits for the reasoning tokens: the answer is held to the TTFT SLO, as a
        # portfolio's and a card's evaluation hold it (CardEconomics.slo_after)
        "time_to_answer_p95_ms": dep.ttft_slo_ms,
        "governance_capacity": capacity,
    }
    v: dict[str, Any] = {
        k: getattr(c, k) if k in given else defaults.get(k) for k in type(c).model_fields
    }
    defaulted = tuple((k, DEFAULT_SOURCES[k]) for k in defaults if k not in given)
    constraints = Constraints(
        v["monthly_budget_usd"],
        v["one_off_budget_usd"],
        v["ttft_p95_ms"],
        v["tpot_p95_ms"],
        v["time_to_answer_p95_ms"],
        v["governance_capacity"],
    )
    return Inputs(
        _scenario(session, dep),
        _axis_data(session, dep.org_id),
        tuple(fms),
        tuple(fms_in),
        constraints,
        bool(REGULATED_FLAGS & set(dep.regulatory_flags)),
        corpus,
        hosted_offers(session, dep.org_id) if req.include_hosted else (),
        tuple(dep.regulatory_flags),
        req.include_hosted,
        defaulted,
    )


def hosted_offers(session: Session, org_id: int) -> tuple[HostedOffer, ...]:
    """The priced hosted APIs at the organisation's effective prices, as plain data; the cached
    share of prompt tokens is the hosted-alternatives endpoint's default."""
    out = []
    for m in hosted_catalog.effective_models(session, org_id):
        if not m.priced or m.input_per_m_usd is None or m.output_per_m_usd is None:
            continue
        out.append(
            HostedOffer(
                m.key,
                m.provider,
                m.model,
                HostedPrice(m.input_per_m_usd, m.cached_input_per_m_usd, m.output_per_m_usd),
                m.ttft_ms,
                m.output_tokens_per_s,
                m.context_tokens,
                DEFAULT_CACHED_SHARE,
            )
        )
    return tuple(out)


def space_of(inp: Inputs) -> Space:
    with as_field("failure_modes", only_if_unnamed=True):
        return build_space(
            inp.base,
            inp.data,
            inp.failure_modes,
            regulated=inp.regulated,
            corpus_tokens=inp.corpus_tokens,
            max_candidates=limits.MAX_SEARCH_CANDIDATES,
            hosted=inp.hosted,
            regulatory_flags=inp.regulatory_flags,
        )


def _run(
    inp: Inputs, space: Space, started: float, progress: Progress | None = None
) -> PortfolioSearchOut:
    outcomes = evaluate_states(space, range(len(space.states)), progress)
    return _described(combine(space, outcomes, inp.constraints, started), inp)


def _described(res: SearchResult, inp: Inputs) -> PortfolioSearchOut:
    """The search's result with what it searched: the API's 200 body and the search job's result
    (made JSON at the boundary: the API route, the job runner's ``model_dump(mode="json")``)."""
    return PortfolioSearchOut(
        candidates_evaluated=res.candidates_evaluated,
        states_evaluated=res.states_evaluated,
        elapsed_ms=res.elapsed_ms,
        pareto=[ParetoPointOut.model_validate(p) for p in res.pareto],
        best=BestOut.model_validate(res.best),
        excluded=[ExcludedOut.model_validate(e) for e in res.excluded],
        serving_first=res.serving_first,
        baseline=BaselineOut.model_validate(res.baseline),
        constraints={k: getattr(inp.constraints, k) for k in inp.constraints.__slots__},
        failure_modes=list(inp.given),
        include_hosted=inp.include_hosted,
        constraint_defaults=dict(inp.defaulted),
    )


def search(
    session: Session, caller: Caller, deployment_id: int, req: PortfolioSearchIn
) -> PortfolioSearchOut | Job:
    """The search's result (inline), or the job started for it (over the inline limit)."""
    started = time.perf_counter()
    dep = deployments.get(session, caller, deployment_id)
    inp = inputs(session, dep, req)
    space = space_of(inp)
    if len(space.states) > limits.INLINE_MAX_SEARCH_STATES:
        params = {
            "deployment_id": dep.id,
            "org_id": dep.org_id,
            "created_by": caller.email,
            "request": req.model_dump(mode="json", exclude_unset=True),
            "states": len(space.states),
            "candidates": space.size,
        }
        return jobs.create(
            session,
            org_id=caller.org_id,
            kind="portfolio_search",
            params=params,
            created_by=caller.email,
        )
    return _run(inp, space, started)


def _params_space(factory: sessionmaker[Session], params: dict[str, Any]) -> tuple[Inputs, Space]:
    with session_scope(factory) as session:
        dep = any_org_deployment(session, params["deployment_id"])
        job_org = params.get("org_id")
        if dep is None or (job_org is not None and dep.org_id != job_org):
            raise NotFound("the deployment is no longer there")
        inp = inputs(session, dep, PortfolioSearchIn.model_validate(params["request"]))
    return inp, space_of(inp)


def run_part(
    factory: sessionmaker[Session], params: dict[str, Any], progress: Progress
) -> SearchPartOut:
    """One part of a split search: the serving states ``params["states"]`` = [first, stop)."""
    _, space = _params_space(factory, params)
    first, stop = params["states"]
    outcomes = evaluate_states(space, range(first, stop), progress)
    return SearchPartOut(outcomes={str(k): o.as_json() for k, o in outcomes.items()})


def _split(
    factory: sessionmaker[Session], params: dict[str, Any], space: Space, progress: Progress
) -> dict[int, StateOutcome]:
    """Evaluate the states in parts, each a job handed to Celery, so every free worker takes
    one. This job takes queued parts itself while it waits (claiming is atomic), so the search
    finishes even when every other worker is busy, and sooner the more workers there are."""
    settings = run_settings()
    n = len(space.states)
    parts = max(2, min(limits.SEARCH_PARTS, n // limits.MIN_STATES_PER_PART))
    bounds = [(n * i // parts, n * (i + 1) // parts) for i in range(parts)]
    with session_scope(factory) as session:
        ids = [
            jobs.create(
                session,
                org_id=params["org_id"],
                kind="portfolio_search_part",
                params={**params, "states": list(b)},
                created_by=params.get("created_by", "search"),
            ).id
            for b in bounds
        ]
    for job_id in ids:
        jobs.submit(job_id, settings)
    while True:
        with session_scope(factory) as session:
            repo = JobRepository(session)
            rows = {j: repo.get(j) for j in ids}
            state = {j: (r.status, r.result, r.error) for j, r in rows.items() if r is not None}
        done = [j for j, (st, _, _) in state.items() if st in ("succeeded", "failed")]
        progress(
            int(100 * len(done) / parts),
            f"{len(done)} of {parts} parts of {n:,} serving "
            "states done (parts run on every free worker)",
        )
        if len(done) == parts:
            break
        queued = [j for j, (st, _, _) in state.items() if st == "queued"]
        if queued:
            jobs.run(queued[0], factory, settings=settings)
        else:
            time.sleep(limits.SEARCH_POLL_S)
    failed = [err for st, _, err in state.values() if st == "failed"]
    if failed:
        raise ValueError(f"a part of the search failed: {failed[0]}")
    outcomes: dict[int, StateOutcome] = {}
    for _, result, _ in state.values():
        for k, v in SearchPartOut.model_validate(result).outcomes.items():
            outcomes[int(k)] = outcome_from_json(space, int(k), v)
    return outcomes


def run_job(
    factory: sessionmaker[Session], params: dict[str, Any], progress: Progress
) -> PortfolioSearchOut:
    """A search over the inline limit; its result is the API's 200 body. With a broker the
    serving states are split into parts run by the Celery workers (:func:`_split`), else this
    process evaluates them all."""
    started = time.perf_counter()
    inp, space = _params_space(factory, params)
    progress(1, f"{space.size:,} candidates, {len(space.states):,} serving states to evaluate")
    if run_settings().broker_url and len(space.states) >= 2 * limits.MIN_STATES_PER_PART:
        outcomes = _split(factory, params, space, progress)
    else:
        outcomes = evaluate_states(space, range(len(space.states)), progress)
    return _described(combine(space, outcomes, inp.constraints, started), inp)
