"""Where the packages stand against the layers of pyproject.toml's import-linter contract.

Run ``.venv/bin/python tools/layers.py``: every import against the layer order with its file and
line (imports inside functions included), the pairs of packages that import each other, and the
packages that import one another round a loop. ``lint-imports`` (``make lint``) enforces the
contract; this script shows the detail while moving code.
"""

from __future__ import annotations

import collections
import sys
import tomllib
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent


def layer_levels() -> dict[str, int]:
    """Package -> level (0 = lowest), from the contract of type "layers"."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    contracts = config["tool"]["importlinter"]["contracts"]
    (layers,) = [c["layers"] for c in contracts if c["type"] == "layers"]
    levels: dict[str, int] = {}
    for level, entry in enumerate(reversed(layers)):
        for name in entry.replace("|", ":").split(":"):
            levels[name.strip()] = level
    return levels


def package(module: str) -> str:
    return ".".join(module.split(".")[:2])


def say(line: str) -> None:
    sys.stdout.write(line + "\n")


def main() -> int:
    sys.path.insert(0, str(ROOT))
    graph = grimp.build_graph("app")
    levels = layer_levels()
    against: list[str] = []
    edges: dict[str, set[str]] = collections.defaultdict(set)
    for module in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            a, b = package(module), package(imported)
            if not imported.startswith("app.") or a == b:
                continue
            edges[a].add(b)
            if levels.get(b, -1) > levels.get(a, -1):
                for d in graph.get_import_details(importer=module, imported=imported):
                    against.append(f"{a} -> {b}: {module}:{d['line_number']} {d['line_contents']}")
    unplaced = sorted(set(edges) - set(levels))
    say(f"imports against the layers: {len(against)}")
    for line in against:
        say("  " + line)
    if unplaced:
        say("packages in no layer: " + ", ".join(unplaced))
    mutual = sorted(
        {tuple(sorted((a, b))) for a in edges for b in edges[a] if a in edges.get(b, ())}
    )
    say(f"packages importing each other: {len(mutual)}")
    for pair in mutual:
        say("  " + " <-> ".join(pair))

    def reaches(start: str, goal: str) -> bool:
        seen: set[str] = set()
        todo = [start]
        while todo:
            p = todo.pop()
            if p == goal:
                return True
            if p not in seen:
                seen.add(p)
                todo.extend(edges.get(p, ()))
        return False

    loops = sorted(f"{a} -> {b} -> ... -> {a}" for a in edges for b in edges[a] if reaches(b, a))
    say(f"imports on a loop: {len(loops)}")
    for loop in loops:
        say("  " + loop)
    return 1 if against or mutual or loops or unplaced else 0


if __name__ == "__main__":
    raise SystemExit(main())
