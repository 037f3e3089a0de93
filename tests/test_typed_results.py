"""Typed results (issue 23 item 3).

The public functions of the service layer (each feature's ``service.py``, ``*_service.py`` and
``jobs.py``: the job kinds) return frozen dataclasses or Pydantic models, not ``dict[str, Any]``:
a caller reads ``ev.monthly_cost_usd``, which mypy checks, rather than ``ev["monthly_cost_usd"]``.
Where the value is sent as JSON, a Pydantic model is dumped at the boundary
(``model_dump(mode="json")``: the API route, the job runner).

The check reads the source (AST): every public function (no leading underscore) of those modules,
and every public method of a class defined there, whose return annotation mentions
``dict[str, Any]``. The few that stay are listed below, each with its reason; the test fails when
another appears, and when one listed stops returning a dict (take it off the list).
"""

from __future__ import annotations

import ast
from pathlib import Path

APP = Path(__file__).resolve().parents[1] / "app"
PURE = ("estimators", "scaling", "rules")  # the functional core: no service modules there

ALLOWED: dict[str, str] = {
    # JSON documents: producing the document is the function's purpose
    "audit/service.py:event_content": "the audit event's hashed content (a JSON document)",
    "governance/service.py:RiskPicture.as_json": "the risk picture as the API's JSON payload",
    "assessments/service.py:draft_values": (
        "a questionnaire draft as typed: free form-field names to raw values, stored as JSON"
    ),
    "portfolios/service.py:EvaluatedPortfolio.as_json": (
        "a portfolio's evaluation as the API's body (EvaluationOut) and the comparison export"
    ),
    "portfolios/service.py:PortfolioComparison.as_json": (
        "a comparison as the API's body (CompareOut) and the JSON export"
    ),
    # a hand-over down the layers: the hosted-alternatives calculation sits in the catalog, below
    # the deployments' schemas, so it reads the serving plan's fields (its JSON) by name
    "estimates/service.py:serving_plan_fields": (
        "the serving plan's JSON fields for the catalog's hosted alternatives (a lower layer)"
    ),
}


def service_modules(root: Path = APP) -> list[Path]:
    return sorted(
        p
        for p in root.rglob("*.py")
        if p.relative_to(root).parts[0] not in PURE
        and (p.name in ("service.py", "jobs.py") or p.name.endswith("_service.py"))
    )


def dict_results(path: Path, root: Path = APP) -> list[str]:
    """``module:function`` (``module:Class.method``) for each public function returning a dict."""
    rel = path.relative_to(root).as_posix()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in tree.body:
        funcs: list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]] = []
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            funcs.append((node.name, node))
        elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            funcs += [
                (f"{node.name}.{f.name}", f)
                for f in node.body
                if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef)
            ]
        for name, fn in funcs:
            public = not name.rsplit(".", 1)[-1].startswith("_")
            if public and fn.returns is not None and "dict[str, Any]" in ast.unparse(fn.returns):
                found.append(f"{rel}:{name}")
    return found


def all_dict_results(root: Path = APP) -> list[str]:
    return [f for p in service_modules(root) for f in dict_results(p, root)]


def test_service_functions_return_typed_results() -> None:
    extra = sorted(set(all_dict_results()) - ALLOWED.keys())
    assert not extra, (
        f"public service functions returning dict[str, Any]: {extra}; return a frozen dataclass "
        "or a Pydantic model (or, for a JSON document, list it in ALLOWED with why)"
    )


def test_allow_list_is_not_stale() -> None:
    stale = sorted(ALLOWED.keys() - set(all_dict_results()))
    assert not stale, f"these return a typed result now: take them off ALLOWED: {stale}"


def test_the_check_sees_a_dict_result(tmp_path: Path) -> None:
    """The detector itself: public functions and methods returning a dict are caught, private
    ones and typed results are not."""
    feature = tmp_path / "feature"
    feature.mkdir()
    (feature / "service.py").write_text(
        "from typing import Any\n"
        "def plain() -> dict[str, Any]: ...\n"
        "def pair() -> tuple[int, dict[str, Any]] | None: ...\n"
        "def _private() -> dict[str, Any]: ...\n"
        "def typed() -> int: ...\n"
        "class Out:\n"
        "    def as_json(self) -> dict[str, Any]: ...\n"
        "    def _raw(self) -> dict[str, Any]: ...\n",
        encoding="utf-8",
    )
    (feature / "views.py").write_text(
        "from typing import Any\ndef page() -> dict[str, Any]: ...\n", encoding="utf-8"
    )
    assert all_dict_results(tmp_path) == [
        "feature/service.py:plain",
        "feature/service.py:pair",
        "feature/service.py:Out.as_json",
    ]
