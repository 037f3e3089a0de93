"""One translation per input error (issue 23 item 4): a FieldError raised anywhere under a route
becomes a 422 naming its field, through the one handler registered in app.web.handlers; code
that knows where the field sits in the request names it with field_prefix / as_field."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.errors import Conflict, InvalidInput
from app.estimators.errors import FieldError, as_field, field_prefix
from app.web.forms import form_error
from app.web.handlers import install_exception_handlers


def test_field_prefix_names_the_field_under_the_prefix() -> None:
    with pytest.raises(FieldError) as exc, field_prefix("items[2].params."):
        raise FieldError("must be positive", field="k")
    assert (exc.value.field, exc.value.message) == ("items[2].params.k", "must be positive")
    with pytest.raises(FieldError) as unnamed, field_prefix("model."):
        raise FieldError("no such model")
    assert unnamed.value.field == "model"


def test_as_field_replaces_or_fills_the_field() -> None:
    with pytest.raises(FieldError) as exc, as_field("precision"):
        raise FieldError("fp4 is not supported on this GPU", field="dtype")
    assert exc.value.field == "precision"
    with pytest.raises(FieldError) as kept, as_field("failure_modes", only_if_unnamed=True):
        raise FieldError("bad share", field="traffic_share")
    assert kept.value.field == "traffic_share"
    with pytest.raises(FieldError) as filled, as_field("failure_modes", only_if_unnamed=True):
        raise FieldError("nothing to search")
    assert filled.value.field == "failure_modes"


def test_a_field_error_under_a_route_is_a_422_naming_the_field() -> None:
    app = FastAPI()
    install_exception_handlers(app)

    @app.get("/api/v1/probe")
    def probe() -> None:
        with field_prefix("gpu."):
            raise FieldError("memory_gb must be positive", field="memory_gb")

    r = TestClient(app).get("/api/v1/probe")
    assert r.status_code == 422
    assert r.json() == {"detail": "memory_gb must be positive", "field": "gpu.memory_gb"}


def test_form_error_gives_the_inline_error_or_reraises() -> None:
    assert form_error(FieldError("too long", field="name")) == ("name", "too long", 422)
    assert form_error(Conflict("taken")) == ("__all__", "taken", 409)
    assert form_error(InvalidInput("bad", field=None), default="url") == ("url", "bad", 422)
    with pytest.raises(Conflict):
        form_error(Conflict("stale"), statuses=(422,))
