"""Plotly figure specs for the estimator pages (plain dicts; drawn by static/js/app.js)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from app.web.charts import figure

LAYOUT: dict[str, Any] = {
    "margin": {"l": 60, "r": 20, "t": 30, "b": 50},
    "font": {"size": 12},
    "paper_bgcolor": "rgba(0,0,0,0)",
    "plot_bgcolor": "rgba(0,0,0,0)",
    "height": 320,
    "legend": {"orientation": "h", "y": -0.25},
}


@figure
def memory_bar(
    parts: dict[str, float], capacity_gb: float, label: str = "capacity"
) -> dict[str, Any]:
    """Stacked memory breakdown per GPU against the GPU's capacity (``label`` names the line)."""
    data = [
        {
            "type": "bar",
            "orientation": "h",
            "name": k,
            "y": ["per GPU"],
            "x": [v],
            "hovertemplate": "%{fullData.name}: %{x:.2f} GB<extra></extra>",
        }
        for k, v in parts.items()
    ]
    return {
        "data": data,
        "layout": {
            **LAYOUT,
            "height": 250,
            # The legend below the axis title, not on it (LAYOUT's y −0.25 suits taller charts).
            "margin": {**LAYOUT["margin"], "b": 100},
            "legend": {**LAYOUT["legend"], "y": -0.5, "yanchor": "top"},
            "barmode": "stack",
            "xaxis": {"title": {"text": "GB (10^9 bytes)"}},
            "shapes": [
                {
                    "type": "line",
                    "x0": capacity_gb,
                    "x1": capacity_gb,
                    "y0": -0.5,
                    "y1": 0.5,
                    "line": {"color": "#b91c1c", "width": 3},
                }
            ],
            "annotations": [
                {"x": capacity_gb, "y": 0.5, "text": label, "showarrow": False, "yanchor": "bottom"}
            ],
        },
    }


def _lines(
    x: Sequence[float], series: Mapping[str, Sequence[float | None]]
) -> list[dict[str, Any]]:
    return [
        {
            "type": "scatter",
            "mode": "lines+markers",
            "name": name,
            "x": list(x),
            "y": list(y),
            **({"line": {"dash": "dash"}} if "best case" in name else {}),
        }
        for name, y in series.items()
    ]


@figure
def batch_sweep(
    batches: Sequence[int],
    throughput: Sequence[float],
    throughput_best: Sequence[float],
    tpot: Sequence[float],
    tpot_best: Sequence[float],
) -> dict[str, Any]:
    data = _lines(
        batches, {"output tok/s": throughput, "output tok/s (best case)": throughput_best}
    )
    data += [
        {**d, "yaxis": "y2"}
        for d in _lines(batches, {"TPOT ms": tpot, "TPOT ms (best case)": tpot_best})
    ]
    return {
        "data": data,
        "layout": {
            **LAYOUT,
            "xaxis": {"title": {"text": "batch size"}, "type": "log"},
            "yaxis": {"title": {"text": "output tokens/s"}},
            "yaxis2": {"title": {"text": "TPOT ms"}, "overlaying": "y", "side": "right"},
        },
    }


@figure
def ttft_sweep(
    inputs: Sequence[int], ttft: Sequence[float], best: Sequence[float]
) -> dict[str, Any]:
    return {
        "data": _lines(inputs, {"TTFT ms": ttft, "TTFT ms (best case)": best}),
        "layout": {
            **LAYOUT,
            "xaxis": {"title": {"text": "input tokens"}, "type": "log"},
            "yaxis": {"title": {"text": "TTFT ms"}},
        },
    }


@figure
def latency_vs_rate(
    rates: Sequence[float], series: dict[str, Sequence[float]], slo: dict[str, float | None]
) -> dict[str, Any]:
    shapes = [
        {
            "type": "line",
            "xref": "paper",
            "x0": 0,
            "x1": 1,
            "y0": v,
            "y1": v,
            "line": {"dash": "dot", "color": "#b91c1c"},
        }
        for v in slo.values()
        if v
    ]
    return {
        "data": _lines(rates, series),
        "layout": {
            **LAYOUT,
            "xaxis": {"title": {"text": "request rate (req/s)"}},
            "yaxis": {"title": {"text": "ms"}, "type": "log"},
            "shapes": shapes,
        },
    }


@figure
def cost_by_gpu(names: Sequence[str], costs: Sequence[float | None]) -> dict[str, Any]:
    pairs = [(n, c) for n, c in zip(names, costs, strict=True) if c is not None]
    return {
        "data": [
            {
                "type": "bar",
                "x": [p[0] for p in pairs],
                "y": [p[1] for p in pairs],
                "hovertemplate": "%{x}: $%{y:.3f} per M output tokens<extra></extra>",
            }
        ],
        "layout": {
            **LAYOUT,
            "yaxis": {"title": {"text": "$ per million output tokens"}},
            "margin": {**LAYOUT["margin"], "b": 110},
        },
    }


@figure
def training_memory(parts: dict[str, float], capacity_gb: float) -> dict[str, Any]:
    return memory_bar(parts, capacity_gb)
