"""Bounded, alias-free YAML for text users upload (rule sets, one rule's condition or effects).

``yaml.safe_load`` constructs no code, but it honours anchors and aliases: an alias bomb (nested
lists of aliases, each level nine times the one below) of 13.6 KB loads as shared references that
every later walk, JSON dump or database row expands (33 MB at depth 6). This loader reads the
parser's event stream (libyaml's C parser when PyYAML has it) and builds the document itself, so it
refuses, before any value is built and naming the line and column:

* anchors (``&a``), aliases (``*a``), merge keys (``<<``) and every explicit tag (``!!python/...``,
  ``!!str``, ``!local``, ``!``);
* more than ``max_bytes`` of UTF-8, more than ``max_nodes`` nodes (scalars, lists and mappings),
  nesting deeper than ``max_depth`` (``[`` × 500 stops at the first ``[`` too many), more than
  one document;
* for a rule set, top-level keys other than ``version`` and ``rules``, and more than ``MAX_RULES``
  rules;
* values a JSON column cannot hold faithfully: mapping keys that are not text or are repeated,
  dates, integers beyond 64 bits, infinities and NaN, NUL and other control characters.

Without aliases every node of the result is one node of the text, so what is stored (the text and
its JSON) is bounded by ``max_bytes``: JSON, as a JSON column writes it, spends at most six bytes
per byte of YAML (the worst are values left out, ``-`` alone in a list or a key without a value,
which become ``null``, and non-ASCII text, ``\\u00e9`` for two bytes;
tests/rules/test_safe_yaml.py).
Pure: imports nothing from the web layer.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.resolver import Resolver

# libyaml's parser is about ten times faster than the pure-Python one (PyYAML's wheels bundle it).
_Loader: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

TAG = "tag:yaml.org,2002:"
INT_MAX = 2**63  # integers are stored in JSON; beyond 64 bits they are not portable
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


@dataclass(frozen=True, slots=True)
class Limits:
    max_bytes: int
    max_nodes: int
    max_depth: int


# The shipped rule set is 13,069 bytes, 808 nodes, 22 rules, nested 9 deep: the caps leave ten
# times its size, about 2.5 times its node density at that size, and conditions nested in
# ``all``/``any``/``not`` seven levels deeper than the deepest shipped one.
RULESET_LIMITS = Limits(max_bytes=128 * 1024, max_nodes=20_000, max_depth=16)
MAX_RULES = 500
# One rule's ``when`` or ``then`` typed on its own sits three levels down in the rule set.
RULE_PART_LIMITS = Limits(
    RULESET_LIMITS.max_bytes, RULESET_LIMITS.max_nodes, RULESET_LIMITS.max_depth - 3
)
RULESET_KEYS = ("version", "rules")


class YamlRefused(ValueError):
    """The text was refused: ``message`` says why; ``line`` and ``column`` (1-based) say where."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None) -> None:
        self.message = message
        self.line = line
        self.column = column
        where = f" at line {line}, column {column}" if line is not None else ""
        super().__init__(f"{message}{where}")


def _at(message: str, event: Any) -> YamlRefused:
    mark = event.start_mark
    return YamlRefused(message, mark.line + 1, mark.column + 1)


class _Frame:
    """A list or mapping being built; for a mapping, the key waiting for its value; for a list
    under a capped top-level key, its cap."""

    __slots__ = ("value", "is_map", "key", "has_key", "name", "cap", "count")

    def __init__(self, value: Any, is_map: bool, name: str | None, cap: int | None) -> None:
        self.value = value
        self.is_map = is_map
        self.key: str | None = None
        self.has_key = False
        self.name = name
        self.cap = cap
        self.count = 0


# Plain scalars are resolved as SafeLoader resolves them (YAML 1.1: null, bool, int, float,
# timestamp, merge, value), by the resolvers registered for their first character.
_IMPLICIT: dict[str, list[tuple[str, re.Pattern[str]]]] = Resolver.yaml_implicit_resolvers
_CONSTRUCTOR = SafeConstructor()
_SCALAR = {
    TAG + "null": _CONSTRUCTOR.construct_yaml_null,
    TAG + "bool": _CONSTRUCTOR.construct_yaml_bool,
    TAG + "int": _CONSTRUCTOR.construct_yaml_int,
    TAG + "float": _CONSTRUCTOR.construct_yaml_float,
}


def _plain(value: str, event: Any, resolvers: list[tuple[str, re.Pattern[str]]]) -> Any:
    tag = next((tag for tag, regexp in resolvers if regexp.match(value)), None)
    if tag is None:
        return value
    if tag == TAG + "merge":
        raise _at("merge keys (<<) are not allowed; write the keys out", event)
    if tag == TAG + "timestamp":
        raise _at(f"'{value}' reads as a date; quote it to keep it as text", event)
    construct = _SCALAR.get(tag)
    if construct is None:
        raise _at(f"'{value}' has no plain meaning here; quote it to keep it as text", event)
    if tag == TAG + "int" and len(value) > 40:
        raise _at("integer too large", event)
    result = construct(yaml.ScalarNode(tag, value))
    if isinstance(result, float) and not math.isfinite(result):
        raise _at(f"'{value}' is not a finite number", event)
    if isinstance(result, int) and not isinstance(result, bool) and abs(result) >= INT_MAX:
        raise _at("integer too large (beyond 64 bits)", event)
    return result


def _refuse_node(event: Any) -> YamlRefused:
    if event.anchor is not None:
        return _at(f"anchors (&{event.anchor}) are not allowed", event)
    tag = event.tag.replace(TAG, "!!", 1) if event.tag.startswith(TAG) else event.tag
    return _at(f"tags ({tag}) are not allowed", event)


def load(
    text: str,
    limits: Limits,
    *,
    top_level_keys: Collection[str] | None = None,
    top_level_caps: Mapping[str, int] | None = None,
) -> Any:
    """The one document in ``text`` as plain Python values (dict, list, str, int, float, bool,
    None), or :class:`YamlRefused`. ``top_level_keys``: the keys the root mapping may have;
    ``top_level_caps``: the most items the list under such a key may hold."""
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:
        raise YamlRefused("the text contains an unpaired surrogate (not valid Unicode)") from None
    if size > limits.max_bytes:
        raise YamlRefused(f"the text is {size:,} bytes; at most {limits.max_bytes:,} are accepted")
    caps = top_level_caps or {}
    max_nodes, max_depth = limits.max_nodes, limits.max_depth
    scalar_event, end_events = yaml.ScalarEvent, (yaml.SequenceEndEvent, yaml.MappingEndEvent)
    start_events = (yaml.SequenceStartEvent, yaml.MappingStartEvent)
    parser = _Loader(text)
    get_event = parser.get_event
    stack: list[_Frame] = []
    frame: _Frame | None = None  # the innermost open collection
    root: Any = None
    documents = nodes = 0
    try:
        while True:
            event = get_event()
            cls = event.__class__
            if cls is scalar_event:
                if event.anchor is not None or event.tag is not None:
                    raise _refuse_node(event)
                nodes += 1
                if nodes > max_nodes:
                    raise _at(f"more than {max_nodes:,} values", event)
                value = event.value
                if event.implicit[0]:  # plain: resolve as YAML 1.1 does
                    resolvers = _IMPLICIT.get(value[:1])
                    if resolvers:
                        value = _plain(value, event, resolvers)
                elif event.style == '"' and (bad := _CONTROL.search(value)):
                    raise _at(
                        f"text contains the control character U+{ord(bad.group()):04X}", event
                    )
            elif cls in start_events:
                if event.anchor is not None or event.tag is not None:
                    raise _refuse_node(event)
                nodes += 1
                if nodes > max_nodes:
                    raise _at(f"more than {max_nodes:,} values", event)
                if frame is not None:
                    if frame.is_map and not frame.has_key:
                        raise _at("a mapping key must be text, not a list or mapping", event)
                    if len(stack) >= max_depth:
                        raise _at(f"nested deeper than {max_depth} levels", event)
                    if not frame.is_map:
                        frame.count += 1
                        if frame.cap is not None and frame.count > frame.cap:
                            raise _at(f"more than {frame.cap:,} entries in '{frame.name}'", event)
                is_map = cls is yaml.MappingStartEvent
                name = frame.key if frame is not None and len(stack) == 1 else None
                frame = _Frame({} if is_map else [], is_map, name, caps.get(name) if name else None)
                stack.append(frame)
                continue
            elif cls in end_events:
                value = stack.pop().value
                frame = stack[-1] if stack else None
            elif cls is yaml.AliasEvent:
                raise _at(f"aliases (*{event.anchor}) are not allowed; write the value out", event)
            elif cls is yaml.DocumentStartEvent:
                documents += 1
                if documents > 1:
                    raise _at("only one YAML document is accepted (remove the ---)", event)
                continue
            elif cls is yaml.StreamEndEvent:
                break
            else:  # stream start, document end
                continue
            # ``value`` (a scalar or a finished collection) goes into the innermost collection.
            if frame is None:
                root = value
            elif not frame.is_map:
                if cls is scalar_event:
                    frame.count += 1
                    if frame.cap is not None and frame.count > frame.cap:
                        raise _at(f"more than {frame.cap:,} entries in '{frame.name}'", event)
                frame.value.append(value)
            elif frame.has_key:
                frame.value[frame.key] = value
                frame.has_key = False
            else:
                if not isinstance(value, str):
                    raise _at(f"mapping keys must be text; quote '{event.value}'", event)
                if value in frame.value:
                    raise _at(f"duplicate key '{value}'", event)
                if top_level_keys is not None and len(stack) == 1 and value not in top_level_keys:
                    allowed = ", ".join(top_level_keys)
                    raise _at(f"unknown top-level key '{value}'; allowed: {allowed}", event)
                frame.key, frame.has_key = value, True
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "malformed"
        if mark is None:
            raise YamlRefused(f"not valid YAML: {problem}") from None
        raise YamlRefused(f"not valid YAML: {problem}", mark.line + 1, mark.column + 1) from None
    except yaml.YAMLError as exc:
        raise YamlRefused(f"not valid YAML: {exc}") from None
    finally:
        parser.dispose()
    return root


def load_ruleset(text: str) -> Any:
    """A rule-set document under :data:`RULESET_LIMITS`, :data:`RULESET_KEYS` and
    :data:`MAX_RULES`."""
    return load(
        text, RULESET_LIMITS, top_level_keys=RULESET_KEYS, top_level_caps={"rules": MAX_RULES}
    )
