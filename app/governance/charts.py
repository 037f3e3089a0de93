"""Plotly figure for a disaggregated evaluation (plain dict; drawn by static/js/app.js)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.estimates.charts import LAYOUT
from app.web.charts import figure


@figure
def before_after(analysis: Mapping[str, Any], metric: str) -> dict[str, Any]:
    """Before and after per segment for one metric; regressed segments outlined in red, the
    aggregate as dashed lines."""
    segs = analysis["segments"][metric]
    names = sorted(segs)
    regressed = {r["segment"] for r in analysis["regressions"] if r["metric"] == metric}
    line = [3 if s in regressed else 0 for s in names]
    data = [
        {
            "type": "bar",
            "name": "before",
            "x": names,
            "y": [segs[s]["before"] for s in names],
            "marker": {"color": "#94a3b8"},
        },
        {
            "type": "bar",
            "name": "after",
            "x": names,
            "y": [segs[s]["after"] for s in names],
            "marker": {"color": "#2563eb", "line": {"color": "#b91c1c", "width": line}},
        },
    ]
    agg = analysis["aggregate"]
    shapes = [
        {
            "type": "line",
            "xref": "paper",
            "x0": 0,
            "x1": 1,
            "yref": "y",
            "y0": agg[p][metric],
            "y1": agg[p][metric],
            "line": {"dash": "dash", "color": "#94a3b8" if p == "before" else "#2563eb"},
        }
        for p in ("before", "after")
    ]
    return {
        "data": data,
        "layout": {
            **LAYOUT,
            "barmode": "group",
            "shapes": shapes,
            "title": {"text": f"{metric} by segment (red outline: regressed; dashed: aggregate)"},
            "yaxis": {"title": {"text": metric}},
        },
    }
