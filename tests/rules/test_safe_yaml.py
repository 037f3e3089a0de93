"""The bounded, alias-free YAML loader for rule-set uploads (issue 17): what it refuses, where it
says the problem is, that it stops at the first anchor of an alias bomb, that the caps leave room
for real rule sets, and that what it accepts cannot balloon when stored as JSON. The API and page
behaviour is in tests/web/test_hostile_input.py; the speed of the largest upload is measured by
``python -m bench.ruleset_yaml``."""

from __future__ import annotations

import itertools
import json
import string
from typing import Any

import pytest
import yaml

from app.rules import safe_yaml
from app.rules.reference import default_ruleset_text, parse
from app.rules.safe_yaml import MAX_RULES, RULESET_LIMITS, YamlRefused, load, load_ruleset
from bench.ruleset_yaml import alias_bomb, densest_ruleset, largest_ruleset

RULE = (
    "  - id: r{i}\n    when: {{fact: fm.factual_staleness.severity, op: ge, value: 1}}\n"
    "    then: {{recommend: {{failure_mode: factual_staleness, axis: retrieval, "
    "technique: rag}}}}\n"
)


def _rules(n: int) -> str:
    return "version: 1\nrules:\n" + "".join(RULE.format(i=i) for i in range(n))


def test_the_shipped_rule_set_loads_as_safe_load_reads_it() -> None:
    text = default_ruleset_text()
    assert load_ruleset(text) == yaml.safe_load(text)


def test_plain_scalars_resolve_as_safe_load_resolves_them() -> None:
    text = (
        "a: [~, null, '', true, no, On, 0x1F, 017, 0b101, 1_000, -3, 1:30, 1.5e+3, 1.5e3,"
        " 2.5, -.5, text, '1', \"yes\", 'null', \"\\u00e9\\t\"]\nb: |\n  block\n  text\n"
    )
    got = load(text, RULESET_LIMITS)
    assert got == yaml.safe_load(text)
    assert [type(v).__name__ for v in got["a"]][:8] == [
        "NoneType",
        "NoneType",
        "str",
        "bool",
        "bool",
        "bool",
        "int",
        "int",
    ]


@pytest.mark.parametrize(
    ("text", "message", "line", "column"),
    [
        ("rules:\n  - &a {id: x}\n  - *a\n", "anchors (&a) are not allowed", 2, 5),
        ("rules:\n  - id: x\n    when: *c\n", "aliases (*c) are not allowed", 3, 11),
        ("rules:\n  - {<<: {id: x}, when: {}}\n", "merge keys (<<) are not allowed", 2, 6),
        (
            "rules: !!python/object/apply:os.system ['id']\n",
            "tags (!!python/object/apply:os.system)",
            1,
            8,
        ),
        ("rules:\n  - id: !!str 5\n", "tags (!!str)", 2, 9),
        ("rules:\n  - id: !local x\n", "tags (!local)", 2, 9),
        ("rules:\n  - id: ! x\n", "tags (!)", 2, 9),
        ("[" * 500, "nested deeper than 16 levels", 1, 17),
        ("rules: []\nextra: 1\n", "unknown top-level key 'extra'; allowed: version, rules", 2, 1),
        ("rules: []\nrules: []\n", "duplicate key 'rules'", 2, 1),
        ("rules:\n  - {id: x, 1: y}\n", "mapping keys must be text; quote '1'", 2, 13),
        ("rules:\n  - {id: x, yes: y}\n", "mapping keys must be text; quote 'yes'", 2, 13),
        ("rules:\n  - {[a]: y}\n", "a mapping key must be text", 2, 6),
        ("rules:\n  - {id: 2024-01-01}\n", "'2024-01-01' reads as a date", 2, 10),
        ("rules:\n  - {id: " + "9" * 41 + "}\n", "integer too large", 2, 10),
        ("rules:\n  - {id: 0x8000000000000000}\n", "integer too large (beyond 64 bits)", 2, 10),
        ("rules:\n  - {id: .inf}\n", "'.inf' is not a finite number", 2, 10),
        ("rules:\n  - {id: .NaN}\n", "'.NaN' is not a finite number", 2, 10),
        ("rules:\n  - {id: =}\n", "'=' has no plain meaning here", 2, 10),
        ('rules:\n  - {id: "a\\0b"}\n', "control character U+0000", 2, 10),
        ('rules:\n  - {id: "a\\x1bb"}\n', "control character U+001B", 2, 10),
        ("rules: []\n---\nrules: []\n", "only one YAML document", 2, 1),
        ("rules: [\n", "not valid YAML", 2, 1),
        (_rules(MAX_RULES + 1), f"more than {MAX_RULES} entries in 'rules'", 3 + 3 * MAX_RULES, 5),
    ],
)
def test_refusals_name_the_problem_and_where(
    text: str, message: str, line: int, column: int
) -> None:
    with pytest.raises(YamlRefused) as err:
        load_ruleset(text)
    assert message in err.value.message
    assert (err.value.line, err.value.column) == (line, column), str(err.value)
    assert str(err.value).endswith(f"at line {line}, column {column}")


def test_size_is_counted_in_utf8_bytes() -> None:
    fits = "version: '" + "é" * ((RULESET_LIMITS.max_bytes - 11) // 2) + "'"
    assert len(fits.encode()) <= RULESET_LIMITS.max_bytes
    assert load_ruleset(fits)["version"].startswith("é")
    over = fits[:-1] + "é'"
    assert len(over) < RULESET_LIMITS.max_bytes < len(over.encode())
    with pytest.raises(YamlRefused, match=f"at most {RULESET_LIMITS.max_bytes:,} are accepted"):
        load_ruleset(over)
    with pytest.raises(YamlRefused, match="unpaired surrogate"):
        load_ruleset("version: '\ud800'")


def test_the_node_cap_counts_scalars_lists_and_mappings() -> None:
    at_cap = "version: [" + ", ".join("x" for _ in range(RULESET_LIMITS.max_nodes - 3)) + "]"
    assert len(load_ruleset(at_cap)["version"]) == RULESET_LIMITS.max_nodes - 3
    with pytest.raises(YamlRefused, match=f"more than {RULESET_LIMITS.max_nodes:,} values"):
        load_ruleset(at_cap[:-1] + ", x]")


class _CountingLoader(safe_yaml._Loader):  # type: ignore[name-defined,misc]
    events = 0

    def get_event(self) -> Any:
        type(self).events += 1
        return super().get_event()


def test_the_alias_bomb_is_refused_at_its_first_anchor_without_expansion(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bomb = alias_bomb(depth=7)  # 9**7 = 4.8 million conditions once expanded
    shipped_events = sum(1 for _ in yaml.parse(default_ruleset_text(), Loader=safe_yaml._Loader))
    monkeypatch.setattr(safe_yaml, "_Loader", _CountingLoader)
    with pytest.raises(YamlRefused, match=r"anchors \(&c0\) are not allowed") as err:
        load_ruleset(bomb)
    first_anchor = bomb.splitlines().index(next(x for x in bomb.splitlines() if "&c0" in x))
    assert err.value.line == first_anchor + 1
    # Nothing after the first anchor was read: the shipped rules, then a handful of events.
    assert _CountingLoader.events <= shipped_events + 5


def test_the_caps_leave_room_for_real_rule_sets() -> None:
    largest, densest = largest_ruleset(), densest_ruleset()
    assert RULESET_LIMITS.max_bytes - 1000 < len(largest.encode()) <= RULESET_LIMITS.max_bytes
    assert len(parse(load_ruleset(largest)).rules) > 200  # ten times the shipped 22
    assert len(parse(load_ruleset(densest)).rules) == 100  # exactly the node cap
    assert len(parse(load_ruleset(_rules(MAX_RULES))).rules) == MAX_RULES


def _text_keys(n: int) -> list[str]:
    """Distinct one- and two-letter keys that YAML 1.1 reads as text (not ``no``, ``y``...)."""
    words = ("".join(p) for k in (1, 2) for p in itertools.product(string.ascii_letters, repeat=k))
    return list(itertools.islice((w for w in words if yaml.safe_load(w) == w), n))


@pytest.mark.parametrize(
    "text",
    [
        "version: [" + ",".join("~" for _ in range(19_000)) + "]",
        "version:\n" + "-\n" * 19_000,
        "version: {" + ",".join(_text_keys(2_500)) + "}",
        "version: " + "é" * 60_000,
        "version: " + "\U0001f600" * 30_000,
        'version: "' + "\\N" * 60_000 + '"',
        "version: [" + ",".join("[]" for _ in range(19_000)) + "]",
    ],
)
def test_what_is_accepted_cannot_balloon_when_stored_as_json(text: str) -> None:
    """The worst expansions per byte (values left out, escapes, non-ASCII) stay within six bytes
    of JSON (as a JSON column writes it) per byte of YAML: a published rule set's row is bounded by
    six times the byte cap, where an alias bomb of 13.9 KB made a 33 MB row."""
    size = len(text.encode())
    assert size <= RULESET_LIMITS.max_bytes
    stored = json.dumps({"version": 0, **load_ruleset(text)})
    assert len(stored) <= 6 * size
