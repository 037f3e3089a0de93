"""The shipped rule set and the catalog facts it is checked against, read from the package's YAML
files (pure: no database; the web layer stores rule-set versions and passes them in)."""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import yaml

from app.rules.engine import Context, FailureModeInfo, RuleSet, parse_ruleset
from app.rules.matrix import Matrix


def _yaml(package: str, name: str) -> Any:
    return yaml.safe_load((resources.files(package) / "data" / name).read_text())


@cache
def catalog() -> dict[str, Any]:
    axes = _yaml("app.catalog", "axes.yaml")
    techniques = _yaml("app.catalog", "techniques.yaml")["techniques"]
    fms = _yaml("app.catalog", "failure_modes.yaml")["failure_modes"]
    return {
        "matrix": {a["key"]: {d: v[0] for d, v in a["matrix"].items()} for a in axes["axes"]},
        "profiles": {p["key"]: p["weights"] for p in axes["profiles"]},
        "techniques": {t["key"]: t["axis"] for t in techniques},
        "technique_names": {t["key"]: t["name"] for t in techniques},
        "technique_citations": {t["key"]: t["citation"] for t in techniques},
        "failure_modes": {
            f["key"]: FailureModeInfo(f["key"], f["name"], f["expected_outcome"], f["citation"])
            for f in fms
        },
    }


def parse(data: Any) -> RuleSet:
    c = catalog()
    return parse_ruleset(
        data,
        axes=list(c["matrix"]),
        techniques=c["techniques"],
        failure_modes=list(c["failure_modes"]),
    )


@cache
def default_ruleset_text() -> str:
    return (resources.files("app.rules") / "data" / "ruleset.yaml").read_text()


def context(
    facts: dict[str, Any],
    profile: str,
    *,
    matrix: Matrix | None = None,
    impacts: dict[str, dict[str, float | None]] | None = None,
    governance_capacity: int | None = None,
) -> Context:
    c = catalog()
    return Context(
        facts=facts,
        matrix=matrix or c["matrix"],
        profile_weights=c["profiles"][profile],
        failure_modes=c["failure_modes"],
        technique_citations=c["technique_citations"],
        technique_names=c["technique_names"],
        impacts=impacts or {},
        governance_capacity=governance_capacity,
    )
