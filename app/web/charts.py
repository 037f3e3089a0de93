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

``tests/test_hostile_input.py`` checks that every public builder in ``app/*/charts.py`` is wrapped.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, ParamSpec

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


def figure(builder: Callable[P, dict[str, Any]]) -> Callable[P, Figure]:
    """Wrap a chart builder: every string of the figure it returns is escaped."""

    @functools.wraps(builder)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> Figure:
        fig = builder(*args, **kwargs)
        return fig if isinstance(fig, Figure) else Figure(_escaped(fig))

    wrapper.plain_text = True  # type: ignore[attr-defined]
    return wrapper
