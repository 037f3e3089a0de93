"""Queries live in repositories (issue 23 item 2).

Outside a feature's ``repository.py`` (or ``app/dashboard_repository.py``, the dashboard's read
model across features; and the pure packages, which have no database at all), no
module runs a query: no ``select``/``update``/``delete``/``insert``/``text`` statement is built and
no ``execute``/``scalars``/``scalar``/``query`` runs, nor ``session.get``. Route modules (views,
api) do not build repositories either, not even in a helper: each route gets its repository from
the feature's ``Depends`` provider and passes it down to its helpers. The checks read the source
(AST), so a query hidden in a function body counts too.
"""

from __future__ import annotations

import ast
from pathlib import Path

APP = Path(__file__).resolve().parents[1] / "app"
PURE = ("estimators", "scaling", "rules")
STATEMENTS = {"select", "update", "delete", "insert", "text"}
RUNS = {"execute", "scalars", "scalar", "query"}
SESSIONS = {"session", "s", "s2", "db"}

# Modules that still run queries themselves, each with its reason. The test fails when one of them
# stops running queries (take it off the list) as well as when any other module starts.
ALLOWED: dict[str, str] = {
    # infrastructure, not a feature's data: the health probe's SELECT 1 and SQLite's PRAGMAs
    "api/health.py": "the readiness probe runs SELECT 1",
    "db.py": "connection PRAGMAs (foreign keys, WAL, busy timeout) on each new SQLite connection",
    # the seed loader and the demo data write the shipped catalog and demo rows in bulk on an
    # empty database (CLI only, never on a request)
    "seed.py": "seed loader (bulk upsert of the shipped catalog)",
    "demo.py": "demo seeding (CLI only)",
}


def _modules() -> list[Path]:
    return sorted(
        p
        for p in APP.rglob("*.py")
        if not p.name.endswith("repository.py") and p.relative_to(APP).parts[0] not in PURE
    )


def _sqlalchemy_names(tree: ast.Module) -> set[str]:
    """Statement builders imported from SQLAlchemy under their own or another name."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy"):
            names |= {a.asname or a.name for a in node.names if a.name in STATEMENTS}
    return names


def query_sites(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    builders = _sqlalchemy_names(tree)
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        if isinstance(f, ast.Name) and f.id in builders:
            found.append(f"{f.id}( at line {node.lineno}")
        elif isinstance(f, ast.Attribute) and f.attr in RUNS:
            found.append(f".{f.attr}( at line {node.lineno}")
        elif (
            isinstance(f, ast.Attribute)
            and f.attr == "get"
            and isinstance(f.value, ast.Name)
            and f.value.id in SESSIONS
            and node.args
            and isinstance(node.args[0], ast.Name)
            and node.args[0].id[:1].isupper()  # session.get(Model, id), not a dict's get
        ):
            found.append(f"{f.value.id}.get( at line {node.lineno}")
    return found


def repositories_built(path: Path) -> list[str]:
    """``Repository(`` calls, each as ``function: Name( at line n``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for fn in ast.walk(tree):
        if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef | ast.Module):
            continue
        body = fn.body if isinstance(fn, ast.Module) else [fn]
        for node in (n for b in body for n in ast.walk(b)):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id.endswith("Repository")
            ):
                where = "<module>" if isinstance(fn, ast.Module) else fn.name
                found.append(f"{where}: {node.func.id}( at line {node.lineno}")
    # a call inside a function is seen from the module too: keep the innermost (named) one
    named = {f.split(": ", 1)[1] for f in found if not f.startswith("<module>")}
    return sorted(
        {f for f in found if not (f.startswith("<module>") and f.split(": ", 1)[1] in named)}
    )


def test_no_query_outside_repositories() -> None:
    offenders = {}
    for path in _modules():
        rel = path.relative_to(APP).as_posix()
        if rel not in ALLOWED and (sites := query_sites(path)):
            offenders[rel] = sites
    assert not offenders, f"queries outside a repository.py: {offenders}"


def test_allow_list_is_not_stale() -> None:
    clean = [rel for rel in ALLOWED if not query_sites(APP / rel)]
    assert not clean, f"these modules run no query any more: take them off ALLOWED: {clean}"


def test_route_modules_get_repositories_injected() -> None:
    offenders = {}
    for path in _modules():
        if path.stem in ("views", "api") or path.stem.endswith(("_views", "_api")):
            rel = path.relative_to(APP).as_posix()
            if sites := repositories_built(path):
                offenders[rel] = sites
    assert not offenders, f"route modules build repositories (use a Depends provider): {offenders}"


def test_the_checks_see_a_query() -> None:
    """The detector itself: a module with each kind of query is caught."""
    src = (
        "from sqlalchemy import select as sel\n"
        "def f(session, repo):\n"
        "    session.execute(sel(X))\n"
        "    session.get(X, 1)\n"
        "    session.scalars(q)\n"
        "    return FooRepository(session)\n"
    )
    tmp = APP.parent / "tests" / "_query_layout_probe.py"
    tmp.write_text(src, encoding="utf-8")
    try:
        sites = query_sites(tmp)
        kinds = {s.split(" ")[0] for s in sites}
        assert kinds == {"sel(", ".execute(", "session.get(", ".scalars("}
        assert repositories_built(tmp) == ["f: FooRepository( at line 6"]
    finally:
        tmp.unlink()
