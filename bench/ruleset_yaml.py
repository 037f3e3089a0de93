"""Rule-set uploads: validating the largest upload the caps allow (issue 17: target < 100 ms), and
how soon hostile ones are refused. Validation is what ``POST /api/v1/rules/validate`` does before
its catalog queries: the bounded loader (:mod:`app.rules.safe_yaml`), then the schema and catalog
checks (:func:`app.rules.reference.parse`).

    python -m bench.ruleset_yaml      (also part of ``python -m bench``)

The documents are built here so the tests use the same ones (``tests/web/test_hostile_input.py``).
"""

from __future__ import annotations

import copy
import os
import statistics
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import yaml

from app.rules.reference import default_ruleset_text, parse
from app.rules.safe_yaml import MAX_RULES, RULESET_LIMITS, load_ruleset

CONDITION = "{fact: fm.factual_staleness.severity, op: ge, value: 1}"
RECOMMEND = "{recommend: {failure_mode: factual_staleness, axis: retrieval, technique: rag}}"


def largest_ruleset() -> str:
    """The shipped rules repeated under fresh ids up to the byte cap (or the rule cap)."""
    rules = yaml.safe_load(default_ruleset_text())["rules"]  # the shipped file: trusted
    parts = ["version: 1\nrules:\n"]
    size, n = len(parts[0]), 0
    while n < MAX_RULES:
        rule = copy.deepcopy(rules[n % len(rules)])
        rule["id"] = f"{rule['id']}_{n}"
        chunk = yaml.safe_dump([rule], sort_keys=False, allow_unicode=True, width=100)
        chunk = "".join("  " + line + "\n" for line in chunk.splitlines())
        if size + len(chunk.encode()) > RULESET_LIMITS.max_bytes:
            break
        parts.append(chunk)
        size += len(chunk.encode())
        n += 1
    return "".join(parts)


def densest_ruleset() -> str:
    """A valid rule set of exactly the node cap, in ``in`` lists of one-letter values (two bytes
    a node): the most work per byte the loader accepts."""
    per_rule_fixed = 17  # the nodes of one rule besides its list items
    budget = RULESET_LIMITS.max_nodes - 5  # root mapping, version: 1, the rules key and list
    n_rules = 100
    items = budget // n_rules - per_rule_fixed
    extra = budget - n_rules * (per_rule_fixed + items)
    lines = ["version: 1", "rules:"]
    for i in range(n_rules):
        k = items + (extra if i == 0 else 0)
        values = ", ".join("x" for _ in range(k))
        when = f"{{fact: ctx.profile, op: in, value: [{values}]}}"
        lines.append(f"  - {{id: dense_{i}, when: {when}, then: {{warn: {{message: m}}}}}}")
    return "\n".join(lines) + "\n"


def alias_bomb(depth: int = 7) -> str:
    """The shipped rule set plus the attack of issue 17: each rule's condition is ``all`` of nine
    aliases of the one before, so the last stands for 9**depth conditions (about 14.6 KB)."""
    lines = [
        default_ruleset_text().rstrip("\n"),
        f"  - id: bomb_0\n    when: &c0 {CONDITION}\n    then: {RECOMMEND}",
    ]
    for level in range(1, depth + 1):
        aliases = ", ".join(f"*c{level - 1}" for _ in range(9))
        lines.append(
            f"  - id: bomb_{level}\n    when: &c{level} {{all: [{aliases}]}}\n    then: {RECOMMEND}"
        )
    return "\n".join(lines) + "\n"


def validate(text: str) -> int:
    return len(parse(load_ruleset(text)).rules)


def median_ms(
    fn: Callable[[], Any], repeats: int = 15, clock: Callable[[], float] = time.perf_counter
) -> float:
    samples = []
    for _ in range(repeats):
        t0 = clock()
        fn()
        samples.append(clock() - t0)
    return statistics.median(samples) * 1e3


def _refused_ms(text: str) -> float:
    def attempt() -> None:
        try:
            load_ruleset(text)
        except ValueError:
            return
        raise AssertionError("accepted")

    return median_ms(attempt)


def main() -> None:
    load = os.getloadavg()[0]
    print(
        f"rule-set uploads (load average {load:.1f} on {os.cpu_count()} cores; wall times "
        "include waiting for a core, CPU times do not):"
    )
    for label, text in (
        ("largest valid upload", largest_ruleset()),
        ("densest valid upload", densest_ruleset()),
    ):
        n = validate(text)
        t = median_ms(partial(validate, text))
        cpu = median_ms(partial(validate, text), clock=time.process_time)
        print(
            f"rule-set validation, {label} ({len(text.encode()):,} bytes, {n} rules): "
            f"median {t:.1f} ms of 15 (CPU {cpu:.0f} ms; target < 100 ms)"
        )
    bomb = alias_bomb()
    print(
        f"rule-set alias bomb ({len(bomb.encode()):,} bytes, depth 7): refused in median "
        f"{_refused_ms(bomb):.2f} ms; '[' x 500: {_refused_ms('[' * 500):.3f} ms"
    )


if __name__ == "__main__":
    main()
