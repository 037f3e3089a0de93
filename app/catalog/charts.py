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


@figure
def hosted_break_even(
    self_hosted: tuple[Sequence[float], Sequence[float]] | None,
    hosted: Sequence[tuple[str, float]],
    current_requests_per_day: float,
    x_max: float,
) -> dict[str, Any]:
    """Monthly cost against requests/day: the self-hosted step function (one step per replica)
    and a line per hosted API (``(name, USD per month per request/day)``), the deployment's
    current traffic marked."""
    data: list[dict[str, Any]] = []
    if self_hosted is not None:
        data.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": "Self-hosted (replica steps)",
                "x": list(self_hosted[0]),
                "y": list(self_hosted[1]),
                "line": {"color": "#212529", "width": 3, "shape": "linear"},
                "hovertemplate": "%{x:,.0f} requests/day<br>$%{y:,.0f}/month"
                "<extra>self-hosted</extra>",
            }
        )
    palette = ["#1c7ed6", "#e8590c", "#2b8a3e", "#ae3ec9", "#f59f00", "#0ca678", "#d6336c"]
    for i, (name, slope) in enumerate(hosted):
        data.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": name,
                "x": [0, x_max],
                "y": [0, slope * x_max],
                "line": {"color": palette[i % len(palette)], "dash": "dash"},
                "hovertemplate": "%{x:,.0f} requests/day<br>$%{y:,.0f}/month"
                "<extra>%{fullData.name}</extra>",
            }
        )
    return {
        "data": data,
        "layout": {
            **_LAYOUT,
            "height": 440,
            "margin": {"l": 80, "r": 20, "t": 30, "b": 60},
            "xaxis": {"title": {"text": "requests per day"}, "range": [0, x_max]},
            "yaxis": {"title": {"text": "monthly cost (USD)"}, "rangemode": "tozero"},
            "legend": {"orientation": "h", "y": -0.2},
            "shapes": [
                {
                    "type": "line",
                    "x0": current_requests_per_day,
                    "x1": current_requests_per_day,
                    "yref": "paper",
                    "y0": 0,
                    "y1": 1,
                    "line": {"color": "#868e96", "width": 2, "dash": "dot"},
                }
            ],
            "annotations": [
                {
                    "x": current_requests_per_day,
                    "yref": "paper",
                    "y": 1,
                    "text": "current traffic",
                    "showarrow": False,
                    "xanchor": "left",
                    "yanchor": "top",
                }
            ],
        },
    }
