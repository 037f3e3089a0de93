"""Issue 17, item 1: the axis matrix, the rule set and GPU prices belong to each organisation.

An admin of organisation B publishing a matrix or rule-set version, or setting a GPU price,
changes nothing for organisation A (recommendations, portfolio evaluations, estimates,
``/api/v1/axes``, ``/api/v1/rules``, pages); A's own changes do change A's figures; versions are
numbered per organisation; audit events land in the acting organisation; only a platform operator
changes shipped defaults; concurrent publishes are a 409, never a 500; the migration gives every
organisation its own copy of the versions that existed.
"""

from __future__ import annotations

import html
from typing import Any

import pytest
import yaml
from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.orm import Session

from app.assessments import service as assessments
from app.audit.models import AuditEvent
from app.auth import operators
from app.catalog.models import Gpu, MatrixVersion
from app.catalog.repository import CatalogRepository
from app.cli import alembic_config
from app.rules.engine import Gate
from app.rules.reference import default_ruleset_text
from app.rulesets import service as rulesets
from app.rulesets.models import RuleSetVersion
from tests.factories import api_headers, create_deployment, create_user, csrf, page_login
from tests.test_migrations import empty_db_url  # noqa: F401  (the fixture: SQLite and Postgres)

ANSWERS = [
    {"failure_mode": "factual_staleness", "severity": 3, "traffic_share": 0.4},
    {"failure_mode": "policy_noncompliance", "severity": 2},
]
ITEMS = [{"axis": "retrieval", "technique": "rag"}]
H100 = "h100_sxm_80gb"
ESTIMATE = {
    "model": "llama_3_1_8b",
    "gpu": H100,
    "input_tokens": 1000,
    "output_tokens": 200,
    "requests_per_day": 100_000,
    "ttft_slo_ms": 500,
    "tpot_slo_ms": 40,
}


def _changed_rules() -> str:
    body = yaml.safe_load(default_ruleset_text())
    for rule in body["rules"]:
        if rule["id"] == "staleness_local_rag":
            rule["then"]["recommend"]["technique"] = "graphrag"
    return str(yaml.safe_dump(body, sort_keys=False))


class Org:
    def __init__(self, client: TestClient, session: Session, name: str) -> None:
        self.admin = create_user(session, org=name, role="admin")
        self.lead = create_user(session, org=name, role="product_lead")
        self.dep = create_deployment(session, user=self.lead, name=f"{name} bot")
        session.commit()
        self.org_id = self.dep.org_id
        self.client = client
        self.h = api_headers(client, self.admin.email)
        self.h_lead = api_headers(client, self.lead.email)
        self.portfolio_id: int | None = None

    def submit(self) -> dict[str, Any]:
        r = self.client.post(
            f"/api/v1/deployments/{self.dep.id}/assessments",
            json={"answers": ANSWERS},
            headers=self.h_lead,
        )
        assert r.status_code == 201, r.text
        rec: dict[str, Any] = r.json()["recommendation"]
        return rec

    def portfolio_eval(self) -> dict[str, Any]:
        """The evaluation of one portfolio of the deployment (created on first use)."""
        if self.portfolio_id is None:
            r = self.client.post(
                "/api/v1/portfolios",
                headers=self.h,
                json={"deployment_id": self.dep.id, "name": "P", "items": ITEMS},
            )
            assert r.status_code == 201, r.text
            self.portfolio_id = r.json()["id"]
        ev = self.client.get(f"/api/v1/portfolios/{self.portfolio_id}/evaluation", headers=self.h)
        assert ev.status_code == 200, ev.text
        out: dict[str, Any] = ev.json()
        return out

    def estimate(self) -> dict[str, Any]:
        r = self.client.post("/api/v1/estimates/inference", json=ESTIMATE, headers=self.h)
        assert r.status_code == 200, r.text
        out: dict[str, Any] = r.json()
        return out

    def get(self, path: str) -> Any:
        r = self.client.get(path, headers=self.h)
        assert r.status_code == 200, r.text
        return r.json()

    def publish_rules(self, note: str = "graphrag for staleness") -> Any:
        return self.client.post(
            "/api/v1/rules", headers=self.h, json={"yaml": _changed_rules(), "note": note}
        )

    def publish_matrix(self, level: int = 1) -> Any:
        page_login(self.client, self.admin.email)
        data = {
            "csrftoken": csrf(self.client, "/matrix/edit"),
            "retrieval.cost.level": str(level),
            "retrieval.cost.wording": "Very high",
            "note": "our view",
        }
        preview = self.client.post("/matrix/edit", data=data)  # a publish follows a preview
        digest = preview.text.split('name="preview_of" value="', 1)[1].split('"', 1)[0]
        data |= {"action": "publish", "preview_of": digest}
        return self.client.post("/matrix/edit", follow_redirects=False, data=data)

    def set_price(self, gpu: str, price: float) -> Any:
        return self.client.put(
            f"/api/v1/gpus/{gpu}/price",
            headers=self.h,
            json={"price_per_hour_usd": price, "kind": "negotiated", "note": "contract 2026"},
        )


@pytest.fixture
def two(client: TestClient, session: Session) -> tuple[Org, Org]:
    return Org(client, session, "Alpha"), Org(client, session, "Beta")


def _gpus(org: Org) -> dict[str, Any]:
    return {g["key"]: g for g in org.get("/api/v1/gpus")}


def _events(session: Session, action: str) -> list[AuditEvent]:
    session.expire_all()
    return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def test_rule_set_publish_by_b_changes_nothing_for_a(
    two: tuple[Org, Org], session: Session
) -> None:
    a, b = two
    rec_a, rules_a = a.submit(), a.get("/api/v1/rules")  # A's caches are warm
    r = b.publish_rules()
    assert r.status_code == 201, r.text
    assert r.json()["version"] == 2
    assert a.get("/api/v1/rules") == rules_a
    assert rules_a["version"] == 1
    assert [v["version"] for v in a.get("/api/v1/rules/versions")] == [1]
    again = a.submit()
    assert again["versions"]["rules"] == 1
    assert again["items"] == rec_a["items"]
    assert not any(i["technique"] == "graphrag" for i in again["items"])
    rec_b = b.submit()
    assert rec_b["versions"]["rules"] == 2
    # B's rules pick GraphRAG; priced on B's deployment, plain RAG meets the SLOs for less and is
    # recommended instead, saying so (issue 18 item 4)
    assert any(
        i["rationale"][0].startswith("Chosen by price over GraphRAG") for i in rec_b["items"]
    )
    events = _events(session, "ruleset.publish")
    assert [e.org_id for e in events] == [b.org_id]
    # the rules page of A shows A's version
    page_login(a.client, a.admin.email)
    assert "graphrag for staleness" not in a.client.get("/rules").text


def test_matrix_publish_by_b_changes_nothing_for_a(two: tuple[Org, Org], session: Session) -> None:
    a, b = two
    axes_a, rec_a, ev_a = a.get("/api/v1/axes"), a.submit(), a.portfolio_eval()
    r = b.publish_matrix(level=1)
    assert r.status_code == 303, r.text
    assert a.get("/api/v1/axes") == axes_a
    assert axes_a["matrix_version"] == 1
    axes_b = b.get("/api/v1/axes")
    assert axes_b["matrix_version"] == 2
    cost = {x["key"]: x["ratings"]["cost"]["level"] for x in axes_b["items"]}
    assert cost["retrieval"] == 1
    assert a.submit()["versions"]["matrix"] == rec_a["versions"]["matrix"] == 1
    assert b.submit()["versions"]["matrix"] == 2
    assert a.portfolio_eval() == ev_a
    assert b.portfolio_eval()["dimension_scores"] != ev_a["dimension_scores"]
    assert [e.org_id for e in _events(session, "matrix.version.create")] == [b.org_id]
    page_login(a.client, a.admin.email)
    assert "our view" not in a.client.get("/matrix").text


def test_price_set_by_b_changes_nothing_for_a(two: tuple[Org, Org], session: Session) -> None:
    a, b = two
    est_a, ev_a, gpus_a = a.estimate(), a.portfolio_eval(), _gpus(a)
    cmp_a = a.client.post(
        "/api/v1/estimates/inference/compare-gpus", json=ESTIMATE, headers=a.h
    ).json()
    r = b.set_price(H100, 999.0)
    assert r.status_code == 200, r.text
    assert r.json()["price_origin"] == "organisation"
    assert _gpus(a) == gpus_a
    assert gpus_a[H100]["price_per_hour_usd"] == 3.99  # the shipped default (gpu_prices.yaml)
    assert gpus_a[H100]["price_origin"] == "shipped_default"
    assert a.estimate() == est_a
    assert a.portfolio_eval() == ev_a
    assert (
        a.client.post("/api/v1/estimates/inference/compare-gpus", json=ESTIMATE, headers=a.h).json()
        == cmp_a
    )
    # B's own figures use B's price
    est_b = b.estimate()
    assert est_b["capacity"]["monthly_cost_usd"] == pytest.approx(
        est_a["capacity"]["monthly_cost_usd"] * 999.0 / 3.99
    )
    assert b.portfolio_eval()["monthly_cost_usd"] > ev_a["monthly_cost_usd"] * 100
    gb = _gpus(b)[H100]
    assert (gb["price_per_hour_usd"], gb["default_price_per_hour_usd"]) == (999.0, 3.99)
    assert "negotiated" in gb["price_source"]
    assert b.admin.email in gb["price_source"]
    assert [e.org_id for e in _events(session, "gpu.price.set")] == [b.org_id]
    # A's pages show the shipped default
    page_login(a.client, a.admin.email)
    assert "$999" not in a.client.get("/catalog/gpus").text
    assert "$999" not in a.client.get(f"/deployments/{a.dep.id}").text


def test_own_changes_affect_own_figures(two: tuple[Org, Org], session: Session) -> None:
    a, _ = two
    est, ev = a.estimate(), a.portfolio_eval()
    assert a.set_price(H100, 7.98).status_code == 200  # twice the shipped default
    assert a.estimate()["capacity"]["monthly_cost_usd"] == pytest.approx(
        est["capacity"]["monthly_cost_usd"] * 2
    )
    assert a.portfolio_eval()["baseline"]["monthly_cost_usd"] == pytest.approx(
        ev["baseline"]["monthly_cost_usd"] * 2
    )
    page_login(a.client, a.admin.email)
    assert "contract 2026" in html.unescape(a.client.get(f"/deployments/{a.dep.id}").text)
    # removing the price brings the shipped default back (audited)
    r = a.client.delete(f"/api/v1/gpus/{H100}/price", headers=a.h)
    assert r.status_code == 200, r.text
    assert (r.json()["price_per_hour_usd"], r.json()["price_origin"]) == (3.99, "shipped_default")
    assert a.estimate() == est
    assert [e.action for e in _events(session, "gpu.price.remove")] == ["gpu.price.remove"]
    assert a.publish_rules().status_code == 201
    assert a.submit()["versions"]["rules"] == 2
    assert a.publish_matrix().status_code == 303
    assert a.submit()["versions"]["matrix"] == 2


def test_versions_are_numbered_per_organisation(two: tuple[Org, Org]) -> None:
    a, b = two
    assert a.publish_rules("a").json()["version"] == 2
    assert b.publish_rules("b").json()["version"] == 2
    assert a.publish_matrix(level=1).status_code == 303
    assert b.publish_matrix(level=2).status_code == 303
    assert a.get("/api/v1/axes")["matrix_version"] == b.get("/api/v1/axes")["matrix_version"] == 2
    assert [v["note"] for v in b.get("/api/v1/rules/versions")][0] == "b"


def test_price_input_is_checked(two: tuple[Org, Org]) -> None:
    a, _ = two
    for body, field in (
        ({"price_per_hour_usd": 0, "kind": "spot"}, "price_per_hour_usd"),
        ({"price_per_hour_usd": 1e6, "kind": "spot"}, "price_per_hour_usd"),
        ({"price_per_hour_usd": 1.0, "kind": "cheap"}, "kind"),
        ({"price_per_hour_usd": 1.0}, "kind"),
    ):
        r = a.client.put(f"/api/v1/gpus/{H100}/price", headers=a.h, json=body)
        assert r.status_code == 422, (body, r.text)
        assert field in r.text
    unknown = a.client.put(
        "/api/v1/gpus/nope/price", headers=a.h, json={"price_per_hour_usd": 1.0, "kind": "spot"}
    )
    assert unknown.status_code == 404


def test_org_admin_cannot_change_shipped_defaults_operator_can(
    two: tuple[Org, Org], session: Session
) -> None:
    a, b = two
    url = f"/api/v1/operator/gpus/{H100}/default-price"
    body = {"price_per_hour_usd": 2.5, "source": "Provider X on-demand, 2026-11-30"}
    r = a.client.put(url, headers=a.h, json=body)
    assert r.status_code == 403, r.text
    assert a.client.put(url, json=body).status_code == 401
    session.expire_all()
    assert session.get(Gpu, H100).price_per_hour_usd == 3.99  # type: ignore[union-attr]

    op, token = operators.create(session, "ops@platform.test")
    session.commit()
    h_op = {"Authorization": f"Bearer {token}"}
    assert a.client.get("/api/v1/gpus", headers=h_op).status_code == 401  # not an org token
    assert b.set_price(H100, 3.0).status_code == 200
    r = a.client.put(url, headers=h_op, json=body)
    assert r.status_code == 200, r.text
    assert r.json()["default_price_per_hour_usd"] == 2.5
    ga, gb = _gpus(a)[H100], _gpus(b)[H100]
    assert (ga["price_per_hour_usd"], ga["price_origin"]) == (2.5, "shipped_default")
    assert "Provider X" in ga["price_source"]
    assert (gb["price_per_hour_usd"], gb["price_origin"]) == (3.0, "organisation")
    ev = _events(session, "gpu.default_price.update")
    assert [(e.org_id, e.actor_email) for e in ev] == [(None, "operator:ops@platform.test")]
    bad = a.client.put(url, headers=h_op, json={"price_per_hour_usd": 2.5, "source": ""})
    assert bad.status_code == 422
    assert "source" in bad.text


def test_operator_cli_sets_default_price(session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI path: the service the command calls, with a deactivated operator refused."""
    from app.catalog import service

    op, _ = operators.create(session, "cli@platform.test")
    g = service.set_default_price(session, op, "l4", 0.7, "offer Y, 2026-11", audit_key=b"k" * 32)
    assert (g.price_per_hour_usd, g.price_source) == (0.7, "offer Y, 2026-11")
    op.is_active = False
    with pytest.raises(Exception, match="deactivated"):
        service.set_default_price(session, op, "l4", 0.8, "x", audit_key=b"k" * 32)


def _stale(monkeypatch: pytest.MonkeyPatch, session: Session, org_id: int) -> None:
    """Simulate the race: another publish stored the next version after this request read the
    current one (the request still sees version 1)."""
    v1_rules = rulesets.get_version(session, org_id, 1)
    real = rulesets.get_version

    def stale_rules(s: Session, org: int, version: int | None = None) -> RuleSetVersion:
        return v1_rules if version is None else real(s, org, version)

    monkeypatch.setattr(rulesets, "get_version", stale_rules)
    v1_matrix = CatalogRepository(session).matrix_version(org_id, 1)
    monkeypatch.setattr(CatalogRepository, "current_matrix", lambda self, org: v1_matrix)


def test_concurrent_publishes_are_409_not_500(
    two: tuple[Org, Org], session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, _ = two
    assert a.publish_rules("first").status_code == 201  # the concurrent winner: version 2
    assert a.publish_matrix(level=1).status_code == 303
    counts = (
        session.scalar(select(func.count()).select_from(RuleSetVersion)),
        session.scalar(select(func.count()).select_from(MatrixVersion)),
    )
    _stale(monkeypatch, session, a.org_id)
    body = yaml.safe_load(_changed_rules())
    body["rules"][0]["description"] = "edited concurrently"
    r = a.client.post(
        "/api/v1/rules", headers=a.h, json={"yaml": yaml.safe_dump(body), "note": "second"}
    )
    assert r.status_code == 409, r.text
    assert "version 2 was published by someone else" in r.json()["detail"]
    page_login(a.client, a.admin.email)
    form = {
        "csrftoken": csrf(a.client, "/rules"),
        "yaml": yaml.safe_dump(body),
        "note": "second",
        "action": "publish",
    }
    r = a.client.post("/rules/edit", data=form)
    assert r.status_code == 409, r.text[:300]
    assert "published by someone else" in html.unescape(r.text)
    assert "edited concurrently" in html.unescape(r.text)  # what was typed is kept
    r = a.publish_matrix(level=2)
    assert r.status_code == 409, r.text[:300]
    assert "matrix version 2 was published by someone else" in html.unescape(r.text)
    session.expire_all()
    assert counts == (
        session.scalar(select(func.count()).select_from(RuleSetVersion)),
        session.scalar(select(func.count()).select_from(MatrixVersion)),
    )


def test_reference_caches_are_per_organisation(two: tuple[Org, Org], session: Session) -> None:
    a, b = two
    assert assessments.catalog(session, a.org_id).matrix_version == 1
    assert rulesets.current_ruleset(session, a.org_id).version == 1
    assert b.publish_rules().status_code == 201
    assert b.publish_matrix(level=1).status_code == 303
    assert assessments.catalog(session, a.org_id).matrix_version == 1  # cached: still A's
    assert assessments.catalog(session, b.org_id).matrix_version == 2
    assert assessments.catalog(session, b.org_id).matrix["retrieval"]["cost"] == 1
    assert assessments.catalog(session, a.org_id).matrix["retrieval"]["cost"] != 1
    assert rulesets.current_ruleset(session, a.org_id).version == 1
    assert rulesets.current_ruleset(session, b.org_id).version == 2


def test_new_organisation_starts_from_shipped_defaults(session: Session) -> None:
    user = create_user(session, org="Gamma", role="viewer")
    mv = CatalogRepository(session).current_matrix(user.org_id)
    assert mv is not None
    assert mv.version == 1
    assert mv.created_by == "system"
    assert rulesets.get_version(session, user.org_id).text == default_ruleset_text()
    # lazily, for an organisation that lost them
    session.execute(text("DELETE FROM rule_set_versions WHERE org_id = :o"), {"o": user.org_id})
    assert rulesets.current_ruleset(session, user.org_id).version == 1


OLD_GATE = (
    "serving economics fail (budget or SLO), and a serving bottleneck limits every "
    "other axis (seed 000 §6)."
)  # the shipped reason before commit 9305835
NEW_GATE = "Serving economics come first: a serving bottleneck limits every other axis"


def test_seed_brings_an_unedited_shipped_rule_set_to_the_current_wording(
    session: Session,
) -> None:
    """A database seeded before the gate reason was reworded kept the old text ("serving
    economics fail (budget or SLO)", false for a within-budget deployment reporting a serving
    failure) until someone republished. Seeding now adds the shipped text as the next version
    of an organisation that never edited it; an organisation's own edits stay; idempotent."""
    from app.seed import load_reference_data

    current = default_ruleset_text()
    assert NEW_GATE in current
    stale = current.replace(NEW_GATE + " (seed 000 §6).", OLD_GATE)
    assert stale != current
    untouched = create_user(session, org="Stale", role="viewer").org_id
    edited = create_user(session, org="Edited", role="admin")
    for org_id in (untouched, edited.org_id):
        row = rulesets.get_version(session, org_id)
        row.text, row.body = stale, yaml.safe_load(stale)
    session.add(
        RuleSetVersion(
            org_id=edited.org_id,
            version=2,
            text=stale,
            body={**yaml.safe_load(stale), "version": 2},
            note="ours",
            created_by=edited.email,
        )
    )
    session.flush()
    load_reference_data(session)
    session.flush()
    fresh = rulesets.get_version(session, untouched)
    assert (fresh.version, fresh.created_by, fresh.text) == (2, "system", current)
    assert "updated by `axisboard seed`" in fresh.note
    assert rulesets.get_version(session, untouched, 1).text == stale  # history kept
    gate = next(
        r
        for r in rulesets.current_ruleset(session, untouched).rules
        if r.id == "serving_first_when_economics_fail"
    )
    assert NEW_GATE in next(e.reason for e in gate.effects if isinstance(e, Gate))
    own = rulesets.get_version(session, edited.org_id)
    assert (own.version, own.created_by, own.text) == (2, edited.email, stale)
    load_reference_data(session)  # idempotent
    session.flush()
    assert rulesets.get_version(session, untouched).version == 2


# ---- migration 0008 ------------------------------------------------------------------------
def _seed_0007(conn: Any) -> None:
    """Two organisations, product-wide matrix versions 1-2 and rule-set versions 1-2 (version 2
    published by Beta's admin), and an A100 price Beta's admin set."""
    now = "2026-11-01 00:00:00"
    ins = lambda sql, **kw: conn.execute(text(sql), kw)  # noqa: E731
    ins(
        "INSERT INTO organizations (id, name, created_at) VALUES (1, 'Alpha', :t), (2, 'Beta', :t)",
        t=now,
    )
    for uid, org, email in ((1, 1, "a@alpha.test"), (2, 2, "b@beta.test")):
        ins(
            "INSERT INTO users (id, org_id, email, password_hash, role, is_active, created_at, "
            "updated_at) VALUES (:i, :o, :e, 'x', 'admin', true, :t, :t)",
            i=uid,
            o=org,
            e=email,
            t=now,
        )
    ins(
        "INSERT INTO axes (key, name, stage, description, position) VALUES "
        "('retrieval', 'Retrieval', 'inference', 'd', 0)"
    )
    ins("INSERT INTO dimensions (key, name, description, position) VALUES ('cost', 'Cost', 'd', 0)")
    for vid, ver, by, level in ((1, 1, "system", 3), (2, 2, "b@beta.test", 1)):
        ins(
            "INSERT INTO matrix_versions (id, version, note, source, created_by, created_at) "
            "VALUES (:i, :v, 'n', 's', :b, :t)",
            i=vid,
            v=ver,
            b=by,
            t=now,
        )
        ins(
            "INSERT INTO matrix_cells (version_id, axis_key, dimension_key, level, wording) "
            "VALUES (:i, 'retrieval', 'cost', :l, 'w')",
            i=vid,
            l=level,
        )
    for ver, by in ((1, "system"), (2, "b@beta.test")):
        ins(
            "INSERT INTO rule_set_versions (version, text, body, note, created_by, created_at) "
            "VALUES (:v, 'rules: []', :body, 'n', :b, :t)",
            v=ver,
            b=by,
            t=now,
            body=f'{{"version": {ver}, "rules": []}}',
        )
    ins(
        "INSERT INTO gpus (key, name, memory_gb, bandwidth_tbps, bf16_tflops_dense, notes, "
        "source, price_per_hour_usd, price_source, updated_at) VALUES ('a100_sxm_80gb', 'A100', "
        "80, 2, 312, '', '', 999, 'set by b@beta.test', :t), ('l4', 'L4', 24, 0.3, 121, '', '', "
        "NULL, '', :t)",
        t=now,
    )
    ins(
        "INSERT INTO audit_events (org_id, actor_id, actor_email, action, entity_type, entity_id, "
        "created_at, prev_hash, hash) VALUES (2, 2, 'b@beta.test', 'gpu.price.update', 'gpu', "
        "'a100_sxm_80gb', :t, 'g', 'h1')",
        t=now,
    )


def test_migration_gives_every_organisation_its_own_versions(
    empty_db_url: str,  # noqa: F811
) -> None:
    cfg = alembic_config(empty_db_url)
    command.upgrade(cfg, "0007")
    eng = create_engine(empty_db_url)
    with eng.begin() as conn:
        _seed_0007(conn)
    command.upgrade(cfg, "0008")
    q = lambda sql: conn.execute(text(sql)).all()  # noqa: E731
    with eng.connect() as conn:
        mvs = q(
            "SELECT org_id, version, created_by, id FROM matrix_versions ORDER BY org_id, version"
        )
        assert [(o, v) for o, v, _, _ in mvs] == [(1, 1), (1, 2), (2, 1), (2, 2)]
        # Alpha's copy of Beta's version does not show Beta's e-mail; Beta's keeps it
        assert [by for _, _, by, _ in mvs] == [
            "system",
            "another organisation (before per-organisation versions)",
            "system",
            "b@beta.test",
        ]
        cells = dict(q("SELECT version_id, level FROM matrix_cells"))
        assert [cells[i] for *_, i in mvs] == [3, 1, 3, 1]
        assert q("SELECT org_id, version FROM rule_set_versions ORDER BY org_id, version") == [
            (1, 1),
            (1, 2),
            (2, 1),
            (2, 2),
        ]
        # Beta's A100 price is Beta's own now; the shipped default is the file's again
        assert q("SELECT org_id, gpu_key, price_per_hour_usd, set_by FROM gpu_price_overrides") == [
            (2, "a100_sxm_80gb", 999.0, "b@beta.test")
        ]
        assert q("SELECT price_per_hour_usd FROM gpus WHERE key = 'a100_sxm_80gb'") == [(1.5,)]
    with eng.begin() as conn:  # the per-organisation uniqueness holds
        conn.execute(
            text(
                "INSERT INTO rule_set_versions (org_id, version, text, body, note, "
                "created_by, created_at) VALUES (1, 3, 't', '{}', 'n', 'x', "
                "'2026-11-02 00:00:00')"
            )
        )
    command.downgrade(cfg, "0007")
    with eng.connect() as conn:
        assert q("SELECT version FROM matrix_versions ORDER BY version") == [(1,), (2,)]
        assert q("SELECT version FROM rule_set_versions ORDER BY version") == [(1,), (2,), (3,)]
        assert len(q("SELECT id FROM matrix_cells")) == 2
    command.upgrade(cfg, "head")
    eng.dispose()
