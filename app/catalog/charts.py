"""Plotly figure specs (plain dicts, rendered client-side by the vendored plotly.js)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from app.rules.matrix import DIMENSIONS
from app.web.charts import figure

_LAYOUT = {
    "margin": {"l": 170, "r": 20, "t": 30, "b": 60},
    "font": {"size": 12},
    "paper_bgcolor": "rgba(0,0,0,0)",
    "plot_bgcolor": "rgba(0,0,0,0)",
}


@figure
def matrix_heatmap(
    axes: Sequence[tuple[str, str]],
    levels: Mapping[str, Mapping[str, int]],
    wording: Mapping[str, Mapping[str, str]],
) -> dict[str, Any]:
    """Axis x dimension heatmap of the matrix levels (5 = most favourable)."""
    names = [name for _, name in axes]
    z = [[levels[key][d] for d in DIMENSIONS] for key, _ in axes]
    text = [[wording[key][d] for d in DIMENSIONS] for key, _ in axes]
    return {
        "data": [
            {
                "type": "heatmap",
                "z": z,
                "x": [d.capitalize() for d in DIMENSIONS],
                "y": names,
                "text": text,
                "hovertemplate": "%{y} / %{x}<br>level %{z}: %{text}<extra></extra>",
                "zmin": 1,
                "zmax": 5,
                "colorscale": "RdYlGn",
                "colorbar": {"title": {"text": "level (5 = favourable)"}},
            }
        ],
        "layout": {**_LAYOUT, "height": 420, "yaxis": {"autorange": "reversed"}},
    }


@figure
def suitability_bars(
    axes: Sequence[tuple[str, str]], table: Mapping[str, Mapping[str, float]]
) -> dict[str, Any]:
    """Fig. 2 of seed 000: suitability (1-5) of each axis under each profile, grouped bars."""
    names = [name for _, name in axes]
    colours = {"startup": "#2b8a3e", "enterprise": "#1c7ed6", "research": "#e8590c"}
    return {
        "data": [
            {
                "type": "bar",
                "name": profile.capitalize(),
                "x": names,
                "y": [table[profile][key] for key, _ in axes],
                "marker": {"color": colours.get(profile, "#868e96")},
            }
            for profile in table
        ],
        "layout": {
            **_LAYOUT,
            "barmode": "group",
            "height": 420,
            "margin": {"l": 50, "r": 20, "t": 30, "b": 120},
            "yaxis": {"range": [0, 5], "title": {"text": "suitability (1-5)"}},
        },
    }
