"""The scaling lab's input error (a 422 naming ``field`` in the API)."""

from __future__ import annotations

from app.estimators.errors import FieldError


class ScalingError(FieldError):
    """Impossible input: a negative budget, a loss at or below E, too few runs, a singular fit."""
