"""Labels of the portfolio search's frontier rows (templates/portfolios/search.html): each item by
its catalog name with the parameters that tell the rows apart. A parameter is shown when its value
differs between the frontier's items of the same technique (two "RAG + right-size the GPU" rows
at $242 and $376 differ in the GPU), and the few that always matter (k, rank, precision, model,
samples, alpha, gamma) are shown anyway. Reads the search result as a dict or as its response
model (attribute access)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from app import names

ALWAYS = ("samples", "alpha", "gamma", "k", "precision", "model", "rank")
KEY_LABELS = {"gpu": "GPU", "n_gpus": "GPUs"}


def _get(obj: Any, key: str) -> Any:
    return obj[key] if isinstance(obj, Mapping) else getattr(obj, key)


def _value(key: str, value: Any) -> str:
    if value is None or value == "":
        return "auto"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if key == "gpu":
        return names.gpu_name(value)
    if key == "model":
        return names.model_name(value)
    if isinstance(value, float) and value.is_integer():
        return f"{value:,.0f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _params(item: Any) -> dict[str, Any]:
    params = _get(item, "params")
    return dict(params) if params else {}


def point_labels(pareto: Sequence[Any]) -> list[list[tuple[str, str]]]:
    """Per frontier point, per item: (the technique's catalog name, "k 3, GPU NVIDIA L4" or "")."""
    seen: dict[tuple[str, str], set[str]] = {}
    for point in pareto:
        for item in _get(point, "items"):
            for key, value in _params(item).items():
                seen.setdefault((str(_get(item, "technique")), key), set()).add(repr(value))
    out = []
    for point in pareto:
        row = []
        for item in _get(point, "items"):
            tech = str(_get(item, "technique"))
            shown = [
                f"{KEY_LABELS.get(key, key.replace('_', ' '))} {_value(key, value)}"
                for key, value in sorted(_params(item).items())
                if key in ALWAYS or len(seen[(tech, key)]) > 1
            ]
            row.append((names.name_of("techniques", tech), ", ".join(shown)))
        out.append(row)
    return out
