"""Values written for a reader (issue 22, items 6 and 11; issue 21, item 5): catalog names instead
of keys, option labels instead of option keys, counts as integers, "no change" instead of
"$0; 0 ms", "not set" instead of None, an estimate's assumptions with labels and units, and the
audit report's text built from them."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app import names
from app import report_format as rf
from app.assumption_labels import assumption_rows
from app.demo import DEMO_PASSWORD, DEMO_USERS, load_demo
from app.deployments.models import Deployment
from app.estimators import bands
from app.governance import soa_rules
from app.governance.soa_rules import SoaRuleError
from tests.factories import AUDIT_KEY, page_login
from tests.test_number_format import _visible


def test_catalog_names_for_keys() -> None:
    assert names.gpu_name("h100_sxm_80gb") == "NVIDIA H100 SXM 80GB"
    assert names.gpu_name("a100_sxm_80gb") == "NVIDIA A100 SXM 80GB"
    assert names.model_name("mixtral_8x7b").startswith("Mixtral-8x7B")
    assert names.model_name("an_org_own_key") == "an_org_own_key"  # no name: as given
    assert names.axis_name("serving_optimization") == "Serving optimization"
    assert names.item_name("serving_optimization/weight_quant_int8") == (
        "INT8 weights (W8A8) (Serving optimization)"
    )
    text = names.named("long_context: more untrusted text; reasoning_compute: tokens multiply")
    assert "long_context" not in text
    assert "reasoning_compute" not in text
    assert text.startswith(names.axis_name("long_context") + ": more untrusted text")


def test_follow_up_answers_use_option_labels() -> None:
    assert rf.follow_up("control_need", "simplicity_cost") == "control need: Simplicity and cost"
    assert rf.follow_up("corpus_tokens", 40_000_000.0) == "corpus tokens: 40M"
    assert rf.follow_up("labelled_data", False) == "labelled data: no"
    assert rf.follow_up("distribution", None) == "distribution: not answered"


def test_report_counts_are_integers_and_no_change_says_so() -> None:
    assert rf.text(1.0) == "1"  # "Replicas 1", not "1.00"
    assert rf.text(5.0) == "5"
    assert rf.text(12.0) == "12"
    assert rf.text(2.5) == "2.50"
    unchanged = {
        "monthly_cost_delta_usd": 0.0,
        "ttft_delta_ms": 0.0,
        "tpot_delta_ms": 0,
        "one_off_cost_usd": 28.31,
        "governance_burden": 5.0,
    }
    assert rf.impact(unchanged) == (
        "no change to cost or latency; one-off $28.31; governance burden 5"
    )
    changed = {
        "monthly_cost_delta_usd": 736.0,
        "ttft_delta_ms": 340.0,
        "tpot_delta_ms": 15.6,
        "one_off_cost_usd": 0,
        "governance_burden": 6.0,
    }
    assert rf.impact(changed) == (
        "monthly cost (GPU-hours needed) +$736; TTFT +340 ms; TPOT +15.6 ms; governance burden 6"
    )


def test_estimate_assumptions_have_labels_units_and_no_none() -> None:
    rows = dict(
        assumption_rows(
            {
                "interconnect_gb_s": None,
                "calibration": None,
                "total_params": 8030261248,
                "tensor_parallel": 2,
                "gpu_memory_utilization": 0.9,
                "price_per_gpu_hour_usd": 3.99,
                "range": {
                    "method": "10-90% of measured/estimated",
                    "bands": [bands.describe("static_batch_throughput", "h100_sxm_80gb")],
                },
                "some_new_key": None,
            }
        )
    )
    assert rows["GPU interconnect"] == "not used (one GPU per replica)"
    assert rows["Calibration"].startswith("none")
    assert rows["Total parameters"] == "8.03B"
    assert rows["Tensor-parallel GPUs per replica"] == "2"
    assert rows["GPU memory the engine may use"] == "90 %"
    assert rows["GPU price"] == "$3.99 per GPU-hour"
    assert rows["Range of the figures"].startswith("10-90% of measured/estimated. Bands: ")
    assert "static-batch throughput: " in rows["Range of the figures"]
    assert "{" not in rows["Range of the figures"]
    assert rows["Some new key"] == "not set"
    assert not [v for v in rows.values() if "None" in v]


def test_soa_basis_error_is_worded_for_a_reader() -> None:
    row = soa_rules.default_row("A.10.4", "Customers", [])
    edit = soa_rules.ControlEdit(
        applicable=False, basis="because", reference="x", justification="y"
    )
    with pytest.raises(SoaRuleError) as caught:
        soa_rules.apply_edit(row, edit)
    assert caught.value.field == "basis"
    assert "the risk assessment or an external requirement" in str(caught.value)
    assert "risk_assessment" not in str(caught.value)


def test_the_audit_report_page_reads_as_text(client: TestClient, session: Session) -> None:
    load_demo(session, audit_key=AUDIT_KEY)
    session.flush()
    from app.auth.permissions import Role

    dep = session.scalars(select(Deployment).order_by(Deployment.id)).first()
    assert dep is not None
    page_login(client, DEMO_USERS[Role.admin], DEMO_PASSWORD)
    r = client.get(f"/deployments/{dep.id}/report")
    assert r.status_code == 200
    text = " ".join(_visible(r.text).split())
    # replicas are whole: "Replicas at the peak 1 × 2 GPUs", never "1.00"
    assert re.search(r"Replicas at the peak \d+ × \d+ GPU", text), text[:200]
    assert not re.search(r"Replicas at the peak \d+\.\d", text)
    assert not re.search(r"governance (burden|capacity) \d+\.\d", text)
    assert "monthly cost $0;" not in text
    assert "TTFT 0 ms" not in text
    assert "control need: Simplicity and cost" in text
    assert "simplicity_cost" not in text
