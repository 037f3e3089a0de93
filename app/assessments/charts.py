"""Plotly figure spec for a recommendation's score breakdown (plain dict; drawn by app.js)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from app.estimates.charts import LAYOUT
from app.web.charts import figure

FACTORS = (
    ("severity", "severity / 4"),
    ("reach", "reach 0.5 + 0.5·share"),
    ("segment_risk", "segment risk 1 + 0.25·risk"),
    ("profile_fit", "profile fit / 5"),
)


@figure
def score_breakdown(items: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Each ranked item's four factors (bars, left axis) and its score (markers, right axis):
    score = 100 × severity × reach × segment risk × profile fit."""
    labels = [f"#{i['rank']} {i['technique_name']}" for i in items]
    data: list[dict[str, Any]] = [
        {
            "type": "bar",
            "name": label,
            "x": labels,
            "y": [i["breakdown"][key] for i in items],
            "hovertemplate": "%{fullData.name}: %{y:.2f}<extra></extra>",
        }
        for key, label in FACTORS
    ]
    data.append(
        {
            "type": "scatter",
            "mode": "markers+text",
            "name": "score",
            "x": labels,
            "y": [i["score"] for i in items],
            "yaxis": "y2",
            "text": [f"{i['score']:.1f}" for i in items],
            "textposition": "top center",
            "marker": {"size": 12, "symbol": "diamond", "color": "#111827"},
            "hovertemplate": "score %{y:.1f}<extra></extra>",
        }
    )
    return {
        "data": data,
        "layout": {
            **LAYOUT,
            "height": 380,
            "barmode": "group",
            "margin": {**LAYOUT["margin"], "r": 70, "t": 60},
            "title": {"text": "Score = 100 × severity × reach × segment risk × profile fit"},
            "yaxis": {"title": {"text": "factor"}, "rangemode": "tozero"},
            "yaxis2": {
                "title": {"text": "score"},
                "overlaying": "y",
                "side": "right",
                "rangemode": "tozero",
                "showgrid": False,
            },
        },
    }
