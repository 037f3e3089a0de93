"""schemathesis against the app's own OpenAPI schema, authenticated as an admin.

The schema is loaded from an app built at import (schemathesis parametrizes at collection time);
each operation's test then points that app's database dependency at the test's transaction.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, settings
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance
from sqlalchemy.orm import Session

from app.config import Environment, Settings
from app.jobs import service as jobs
from app.main import build_asgi
from tests.conftest import use_test_session
from tests.factories import TEST_SECRET, api_headers, create_deployment, create_user

ASGI = build_asgi(
    Settings(
        environment=Environment.test,
        secret_key=TEST_SECRET,
        database_url=os.environ.get("TEST_DATABASE_URL", "sqlite://"),
        log_level="WARNING",
        audit_checkpoint_path=Path(tempfile.mkdtemp(prefix="axisboard-fuzz-")) / "audit.jsonl",
    )
)
schema = schemathesis.openapi.from_asgi("/openapi.json", ASGI)

# Every check runs (no 5xx; status codes, content types, headers and bodies as documented; 405
# with a true Allow; auth enforced) except two that judge input acceptance, not responses:
# - positive_data_acceptance expects every schema-valid body to succeed, but catalog keys and
#   cross-field rules (an unknown GPU key, a model too large for the GPUs) are domain checks the
#   schema cannot express: those answer 422 with the field named, by design;
# - negative_data_rejection expects e.g. `0` to be refused for a boolean: the request models also
#   validate HTML form posts, where every value is a string, so they keep pydantic's lax
#   (lossless) coercions.
EXCLUDED = [positive_data_acceptance, negative_data_rejection]


@pytest.fixture
def auth(session: Session) -> Iterator[dict[str, str]]:
    app = ASGI.fastapi_app  # type: ignore[attr-defined]

    use_test_session(app, session)
    app.state.job_runner = lambda job_id: jobs.run(job_id, lambda: session)
    user = create_user(session, role="admin")
    create_deployment(session, user=user)
    session.commit()
    with TestClient(ASGI, base_url="http://testserver") as c:
        headers = api_headers(c, user.email)
    yield headers
    app.dependency_overrides.clear()
    app.state.job_runner = None


@schema.parametrize()
@settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "25")),
    deadline=None,
    suppress_health_check=list(HealthCheck),
    # No shrinking: a failure's report already carries the request (as curl) that caused it.
    phases=[Phase.explicit, Phase.generate],
    database=None,
)
def test_api(case: Any, auth: dict[str, str]) -> None:
    case.call_and_validate(headers=auth, excluded_checks=EXCLUDED)
