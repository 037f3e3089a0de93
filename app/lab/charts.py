"""Plotly figure specs for the scaling-lab pages (plain dicts; drawn by static/js/app.js)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from app.estimates.charts import LAYOUT
from app.scaling.conditional import Coefficients
from app.scaling.inference_aware import InferenceAwareResult
from app.scaling.planner import IsoFlop, IsoLossGrid
from app.web.charts import figure


def _log_axis(title: str) -> dict[str, Any]:
    return {"type": "log", "title": {"text": title}, "exponentformat": "SI"}


@figure
def iso_flop(curves: Sequence[IsoFlop], fit: str) -> dict[str, Any]:
    data: list[dict[str, Any]] = [
        {
            "type": "scatter",
            "mode": "lines",
            "name": f"C = {c.compute_flops:.1e}",
            "x": c.params.tolist(),
            "y": c.loss.tolist(),
        }
        for c in curves
    ]
    data.append(
        {
            "type": "scatter",
            "mode": "markers",
            "name": "optimum",
            "marker": {"size": 9},
            "x": [c.optimal_params for c in curves],
            "y": [c.optimal_loss for c in curves],
        }
    )
    return {
        "data": data,
        "layout": {
            **LAYOUT,
            "title": {"text": f"Iso-FLOP curves ({fit})"},
            "xaxis": _log_axis("parameters N"),
            "yaxis": {"title": {"text": "loss (nats/token)"}},
        },
    }


@figure
def iso_loss(
    grid: IsoLossGrid, fit: str, points: Sequence[tuple[str, float, float]]
) -> dict[str, Any]:
    data: list[dict[str, Any]] = [
        {
            "type": "contour",
            "x": grid.params.tolist(),
            "y": grid.tokens.tolist(),
            "z": grid.loss.tolist(),
            "colorscale": "Viridis",
            "reversescale": True,
            "contours": {"coloring": "lines", "showlabels": True},
            "name": "iso-loss",
            "showscale": False,
        },
        {
            "type": "scatter",
            "mode": "lines",
            "name": "compute-optimal frontier",
            "x": grid.frontier_params.tolist(),
            "y": grid.frontier_tokens.tolist(),
            "line": {"color": "#b91c1c", "width": 3},
        },
    ]
    for label, n, d in points:
        data.append(
            {
                "type": "scatter",
                "mode": "markers+text",
                "name": label,
                "x": [n],
                "y": [d],
                "text": [label],
                "textposition": "top center",
                "marker": {"size": 11, "symbol": "star"},
            }
        )
    return {
        "data": data,
        "layout": {
            **LAYOUT,
            "height": 380,
            "title": {"text": f"Iso-loss contours ({fit})"},
            "xaxis": _log_axis("parameters N"),
            "yaxis": _log_axis("training tokens D"),
        },
    }


@figure
def demand_curve(rows: Sequence[InferenceAwareResult], demands: Sequence[float]) -> dict[str, Any]:
    x = list(demands)
    data = [
        {
            "type": "scatter",
            "mode": "lines+markers",
            "name": "parameters (optimal)",
            "x": x,
            "y": [r.optimal.params for r in rows],
        },
        {
            "type": "scatter",
            "mode": "lines",
            "name": "parameters (Chinchilla)",
            "x": x,
            "y": [r.chinchilla.params for r in rows],
            "line": {"dash": "dash"},
        },
        {
            "type": "scatter",
            "mode": "lines+markers",
            "name": "training tokens (optimal)",
            "x": x,
            "y": [r.optimal.training_tokens for r in rows],
        },
        {
            "type": "scatter",
            "mode": "lines+markers",
            "name": "lifetime cost vs Chinchilla",
            "x": x,
            "y": [r.savings_ratio for r in rows],
            "yaxis": "y2",
        },
    ]
    return {
        "data": data,
        "layout": {
            **LAYOUT,
            "height": 360,
            "title": {"text": "The optimum as lifetime demand grows"},
            "xaxis": _log_axis("lifetime inference tokens"),
            "yaxis": _log_axis("count"),
            "yaxis2": {
                "overlaying": "y",
                "side": "right",
                "title": {"text": "ratio"},
                "range": [0, 1.05],
            },
        },
    }


@figure
def predicted_vs_observed(
    predicted: Sequence[float], observed: Sequence[float], labels: Sequence[str] | None = None
) -> dict[str, Any]:
    lo, hi = min(*predicted, *observed), max(*predicted, *observed)
    data: list[dict[str, Any]] = [
        {
            "type": "scatter",
            "mode": "markers",
            "name": "runs",
            "x": list(observed),
            "y": list(predicted),
            **({"text": list(labels)} if labels else {}),
        },
        {
            "type": "scatter",
            "mode": "lines",
            "name": "predicted = observed",
            "x": [lo, hi],
            "y": [lo, hi],
            "line": {"dash": "dash", "color": "#6b7280"},
        },
    ]
    return {
        "data": data,
        "layout": {
            **LAYOUT,
            "title": {"text": "Predicted against observed loss"},
            "xaxis": {"title": {"text": "observed"}},
            "yaxis": {"title": {"text": "predicted"}},
        },
    }


@figure
def multiplier_curves(c: Coefficients, x: float, r: float, ref: float) -> dict[str, Any]:
    """The law's multiplier along x (at this r) and along r (at this x), the design marked."""
    xs = np.geomspace(0.02, 0.25, 120)
    rs = np.geomspace(0.1, 12, 120)
    data = [
        {
            "type": "scatter",
            "mode": "lines",
            "name": "along x = d/√N (this r)",
            "x": xs.tolist(),
            "y": c.multiplier(xs, r, ref).tolist(),
        },
        {
            "type": "scatter",
            "mode": "lines",
            "name": "along r (this x)",
            "xaxis": "x2",
            "yaxis": "y2",
            "x": rs.tolist(),
            "y": c.multiplier(x, rs, ref).tolist(),
        },
        {
            "type": "scatter",
            "mode": "markers",
            "name": "this design",
            "marker": {"size": 11},
            "x": [x],
            "y": [float(c.multiplier(x, r, ref))],
        },
        {
            "type": "scatter",
            "mode": "markers",
            "name": "this design (r)",
            "xaxis": "x2",
            "yaxis": "y2",
            "marker": {"size": 11},
            "x": [r],
            "y": [float(c.multiplier(x, r, ref))],
            "showlegend": False,
        },
    ]
    return {
        "data": data,
        "layout": {
            **LAYOUT,
            "title": {"text": f"Loss multiplier ({c.name}, {c.form})"},
            "xaxis": {**_log_axis("x = d_model/√N_non-embed"), "domain": [0, 0.45]},
            "xaxis2": {**_log_axis("r = N_mlp/N_attn"), "domain": [0.55, 1], "anchor": "y2"},
            "yaxis": {"title": {"text": "L / L_opt"}},
            "yaxis2": {"anchor": "x2", "matches": "y"},
        },
    }


@figure
def search_scatter(
    sample: dict[str, list[float]],
    pareto: Sequence[dict[str, Any]],
    marked: Sequence[tuple[str, dict[str, Any] | None]],
    loss_target: float,
) -> dict[str, Any]:
    data: list[dict[str, Any]] = [
        {
            "type": "scatter",
            "mode": "markers",
            "name": "candidates (sample)",
            "x": sample["throughput"],
            "y": sample["loss"],
            "marker": {
                "size": 4,
                "color": sample["gqa"],
                "colorscale": "Blues",
                "opacity": 0.5,
                "colorbar": {"title": {"text": "GQA"}},
            },
        },
        {
            "type": "scatter",
            "mode": "lines+markers",
            "name": "Pareto frontier",
            "x": [p["predicted_throughput"] for p in pareto],
            "y": [p["predicted_loss"] for p in pareto],
            "line": {"color": "#b91c1c"},
        },
    ]
    for (label, d), symbol in zip(marked, ("star", "diamond", "square"), strict=False):
        if d is not None:
            data.append(
                {
                    "type": "scatter",
                    "mode": "markers+text",
                    "name": label,
                    "x": [d["predicted_throughput"]],
                    "y": [d["predicted_loss"]],
                    "text": [label],
                    "textposition": "top center",
                    "marker": {"size": 14, "symbol": symbol},
                }
            )
    return {
        "data": data,
        "layout": {
            **LAYOUT,
            "height": 420,
            "title": {"text": "Designs: predicted loss against throughput"},
            "xaxis": {"title": {"text": "predicted output tokens/s"}},
            "yaxis": {"title": {"text": "predicted loss"}},
            "shapes": [
                {
                    "type": "line",
                    "xref": "paper",
                    "x0": 0,
                    "x1": 1,
                    "y0": loss_target,
                    "y1": loss_target,
                    "line": {"dash": "dot", "color": "#374151"},
                }
            ],
            "annotations": [
                {
                    "xref": "paper",
                    "x": 0,
                    "y": loss_target,
                    "text": "loss target",
                    "showarrow": False,
                    "yanchor": "bottom",
                    "xanchor": "left",
                }
            ],
        },
    }
