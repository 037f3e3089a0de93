"""Matrix dry run (issue 22, item 13): how each submitted assessment's ranking would change if a
candidate matrix were published, before it is. Like the rule-set dry run
(:func:`app.assessments.service.dry_run`): the current rule set runs twice on the facts stored with
each assessment's latest recommendation, once under the current matrix and once under the
candidate; only the matrix differs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from sqlalchemy.orm import Session

from app.assessments.repository import AssessmentRepository
from app.assessments.service import _engine_context
from app.auth.context import Caller
from app.deployments import service as deployments
from app.rules.engine import Result, run
from app.rulesets import service as rulesets


def _ranked(result: Result) -> list[tuple[str, str, float]]:
    return [(f"{i.axis}/{i.technique}", i.technique_name, i.score) for i in result.items]


def matrix_dry_run(
    session: Session,
    caller: Caller,
    current_version: int,
    candidate: Mapping[str, Mapping[str, int]],
) -> dict[str, Any]:
    """Each submitted assessment whose ranking (order, or the set of items) would change under
    ``candidate`` (axis -> dimension -> level), with the ranks before and after."""
    _, rules = rulesets.current(session, caller.org_id)
    repo = AssessmentRepository(session, caller.org_id)
    assessments = repo.submitted()
    latest_of = repo.latest_recommendations([a.id for a in assessments])
    changes: list[dict[str, Any]] = []
    checked = 0
    for a in assessments:
        latest = latest_of.get(a.id)
        if latest is None:
            continue
        checked += 1
        dep = deployments.get(session, caller, a.deployment_id)
        stored = latest.facts
        ctx, _ = _engine_context(
            session, caller.org_id, stored, dep.profile, stored.get("ctx.governance_capacity")
        )
        before = _ranked(run(rules, ctx))
        after = _ranked(run(rules, replace(ctx, matrix={k: dict(v) for k, v in candidate.items()})))
        if [k for k, _, _ in before] == [k for k, _, _ in after]:
            continue
        rank_before = {k: n for n, (k, _, _) in enumerate(before, 1)}
        names = {k: name for k, name, _ in before + after}
        moves = []
        for n, (k, _, score) in enumerate(after, 1):
            was = rank_before.get(k)
            if was != n:
                moves.append({"key": k, "name": names[k], "from": was, "to": n, "score": score})
        after_keys = {k for k, _, _ in after}
        moves += [
            {"key": k, "name": names[k], "from": rank_before[k], "to": None, "score": None}
            for k, _, _ in before
            if k not in after_keys
        ]
        changes.append(
            {
                "assessment_id": a.id,
                "deployment": dep.name,
                "before": [name for _, name, _ in before],
                "after": [name for _, name, _ in after],
                "top_changed": [k for k, _, _ in before[:1]] != [k for k, _, _ in after[:1]],
                "moves": moves,
            }
        )
    return {
        "current_version": current_version,
        "assessments": checked,
        "changed": len(changes),
        "changes": changes,
    }
