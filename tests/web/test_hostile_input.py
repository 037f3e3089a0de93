"""Hostile input: each gets a clear 4xx and leaves the database unchanged."""

from __future__ import annotations

import csv
import html
import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.convertors import IntegerConvertor

from app.assessments.models import Assessment
from app.audit.models import AuditEvent
from app.config import Environment, Settings
from app.deployments.models import Deployment
from app.main import create_app
from app.portfolios.models import Portfolio
from app.rules.reference import default_ruleset_text
from app.rules.safe_yaml import RULESET_LIMITS
from app.rulesets.models import RuleSetVersion
from bench.ruleset_yaml import alias_bomb, largest_ruleset
from tests.factories import (
    TEST_SECRET,
    api_headers,
    create_deployment,
    create_user,
    csrf,
    csrf_from,
    deployment_payload,
    figures_in,
    page_login,
)


def _counts(session: Session) -> tuple[int, ...]:
    session.expire_all()
    return tuple(
        session.scalar(select(func.count()).select_from(m)) or 0
        for m in (Deployment, Assessment, Portfolio, AuditEvent, RuleSetVersion)
    )


@pytest.fixture
def admin(client: TestClient, session: Session) -> dict[str, str]:
    user = create_user(session, role="admin")
    session.commit()
    return api_headers(client, user.email)


def _post_raw(client: TestClient, path: str, raw: str | bytes, headers: dict[str, str]) -> Any:
    return client.post(path, content=raw, headers={**headers, "Content-Type": "application/json"})


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", "bad\u0000name"),
        ("use_case", "\ud800 lone surrogate"),
        ("name", "x" * 5000),
    ],
)
def test_unstorable_or_oversized_text_is_422_naming_the_field(
    client: TestClient, session: Session, admin: dict[str, str], field: str, value: str
) -> None:
    before = _counts(session)
    body = json.dumps(deployment_payload(**{field: value}))  # \u escapes survive json.dumps
    r = _post_raw(client, "/api/v1/deployments", body, admin)
    assert r.status_code == 422, r.text
    assert field in json.dumps(r.json()["detail"])
    assert _counts(session) == before


def test_nul_in_a_form_field_is_422_on_pages(client: TestClient, session: Session) -> None:
    user = create_user(session, role="product_lead")
    page_login(client, user.email)
    before = _counts(session)
    form = deployment_payload(name="Null\x00byte")
    form["segments"] = ""
    r = client.post("/deployments/new", data={"csrftoken": csrf(client), **form})
    assert r.status_code == 422
    assert "NUL" in r.text
    assert "Traceback" not in r.text
    assert _counts(session) == before


def test_deeply_nested_json_is_refused(
    client: TestClient, session: Session, admin: dict[str, str]
) -> None:
    before = _counts(session)
    for depth in (50, 100_000):
        nested = '{"name": ' + "[" * depth + "]" * depth + "}"
        r = _post_raw(client, "/api/v1/deployments", nested, admin)
        assert 400 <= r.status_code < 500, (depth, r.status_code)
    assert _counts(session) == before


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("requests_per_day", -5),
        ("n_gpus", 0),
        ("n_gpus", 10**30),
        ("monthly_budget_usd", 1e308),
        ("mean_input_tokens", 1.5),
        ("ttft_slo_ms", "NaN"),
        ("tpot_slo_ms", "Infinity"),
    ],
)
def test_numeric_extremes_are_422(
    client: TestClient, session: Session, admin: dict[str, str], field: str, value: object
) -> None:
    before = _counts(session)
    raw = json.dumps(deployment_payload(**{field: 1}))
    literal = value if isinstance(value, str) else json.dumps(value)
    raw = raw.replace(f'"{field}": 1', f'"{field}": {literal}')
    r = _post_raw(client, "/api/v1/deployments", raw, admin)
    assert r.status_code == 422, (field, value, r.text)
    assert _counts(session) == before


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/deployments/99999999999999999999",
        "/api/v1/deployments/-1",
        "/api/v1/portfolios/0",
        "/api/v1/jobs/2147483648",
    ],
)
def test_ids_outside_the_column_range_are_refused_without_a_query(
    client: TestClient, admin: dict[str, str], path: str
) -> None:
    r = client.get(path, headers=admin)
    assert r.status_code in {404, 422}, r.text


def test_sql_metacharacters_are_data(
    client: TestClient, session: Session, admin: dict[str, str]
) -> None:
    name = "x'); DROP TABLE deployments; --"
    r = client.post("/api/v1/deployments", json=deployment_payload(name=name), headers=admin)
    assert r.status_code == 201, r.text
    got = client.get(f"/api/v1/deployments/{r.json()['id']}", headers=admin).json()
    assert got["name"] == name
    assert client.get("/api/v1/deployments", headers=admin).json()["total"] >= 1


SCRIPT = "<script>alert(1)</script><img src=x onerror=alert(2)>"


def test_html_in_text_fields_is_escaped_in_pages_reports_and_csv(
    client: TestClient, session: Session
) -> None:
    user = create_user(session, role="admin")
    dep = create_deployment(
        session, user=user, name=f"Dep {SCRIPT}", use_case=f'=HYPERLINK("http://x") {SCRIPT}'
    )
    session.commit()
    page_login(client, user.email)
    for path in (f"/deployments/{dep.id}", "/deployments", f"/deployments/{dep.id}/report"):
        html = client.get(path).text
        assert SCRIPT not in html, path
        assert "&lt;script&gt;" in html, path
    headers = api_headers(client, user.email)
    report = client.get(f"/api/v1/deployments/{dep.id}/report?format=csv", headers=headers)
    rows = list(csv.reader(io.StringIO(report.text)))
    assert all(not cell.startswith(("=", "+", "-", "@")) for row in rows[:-1] for cell in row)


def test_rule_set_upload_cannot_smuggle_code(
    client: TestClient, session: Session, admin: dict[str, str]
) -> None:
    before = _counts(session)
    for payload in (
        "!!python/object/apply:os.system ['touch /tmp/axisboard-pwned']",
        "version: 2\nrules:\n  - id: x\n"
        "    when: {fact: __import__('os').system('id'), op: eq, value: 1}\n"
        "    then: {recommend: {failure_mode: factual_staleness, axis: retrieval,"
        " technique: rag}}\n",
        "rules: !!python/name:os.system\n",
    ):
        r = client.post("/api/v1/rules", json={"yaml": payload, "note": "x"}, headers=admin)
        assert r.status_code == 422, r.text
        v = client.post("/api/v1/rules/validate", json={"yaml": payload}, headers=admin)
        assert v.status_code in {200, 422}
        if v.status_code == 200:
            assert v.json()["valid"] is False
    assert _counts(session) == before


def test_malformed_csv_uploads_to_the_lab_are_422_inline(
    client: TestClient, session: Session
) -> None:
    user = create_user(session, role="architect")
    page_login(client, user.email)
    token = csrf(client, "/scaling/fit")
    for bad in (
        "\x00\x01\x02",
        "params,tokens,loss\n" + "1,2\n" * 3,
        "a" * 10_000,
        "params,tokens,loss\n1e9,1e10,=cmd|' /C calc'!A0\n",
    ):
        r = client.post("/scaling/fit", data={"csrftoken": token, "runs_csv": bad})
        assert r.status_code == 422, (bad[:20], r.status_code)
        assert "Traceback" not in r.text


def test_path_tricks_in_file_names_do_not_escape(client: TestClient, session: Session) -> None:
    user = create_user(session, role="admin")
    page_login(client, user.email)
    for path in (
        "/static/../app/config.py",
        "/static/%2e%2e/app/config.py",
        "/static/..%2f..%2fetc/passwd",
        "/static/vendor/..%2f..%2fpyproject.toml",
    ):
        r = client.get(path)
        assert r.status_code == 404, path
        assert "secret" not in r.text.lower()


def test_hostile_files_given_to_verify_report_are_refused_cleanly(tmp_path: Any) -> None:
    """Whatever the file, `axisboard verify-report` says NOT VALID with a reason (exit 1), never
    a traceback: empty, binary, deeply nested JSON, a forged or enormous signature block."""
    from typer.testing import CliRunner

    from app.cli import cli

    block = b"[axisboard-signature-v1:"
    cases = {
        "empty": b"",
        "binary": bytes(range(256)) * 4,
        "not-utf8.json": b'{"a": "\xff"}',
        "nested.json": b"[" * 100_000 + b"]" * 100_000,
        "nested-with-block.json": b'{"integrity": {"signature": "'
        + block
        + b'"}, "x": '
        + b"[" * 100_000
        + b"]" * 100_000
        + b"}",
        "unclosed.csv": b"a,b\r\n# " + block + b"AAAA",
        "not-base64.html": b"<!doctype html><p>x</p>\n<!-- " + block + b"====] -->\n",
        "huge.csv": b"a,b\r\n# " + block + b"QUFB" * 500_000 + b"]\r\n",
        "not-a-manifest.csv": b"a,b\r\n# " + block + b"WzEsMl0=]\r\n",  # [1,2]
        "big-int.csv": b"a,b\r\n# " + block + b"eyJhIjogMTAwMDAwMDAwMDAwMDAwMDAwMDAwMDB9]\r\n",
        "pdf-only-header.pdf": b"%PDF-1.7\n%%EOF\n",
    }
    for name, content in cases.items():
        f = tmp_path / name
        f.write_bytes(content)
        r = CliRunner().invoke(cli, ["verify-report", str(f), "--public-key", "A" * 44])
        assert r.exit_code == 1, (name, r.output)
        assert "NOT VALID" in r.output, name
        assert r.exception is None or isinstance(r.exception, SystemExit), (name, r.exception)
    sig = tmp_path / "x.sig"
    sig.write_bytes(b'{"covers": "whole-file", "covers": "whole-file"}')
    r = CliRunner().invoke(
        cli,
        [
            "verify-report",
            str(tmp_path / "binary"),
            "--signature",
            str(sig),
            "--public-key",
            "A" * 44,
        ],
    )
    assert r.exit_code == 1
    assert "duplicate key" in r.output
    r = CliRunner().invoke(cli, ["verify-report", str(tmp_path / "binary"), "--public-key", "%%"])
    assert r.exit_code == 2  # a usage error naming the option
    assert "public-key" in r.output


@pytest.mark.parametrize("value", ["maybe", "2", "\u0000"])
def test_report_detached_flag_is_a_boolean(
    client: TestClient, session: Session, value: str
) -> None:
    user = create_user(session, role="product_lead")
    dep = create_deployment(session, user=user)
    session.commit()
    h = api_headers(client, user.email)
    r = client.get(
        f"/api/v1/deployments/{dep.id}/report",
        params={"format": "csv", "detached": value},
        headers=h,
    )
    assert r.status_code == 422, r.text
    assert "detached" in r.text


# ---- rule-set YAML (issue 17): no anchors, aliases, merge keys or tags; bounded ----------------
def _shipped_plus(rule: str) -> str:
    return default_ruleset_text().rstrip("\n") + "\n" + rule


_ONE_RULE = (
    "  - id: {id}\n    when: {{fact: fm.factual_staleness.severity, op: ge, value: 1}}\n"
    "    then: {{recommend: {{failure_mode: factual_staleness, axis: retrieval, "
    "technique: rag}}}}\n"
)
HOSTILE_RULE_SETS = {
    "alias bomb": (alias_bomb(depth=7), "anchors (&c0) are not allowed"),
    "merge key": (
        _shipped_plus(
            "  - {<<: {id: merged}, when: {fact: ctx.slo_missed, op: present},"
            " then: {warn: {message: m}}}\n"
        ),
        "merge keys (<<)",
    ),
    "python tag": (
        _shipped_plus("  - !!python/object/apply:os.system ['id']\n"),
        "tags (!!python/object/apply:os.system)",
    ),
    "str tag": (_shipped_plus("  - id: !!str x\n"), "tags (!!str)"),
    "deep nesting": (
        _shipped_plus(
            "  - id: deep\n    when: " + "{not: " * 20 + "{fact: "
            "ctx.slo_missed, op: present}" + "}" * 20 + "\n"
        ),
        "nested deeper than 16 levels",
    ),
    "[ x 500": ("[" * 500, "nested deeper than 16 levels at line 1, column 17"),
    "oversize": ("version: 1\nrules: []\n" + "# " + "é" * 70_000 + "\n", "at most 131,072"),
    "too many rules": (
        "rules:\n" + "".join(_ONE_RULE.format(id=f"r{i}") for i in range(501)),
        "more than 500 entries in 'rules'",
    ),
    "unknown top-level key": (
        default_ruleset_text() + "anchors: {}\n",
        "unknown top-level key 'anchors'",
    ),
}


@pytest.mark.parametrize("case", list(HOSTILE_RULE_SETS))
def test_hostile_rule_sets_are_422_naming_the_problem_in_api_and_form(
    client: TestClient, session: Session, case: str
) -> None:
    text, message = HOSTILE_RULE_SETS[case]
    user = create_user(session, role="admin")
    session.commit()
    h = api_headers(client, user.email)
    before = _counts(session)
    for path, body in (
        ("/api/v1/rules/validate", {"yaml": text}),
        ("/api/v1/rules/dry-run", {"yaml": text}),
        ("/api/v1/rules", {"yaml": text, "note": "hostile"}),
    ):
        r = client.post(path, json=body, headers=h)
        assert r.status_code == 422, (path, r.status_code, r.text[:300])
        assert r.json() == {"detail": r.json()["detail"], "field": "yaml"}
        assert message in r.json()["detail"], r.json()
        if case != "oversize":
            assert " at line " in r.json()["detail"]
    page_login(client, user.email)
    token = csrf(client, "/rules/edit")
    for action in ("check", "publish"):
        form = {"csrftoken": token, "yaml": text, "action": action, "note": "n"}
        r = client.post("/rules/edit", headers={"HX-Request": "true"}, data=form)
        assert r.status_code == 422, (action, r.status_code)
        page = html.unescape(r.text)
        assert message in page
        assert 'aria-invalid="true"' in r.text
        assert text[-200:].strip() in page  # what was typed is kept in the editor
        assert "Traceback" not in r.text
    assert _counts(session) == before


def test_an_oversize_rule_set_in_characters_is_refused_by_the_schema(
    client: TestClient, session: Session, admin: dict[str, str]
) -> None:
    r = client.post("/api/v1/rules/validate", json={"yaml": "#" * 131_073}, headers=admin)
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "yaml"]


def test_the_per_rule_form_refuses_aliases_and_tags_inline(
    client: TestClient, session: Session
) -> None:
    user = create_user(session, role="admin")
    page_login(client, user.email)
    token = csrf(client, "/rules/edit?rule=policy_dpo")
    form = {
        "csrftoken": token,
        "original": "policy_dpo",
        "id": "policy_dpo",
        "description": "d",
        "source": "s",
        "when": "&w {fact: fm.policy_noncompliance.severity, op: ge, value: 1}",
        "then": "!!python/name:os.system",
        "action": "check",
    }
    before = _counts(session)
    r = client.post("/rules/edit", data=form)
    assert r.status_code == 422
    page = html.unescape(r.text)
    assert "anchors (&w) are not allowed at line 1, column 1" in page
    assert "tags (!!python/name:os.system) are not allowed at line 1, column 1" in page
    assert "{fact: fm.policy_noncompliance.severity" in page  # kept as typed
    assert _counts(session) == before


def test_a_published_rule_set_is_bounded_by_the_caps(
    client: TestClient, session: Session, admin: dict[str, str]
) -> None:
    """The largest set the caps allow is stored as its text (<= the byte cap) and a JSON body
    within six times the cap (tests/rules/test_safe_yaml.py bounds the worst bytes); the alias
    bomb that once became a 33 MB row is not stored at all."""
    text = largest_ruleset()
    r = client.post("/api/v1/rules", json={"yaml": text, "note": "largest"}, headers=admin)
    assert r.status_code == 201, r.text[:300]
    row = session.execute(
        select(RuleSetVersion).where(RuleSetVersion.version == r.json()["version"])
    ).scalar_one()
    assert len(row.text.encode()) <= RULESET_LIMITS.max_bytes
    assert len(json.dumps(row.body)) <= 6 * RULESET_LIMITS.max_bytes
    assert len(client.get("/api/v1/rules", headers=admin).content) <= 8 * RULESET_LIMITS.max_bytes
    bomb = client.post(
        "/api/v1/rules", json={"yaml": alias_bomb(depth=6), "note": "x"}, headers=admin
    )
    assert bomb.status_code == 422
    assert client.get("/api/v1/rules", headers=admin).json()["version"] == row.version


# ---- control characters in the path (issue 17): 422 before any handler, on every route --------
def _string_path_routes() -> list[tuple[str, str]]:
    """(method, path) of every route with a text path parameter, from the route table, with each
    text parameter holding a control character and each integer parameter 1."""
    from tests.auth.test_authz_matrix import _route_table

    app = create_app(
        Settings(environment=Environment.test, secret_key=TEST_SECRET, database_url="sqlite://")
    )
    out = []
    for key, route in _route_table(app).items():
        if route is None:
            continue
        text_params = [
            n for n, c in route.param_convertors.items() if not isinstance(c, IntegerConvertor)
        ]
        if text_params:
            method, path = key.split(" ", 1)
            for name in route.param_convertors:
                path = path.replace("{" + name + "}", "a{ctl}b" if name in text_params else "1")
            out.append((method, path))
    out.append(("GET", "/static/a{ctl}b.css"))  # the static files mount
    return out


STRING_PATH_ROUTES = _string_path_routes()


def test_the_route_table_has_text_path_parameters() -> None:
    assert ("GET", "/axes/a{ctl}b") in STRING_PATH_ROUTES
    assert len(STRING_PATH_ROUTES) >= 4


@pytest.mark.parametrize(("method", "path"), STRING_PATH_ROUTES)
def test_control_characters_in_path_parameters_are_422(
    client: TestClient, session: Session, method: str, path: str
) -> None:
    user = create_user(session, role="admin")
    session.commit()
    page_login(client, user.email)
    before = _counts(session)
    for ctl in ("%00", "%01", "%0A", "%0D", "%1F", "%7F"):
        r = client.request(method, path.format(ctl=ctl))
        assert r.status_code == 422, (method, path, ctl, r.status_code)
        assert f"U+00{ctl[1:]}" in r.text
        assert "Traceback" not in r.text
    assert _counts(session) == before


@pytest.mark.parametrize(
    "path", ["/api/v1/deployments/1%00", "/api/v1/rules%00/versions", "/api/v1/jobs/%0D%0A1"]
)
def test_control_characters_in_api_paths_are_422_naming_the_path(
    client: TestClient, admin: dict[str, str], path: str
) -> None:
    r = client.get(path, headers=admin)
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == ["path"]
    assert "control character" in r.json()["detail"][0]["msg"]


FORMULAS = [
    '=HYPERLINK("http://x","y")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(A1)",
    "\t=1+1",
    "\r=1+1",
    " =1+1",
]


def _cells_are_inert(text: str) -> list[list[str]]:
    rows = [r for r in csv.reader(io.StringIO(text)) if r and not r[0].startswith("#")]
    for row in rows:
        for cell in row:
            assert cell.lstrip(" \n")[:1] not in set("=+-@\t\r"), cell
    return rows


def test_formula_cells_are_neutralised_in_every_csv(client: TestClient, session: Session) -> None:
    """Portfolio and deployment names that a spreadsheet would run come out as text, in each CSV
    the app writes (the portfolio comparison and the risk register)."""
    user = create_user(session, role="admin")
    dep = create_deployment(session, user=user, name=FORMULAS[0], use_case=FORMULAS[1])
    session.commit()
    page_login(client, user.email)
    ids = []
    names = FORMULAS[:4]  # names refuse control characters (tab, CR)
    for name in names:
        page = client.get(f"/deployments/{dep.id}/portfolios/new")
        r = client.post(
            f"/deployments/{dep.id}/portfolios/new",
            follow_redirects=False,
            data={"csrftoken": csrf_from(page.text), "name": name},
        )
        assert r.status_code == 303, (name, r.text[:300])
        ids.append(r.headers["location"].rsplit("/", 1)[1])
    compare = client.get(f"/portfolios/compare.csv?ids={','.join(ids)}")
    assert compare.status_code == 200
    rows = _cells_are_inert(compare.text)
    assert [row[rows[0].index("name")] for row in rows[1:]] == ["'" + n for n in names]
    register = client.get(f"/deployments/{dep.id}/report?format=csv")
    assert register.status_code == 200
    assert len(_cells_are_inert(register.text)) > 1


def test_safe_cell_follows_the_owasp_rule() -> None:
    from app.csv_export import safe_cell, write_dicts

    for text in FORMULAS:
        assert safe_cell(text) == "'" + text
    assert safe_cell("＝1+1") == "'＝1+1"  # the full-width sign some spreadsheets accept
    assert safe_cell("a=b") == "a=b"
    assert safe_cell(-3.5) == "-3.5"  # a number stays a number
    assert safe_cell(None) == ""
    assert safe_cell(True) == "True"
    doc = write_dicts(["name", "n"], [{"name": '=1,"2"\n', "n": -1}])
    assert list(csv.reader(io.StringIO(doc))) == [["name", "n"], ['\'=1,"2"\n', "-1"]]


def test_no_module_writes_csv_without_the_helper() -> None:
    """CSV is written only by app/csv_export.py: a new csv.writer elsewhere fails here."""
    import ast
    from pathlib import Path

    import app

    root = Path(app.__file__).parent
    offenders = []
    for path in sorted(root.rglob("*.py")):
        if path == root / "csv_export.py":
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "csv":
                names = {a.name for a in node.names}
                if names & {"writer", "DictWriter", "*"}:
                    offenders.append(f"{path.relative_to(root)}:{node.lineno}")
            if (
                isinstance(node, ast.Attribute)
                and node.attr in {"writer", "DictWriter"}
                and isinstance(node.value, ast.Name)
                and node.value.id == "csv"
            ):
                offenders.append(f"{path.relative_to(root)}:{node.lineno}")
    assert not offenders, f"write CSV through app.csv_export, not csv.writer: {offenders}"


MARKUP = '<a href="https://evil.example/x">click</a><b>bold</b>'
TEMPLATE_KEYS = {"hovertemplate", "texttemplate"}


def _strings(value: Any, key: str | None = None) -> Iterator[tuple[str | None, str]]:
    if isinstance(value, str):
        yield key, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(v, k)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v, key)


def _markup_is_text(fig: dict[str, Any]) -> None:
    """No string Plotly draws as pseudo-HTML carries a tag, and the name is all there, escaped."""
    texts = [(k, s) for k, s in _strings(fig) if k not in TEMPLATE_KEYS]
    templates = [s for k, s in _strings(fig) if k in TEMPLATE_KEYS]
    assert not [t for t in templates if "evil.example" in t], "user text inside a template"
    assert not [s for _, s in texts if "<" in s or ">" in s], "live markup in a chart label"
    assert any(html.unescape(s) == MARKUP or MARKUP in html.unescape(s) for _, s in texts)


def test_user_text_in_charts_is_text_not_markup(client: TestClient, session: Session) -> None:
    """Portfolio names (comparison charts) and segment names (evaluation chart), on the pages."""
    user = create_user(session, role="admin")
    dep = create_deployment(
        session,
        user=user,
        name=MARKUP,
        segments=[{"name": MARKUP, "risk": "high"}, {"name": "US", "risk": "low"}],
    )
    session.commit()
    page_login(client, user.email)
    ids = []
    for name in (MARKUP, "<b>plain</b> & co"):
        page = client.get(f"/deployments/{dep.id}/portfolios/new")
        r = client.post(
            f"/deployments/{dep.id}/portfolios/new",
            follow_redirects=False,
            data={"csrftoken": csrf_from(page.text), "name": name},
        )
        assert r.status_code == 303, r.text[:300]
        ids.append(r.headers["location"].rsplit("/", 1)[1])
    figs = figures_in(client.get(f"/portfolios/compare?ids={','.join(ids)}").text)
    assert len(figs) == 3
    for fig in figs:
        _markup_is_text(fig)
    scatter = figs[2]
    assert scatter["data"][0]["name"] == html.escape(MARKUP, quote=False)
    assert "&lt;b&gt;plain&lt;/b&gt; &amp; co" in [t["name"] for t in scatter["data"]]

    results = [
        {"segment": seg, "metric": "accuracy", "phase": phase, "value": v}
        for seg, vals in ((MARKUP, (0.85, 0.80)), ("US", (0.80, 0.92)))
        for phase, v in zip(("before", "after"), vals, strict=True)
    ]
    r = client.post(
        f"/api/v1/deployments/{dep.id}/evaluations",
        headers=api_headers(client, user.email),
        json={"label": "pilot", "results": results},
    )
    assert r.status_code == 201, r.text
    (fig,) = figures_in(client.get(f"/evaluations/{r.json()['id']}").text)
    _markup_is_text(fig)


def test_every_chart_builder_escapes_user_text() -> None:
    """Each public builder in app/*/charts.py goes through app.web.charts.figure, and the builders
    that take names draw them as text (categories, legend, labels, hover text, titles)."""
    import importlib
    import inspect
    from pathlib import Path

    import app
    from app.assessments import charts as assessment_charts
    from app.catalog import charts as catalog_charts
    from app.estimates import charts as estimate_charts
    from app.lab import charts as lab_charts
    from app.rules.matrix import DIMENSIONS

    root = Path(app.__file__).parent
    builders = []
    for path in sorted(root.glob("*/charts.py")):
        if path.parent.name == "web":
            continue
        module = importlib.import_module(f"app.{path.parent.name}.charts")
        builders += [
            f
            for name, f in inspect.getmembers(module, inspect.isfunction)
            if not name.startswith("_") and f.__module__ == module.__name__
        ]
    assert len(builders) >= 15
    unwrapped = [
        f"{f.__module__}.{f.__name__}" for f in builders if not getattr(f, "plain_text", False)
    ]
    assert not unwrapped, f"wrap these chart builders in app.web.charts.figure: {unwrapped}"

    item = {
        "rank": 1,
        "technique_name": MARKUP,
        "score": 50.0,
        "breakdown": {"severity": 1, "reach": 1, "segment_risk": 1, "profile_fit": 1},
    }
    _markup_is_text(assessment_charts.score_breakdown([item]))
    axes = [("rag", MARKUP)]
    levels = {"rag": dict.fromkeys(DIMENSIONS, 3)}
    _markup_is_text(
        catalog_charts.matrix_heatmap(axes, levels, {"rag": dict.fromkeys(DIMENSIONS, MARKUP)})
    )
    _markup_is_text(catalog_charts.suitability_bars(axes, {"startup": {"rag": 3.0}}))
    _markup_is_text(estimate_charts.cost_by_gpu([MARKUP], [1.0]))
    _markup_is_text(estimate_charts.memory_bar({MARKUP: 1.0}, 80.0))
    _markup_is_text(lab_charts.predicted_vs_observed([1.0, 2.0], [1.1, 2.1], [MARKUP, "b"]))
    # A builder calling another escapes once: "&" stays "&amp;", never "&amp;amp;".
    fig = estimate_charts.training_memory({"a & b": 1.0}, 80.0)
    assert fig["data"][0]["name"] == "a &amp; b"
    # Templates written by the code keep their markup.
    assert "<extra></extra>" in fig["data"][0]["hovertemplate"]


def test_another_organisations_admin_cannot_move_our_reference_data(
    client: TestClient, session: Session
) -> None:
    """Issue 17 item 1: an admin of another organisation publishes rules, sets the A100 to
    $999/h and tries the shipped default: our rules, prices and costs stay as they were."""
    ours = create_user(session, org="Ours", role="admin")
    theirs = create_user(session, org="Theirs", role="admin")
    session.commit()
    h, hb = api_headers(client, ours.email), api_headers(client, theirs.email)
    body = {
        "model": "llama_3_1_8b",
        "gpu": "a100_sxm_80gb",
        "input_tokens": 1000,
        "output_tokens": 200,
        "requests_per_day": 50_000,
        "ttft_slo_ms": 800,
        "tpot_slo_ms": 60,
    }
    before = client.post("/api/v1/estimates/inference", json=body, headers=h).json()
    rules = client.get("/api/v1/rules", headers=h).json()
    r = client.put(
        "/api/v1/gpus/a100_sxm_80gb/price",
        headers=hb,
        json={"price_per_hour_usd": 999, "kind": "other"},
    )
    assert r.status_code == 200
    r = client.put(
        "/api/v1/operator/gpus/a100_sxm_80gb/default-price",
        headers=hb,
        json={"price_per_hour_usd": 999, "source": "x"},
    )
    assert r.status_code == 403
    text = rules["yaml"].replace("technique: rag", "technique: graphrag", 1)
    assert (
        client.post("/api/v1/rules", headers=hb, json={"yaml": text, "note": "x"}).status_code
        == 201
    )
    assert client.post("/api/v1/estimates/inference", json=body, headers=h).json() == before
    assert client.get("/api/v1/rules", headers=h).json() == rules


@pytest.mark.parametrize("exponent", [0.01, 0.0100001])
def test_chinchilla_constants_at_the_edge_never_overflow(
    client: TestClient, session: Session, exponent: float
) -> None:
    """Found by the API fuzzer: tiny exponents in own constants overflowed the optimum (500)."""
    user = create_user(session, role="architect")
    session.commit()
    h = api_headers(client, user.email)
    body = {
        "compute_flops": 1e40,
        "constants": {"E": 1e-300, "A": 1e12, "B": 1e-300, "alpha": exponent, "beta": exponent},
    }
    r = client.post("/api/v1/scaling/chinchilla", json=body, headers=h)
    assert r.status_code in (200, 422), r.text
    if r.status_code == 422:
        assert "constants" in r.text
    r = client.post(
        "/api/v1/scaling/chinchilla",
        json=body | {"constants": body["constants"] | {"alpha": 1e-300}},
        headers=h,
    )
    assert r.status_code == 422
    assert "alpha" in r.text
