"""Rule conditions as data: typed comparisons on named facts, combined with all / any / not.

A condition is one of::

    {"all": [cond, ...]}   {"any": [cond, ...]}   {"not": cond}
    {"fact": "fm.factual_staleness.severity", "op": "ge", "value": 2}

``op`` is one of ``eq ne lt le gt ge in not_in present``. Facts are a flat mapping of dotted names
to numbers, strings or booleans; a comparison on a fact that is absent is false (``present`` tests
for it). Nothing is evaluated as code.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

Fact = bool | int | float | str
OPS = ("eq", "ne", "lt", "le", "gt", "ge", "in", "not_in", "present")
_ORDERED = ("lt", "le", "gt", "ge")


class ConditionError(ValueError):
    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path


def validate(cond: Any, path: str = "when") -> None:
    """Raise :class:`ConditionError` naming the offending path unless ``cond`` is well formed."""
    if not isinstance(cond, Mapping) or len(cond) == 0:
        raise ConditionError(path, "a condition is a mapping with all, any, not or fact")
    keys = set(cond)
    if keys & {"all", "any"}:
        if len(keys) != 1:
            raise ConditionError(path, "all/any stands alone in its mapping")
        (key,) = keys
        items = cond[key]
        if not isinstance(items, list) or not items:
            raise ConditionError(f"{path}.{key}", "needs a non-empty list of conditions")
        for i, c in enumerate(items):
            validate(c, f"{path}.{key}[{i}]")
        return
    if "not" in keys:
        if len(keys) != 1:
            raise ConditionError(path, "not stands alone in its mapping")
        validate(cond["not"], f"{path}.not")
        return
    if not keys <= {"fact", "op", "value"} or "fact" not in keys or "op" not in keys:
        raise ConditionError(path, f"unexpected keys {sorted(keys)}; want fact, op, value")
    fact, op = cond["fact"], cond["op"]
    if not isinstance(fact, str) or not fact:
        raise ConditionError(f"{path}.fact", "must be a dotted fact name")
    if op not in OPS:
        raise ConditionError(f"{path}.op", f"'{op}' is not one of {', '.join(OPS)}")
    if op == "present":
        if "value" in cond:
            raise ConditionError(path, "present takes no value")
        return
    if "value" not in cond:
        raise ConditionError(path, f"{op} needs a value")
    value = cond["value"]
    if op in ("in", "not_in"):
        if not isinstance(value, list) or not all(_is_fact(v) for v in value):
            raise ConditionError(f"{path}.value", f"{op} needs a list of numbers or strings")
    elif not _is_fact(value):
        raise ConditionError(f"{path}.value", "must be a number, string or boolean")
    elif op in _ORDERED and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise ConditionError(f"{path}.value", f"{op} compares numbers")


def _is_fact(v: Any) -> bool:
    return isinstance(v, bool | int | float | str)


def evaluate(cond: Mapping[str, Any], facts: Mapping[str, Fact]) -> bool:
    """Truth of a validated condition over ``facts``."""
    if "all" in cond:
        return all(evaluate(c, facts) for c in cond["all"])
    if "any" in cond:
        return any(evaluate(c, facts) for c in cond["any"])
    if "not" in cond:
        return not evaluate(cond["not"], facts)
    name, op = cond["fact"], cond["op"]
    if name not in facts:
        return False
    if op == "present":
        return True
    have, want = facts[name], cond["value"]
    if op == "eq":
        return bool(have == want)
    if op == "ne":
        return bool(have != want)
    if op == "in":
        return have in want
    if op == "not_in":
        return have not in want
    if isinstance(have, bool) or not isinstance(have, int | float):
        return False  # ordered comparison on a non-number: false, never an exception
    if op == "lt":
        return bool(have < want)
    if op == "le":
        return bool(have <= want)
    if op == "gt":
        return bool(have > want)
    return bool(have >= want)


def facts_used(cond: Mapping[str, Any]) -> list[str]:
    """Every fact a condition reads (for "why" lines)."""
    if "all" in cond or "any" in cond:
        return [f for c in cond.get("all", cond.get("any", [])) for f in facts_used(c)]
    if "not" in cond:
        return facts_used(cond["not"])
    return [cond["fact"]]
