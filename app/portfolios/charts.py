"""Plotly figure specs for the portfolio comparison (plain dicts; drawn by static/js/app.js)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from app.estimates.charts import LAYOUT
from app.estimators.portfolio import DIMENSIONS
from app.portfolios.search_schemas import ParetoPointOut
from app.portfolios.service import EvaluatedPortfolio
from app.web.charts import figure


@figure
def radar(evals: Sequence[EvaluatedPortfolio], names: Mapping[int, str]) -> dict[str, Any]:
    """The four dimensions (matrix means, 1-5, 5 most favourable) of each portfolio."""
    data = [
        {
            "type": "scatterpolar",
            "fill": "toself",
            "opacity": 0.6,
            "name": names[e.portfolio_id],
            "r": [e.dimension_scores[d] or 0 for d in (*DIMENSIONS, DIMENSIONS[0])],
            "theta": [*DIMENSIONS, DIMENSIONS[0]],
        }
        for e in evals
    ]
    return {
        "data": data,
        "layout": {
            **LAYOUT,
            "height": 360,
            "title": {"text": "Dimensions (mean matrix level of the portfolio's axes)"},
            "polar": {"radialaxis": {"range": [0, 5], "dtick": 1}},
        },
    }


@figure
def suitability(evals: Sequence[EvaluatedPortfolio], names: Mapping[int, str]) -> dict[str, Any]:
    """Fig. 2 of seed 000 for portfolios: suitability under each deployment profile."""
    profiles = list(evals[0].profile_suitability) if evals else []
    data = [
        {
            "type": "bar",
            "name": names[e.portfolio_id],
            "x": profiles,
            "y": [e.profile_suitability[p] for p in profiles],
        }
        for e in evals
    ]
    return {
        "data": data,
        "layout": {
            **LAYOUT,
            "barmode": "group",
            "title": {"text": "Suitability by deployment profile (1-5)"},
            "yaxis": {"range": [0, 5], "title": {"text": "weighted matrix level"}},
        },
    }


@figure
def cost_latency(
    evals: Sequence[EvaluatedPortfolio],
    names: Mapping[int, str],
    pareto: Sequence[int],
    ttft_slo_ms: float,
    monthly_budget_usd: float,
) -> dict[str, Any]:
    """Monthly cost against the time to answer p95 (TTFT + reasoning tokens, the wait the TTFT
    SLO bounds), the TTFT SLO and the monthly budget as lines, Pareto-efficient portfolios
    starred."""
    pts = [
        e for e in evals if e.time_to_answer_ms_p95 is not None and e.monthly_cost_usd is not None
    ]
    data = [
        {
            "type": "scatter",
            "mode": "markers+text",
            "name": names[e.portfolio_id],
            "x": [e.time_to_answer_ms_p95],
            "y": [e.monthly_cost_usd],
            "text": [names[e.portfolio_id]],
            "textposition": "top center",
            "marker": {
                "size": 16 if e.portfolio_id in pareto else 10,
                "symbol": "star" if e.portfolio_id in pareto else "circle",
            },
            "hovertemplate": "time to answer p95 %{x:.0f} ms<br>$%{y:,.0f}/month<extra></extra>",
        }
        for e in pts
    ]
    return {
        "data": data,
        "layout": {
            **LAYOUT,
            "height": 380,
            "title": {"text": "Monthly cost vs time to answer p95 (stars: Pareto-efficient)"},
            "xaxis": {
                "title": {"text": "Time to answer p95: to the first answer token (ms)"},
                "rangemode": "tozero",
            },
            "yaxis": {"title": {"text": "USD per month"}, "rangemode": "tozero"},
            "shapes": [
                {
                    "type": "line",
                    "xref": "x",
                    "yref": "paper",
                    "x0": ttft_slo_ms,
                    "x1": ttft_slo_ms,
                    "y0": 0,
                    "y1": 1,
                    "line": {"color": "#b91c1c", "dash": "dash"},
                },
                {
                    "type": "line",
                    "xref": "paper",
                    "yref": "y",
                    "x0": 0,
                    "x1": 1,
                    "y0": monthly_budget_usd,
                    "y1": monthly_budget_usd,
                    "line": {"color": "#b45309", "dash": "dot"},
                },
            ],
            "annotations": [
                {
                    "x": ttft_slo_ms,
                    "y": 1,
                    "xref": "x",
                    "yref": "paper",
                    "text": "TTFT SLO",
                    "showarrow": False,
                    "yanchor": "bottom",
                },
                {
                    "x": 1,
                    "y": monthly_budget_usd,
                    "xref": "paper",
                    "yref": "y",
                    "text": "monthly budget",
                    "showarrow": False,
                    "xanchor": "right",
                    "yanchor": "bottom",
                },
            ],
        },
    }


@figure
def search_frontier(
    points: Sequence[ParetoPointOut], best: int | None, monthly_budget_usd: float | None
) -> dict[str, Any]:
    """The search's Pareto points: coverage against monthly cost, feasible points filled,
    infeasible ones open, the recommended one starred; the monthly budget as a line."""

    def trace(name: str, idx: list[int], symbol: str, size: int) -> dict[str, Any]:
        return {
            "type": "scatter",
            "mode": "markers",
            "name": name,
            "x": [points[i].monthly_cost_usd for i in idx],
            "y": [points[i].coverage for i in idx],
            "text": [
                f"#{i + 1}: " + (" + ".join(it.technique for it in points[i].items) or "as is")
                for i in idx
            ],
            "marker": {"symbol": symbol, "size": size},
            "hovertemplate": "%{text}<br>$%{x:,.0f}/month<br>coverage %{y:.0%}<extra></extra>",
        }

    priced = [i for i, p in enumerate(points) if p.monthly_cost_usd is not None]
    data = [
        trace("feasible", [i for i in priced if points[i].feasible and i != best], "circle", 10),
        trace(
            "outside the constraints",
            [i for i in priced if not points[i].feasible],
            "circle-open",
            10,
        ),
    ]
    if best is not None and best in priced:
        data.append(trace("recommended", [best], "star", 18))
    shapes, notes = [], []
    if monthly_budget_usd is not None:
        shapes.append(
            {
                "type": "line",
                "xref": "x",
                "yref": "paper",
                "x0": monthly_budget_usd,
                "x1": monthly_budget_usd,
                "y0": 0,
                "y1": 1,
                "line": {"color": "#b45309", "dash": "dot"},
            }
        )
        notes.append(
            {
                "x": monthly_budget_usd,
                "y": 1,
                "xref": "x",
                "yref": "paper",
                "text": "monthly budget",
                "showarrow": False,
                "yanchor": "bottom",
            }
        )
    return {
        "data": data,
        "layout": {
            **LAYOUT,
            "height": 380,
            "title": {"text": "Pareto frontier: coverage vs monthly cost"},
            "xaxis": {"title": {"text": "USD per month"}, "rangemode": "tozero"},
            "yaxis": {
                "title": {"text": "coverage of the failure modes (weighted)"},
                "range": [0, 1.05],
                "tickformat": ".0%",
            },
            "shapes": shapes,
            "annotations": notes,
        },
    }
