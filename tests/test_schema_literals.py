"""The request schemas' Literal types are written out for the type checker; each must list exactly
the values of the registry it mirrors, in the same order (the 422 message lists them in order)."""

from __future__ import annotations

from typing import get_args

import pytest

from app.estimates.schemas import ChinchillaFitName, EngineName, KvPrecision, WeightPrecision
from app.estimators.chinchilla import DEFAULT_FIT, FIT_NAMES
from app.estimators.engines import ENGINE_NAMES
from app.estimators.precision import KV_PRECISIONS, WEIGHT_PRECISIONS
from app.lab.schemas import CoefficientSetName, FitName, FormName
from app.scaling.conditional import DEFAULT_COEFFICIENTS, FORMS, PUBLISHED


@pytest.mark.parametrize(
    ("literal", "registry"),
    [
        (EngineName, ENGINE_NAMES),
        (WeightPrecision, tuple(p.value for p in WEIGHT_PRECISIONS)),
        (KvPrecision, tuple(p.value for p in KV_PRECISIONS)),
        (FitName, FIT_NAMES),
        (ChinchillaFitName, FIT_NAMES),
        (CoefficientSetName, tuple(PUBLISHED)),
        (FormName, FORMS),
    ],
    ids=["engine", "precision", "kv_precision", "fit", "chinchilla_fit", "coefficients", "form"],
)
def test_literal_lists_the_registry(literal: object, registry: tuple[str, ...]) -> None:
    assert get_args(literal) == registry


def test_defaults_are_allowed_values() -> None:
    assert DEFAULT_FIT in get_args(FitName)
    assert DEFAULT_COEFFICIENTS in get_args(CoefficientSetName)
