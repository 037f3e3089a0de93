"""Disaggregated evaluation: find the segments that regress while the aggregate improves (pure).

Seed 000 §6: "A model that improves globally while degrading on the queries that represent the
highest regulatory risk or highest revenue concentration is not an improvement in any
operationally meaningful sense" (Conneau et al. 2020; BIG-bench). For each metric, a segment
regresses when its change, signed so that positive is better, is below −tolerance (in the
metric's own unit). The aggregate is the segment named ``all``/``overall``/``aggregate`` when one is
given, else the unweighted mean of the segments. A regression is *hidden* when the aggregate of
the same metric improved (or held). High-risk segments sort first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from app.estimators.errors import FieldError

AGGREGATE_NAMES = ("all", "overall", "aggregate")
RISK_ORDER = {"high": 0, "medium": 1, "low": 2, "unrated": 3}


class EvaluationError(FieldError):
    def __init__(self, message: str, field: str) -> None:
        super().__init__(message, field=field)


@dataclass(frozen=True, slots=True)
class Result:
    segment: str
    metric: str
    phase: str  # before | after
    value: float
    higher_is_better: bool = True


@dataclass(frozen=True, slots=True)
class Regression:
    segment: str
    metric: str
    before: float
    after: float
    change: float  # signed: positive = better
    risk: str
    hidden: bool  # the aggregate of this metric improved or held meanwhile


@dataclass(frozen=True, slots=True)
class Analysis:
    aggregate: dict[str, dict[str, float]]  # phase -> metric -> value
    regressions: list[Regression]
    segments: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "aggregate": self.aggregate,
            "regressions": [
                {
                    "segment": r.segment,
                    "metric": r.metric,
                    "before": r.before,
                    "after": r.after,
                    "change": r.change,
                    "risk": r.risk,
                    "hidden": r.hidden,
                }
                for r in self.regressions
            ],
            "segments": self.segments,
        }


def analyse(
    results: Sequence[Result], segment_risk: Mapping[str, str], *, tolerance: float = 0.0
) -> Analysis:
    if tolerance < 0:
        raise EvaluationError("tolerance must be >= 0", "tolerance")
    table: dict[str, dict[str, dict[str, float]]] = {}  # metric -> segment -> phase -> value
    better: dict[str, bool] = {}
    for i, r in enumerate(results):
        if r.phase not in ("before", "after"):
            raise EvaluationError("phase must be before or after", f"results[{i}].phase")
        if better.setdefault(r.metric, r.higher_is_better) != r.higher_is_better:
            raise EvaluationError(
                f"metric '{r.metric}' has both directions of higher_is_better",
                f"results[{i}].higher_is_better",
            )
        cell = table.setdefault(r.metric, {}).setdefault(r.segment, {})
        if r.phase in cell:
            raise EvaluationError(
                f"{r.segment} / {r.metric} / {r.phase} is given twice", f"results[{i}]"
            )
        cell[r.phase] = r.value
    for metric, segs in table.items():
        for seg, phases in segs.items():
            if set(phases) != {"before", "after"}:
                missing = "after" if "before" in phases else "before"
                raise EvaluationError(f"{seg} / {metric} has no '{missing}' value", "results")
    risk = {k.lower(): v for k, v in segment_risk.items()}
    aggregate: dict[str, dict[str, float]] = {"before": {}, "after": {}}
    regressions = []
    for metric, segs in sorted(table.items()):
        named = next((s for s in segs if s.lower() in AGGREGATE_NAMES), None)
        parts = {s: v for s, v in segs.items() if s != named}
        for phase in ("before", "after"):
            if named is not None:
                aggregate[phase][metric] = segs[named][phase]
            else:
                aggregate[phase][metric] = round(
                    sum(v[phase] for v in parts.values()) / len(parts), 6
                )
        sign = 1.0 if better[metric] else -1.0
        agg_change = sign * (aggregate["after"][metric] - aggregate["before"][metric])
        for seg, v in parts.items():
            change = sign * (v["after"] - v["before"])
            if change < -tolerance:
                regressions.append(
                    Regression(
                        seg,
                        metric,
                        v["before"],
                        v["after"],
                        round(change, 6),
                        risk.get(seg.lower(), "unrated"),
                        agg_change >= 0,
                    )
                )
    regressions.sort(key=lambda r: (RISK_ORDER.get(r.risk, 9), not r.hidden, r.change))
    return Analysis(aggregate, regressions, {m: dict(s) for m, s in table.items()})
