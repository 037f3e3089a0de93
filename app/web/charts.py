"""User text in Plotly figures is text.

Plotly draws a subset of HTML in every label it renders (trace names and the legend, ``text``,
category ticks, hover labels, titles, annotations): ``<a href=...>`` becomes a live link, ``<b>``
bold, ``<br>`` a line break. A segment, portfolio or deployment name must be shown as typed, so
every chart builder (``app/*/charts.py``) is wrapped in :func:`figure`, which escapes ``&``, ``<``
and ``>`` in every string of the figure; Plotly turns the entities back into the characters when it
draws them, as text. Strings the code itself writes carry no markup, so escaping them changes
nothing, with one exception: hover and text *templates* (``hovertemplate``, ``texttemplate``) are
written by the code with ``<br>`` and ``<extra>`` and are left as they are. User text never goes
into a template; templates show it through ``%{x}``, ``%{text}`` or ``%{fullData.name}``, whose
values are escaped like the rest.

``tests/web/test_hostile_input.py`` checks that every public builder in ``app/*/charts.py`` is
wrapped.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, ParamSpec

from app.formatting import chart_number_format

P = ParamSpec("P")

# Keys whose string values are Plotly templates written by the code (markup intended).
TEMPLATE_KEYS = frozenset({"hovertemplate", "texttemplate", "hovertemplatefallback"})


class Figure(dict[str, Any]):
    """A figure spec whose text has been escaped (so it is never escaped twice)."""


def escape(text: str) -> str:
    """``text`` as Plotly should show it: literally, markup characters included."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _escaped(value: Any, key: str | None = None) -> Any:
    if isinstance(value, str):
        return value if key in TEMPLATE_KEYS else escape(value)
    if isinstance(value, Mapping):
        return {k: _escaped(v, k) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_escaped(v, key) for v in value]
    return value


def _polar(fig: Mapping[str, Any]) -> bool:
    """A figure without cartesian axes (radar, pie): no axis to format."""
    data = fig.get("data") or []
    return bool(data) and all(
        isinstance(t, Mapping) and t.get("type") in ("scatterpolar", "barpolar", "pie")
        for t in data
    )


def figure(builder: Callable[P, dict[str, Any]]) -> Callable[P, Figure]:
    """Wrap a chart builder: every string of the figure it returns is escaped."""

    @functools.wraps(builder)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> Figure:
        fig = builder(*args, **kwargs)
        if isinstance(fig, Figure):
            return fig
        out = Figure(_escaped(fig))
        if isinstance(out.get("layout"), dict) and not _polar(out):
            out["layout"] = chart_number_format(out["layout"])  # one number format (issue 22)
        return out

    wrapper.plain_text = True  # type: ignore[attr-defined]
    return wrapper
