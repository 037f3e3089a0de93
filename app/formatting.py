"""One way to write numbers for a reader (issue 22, item 11), used by the pages (registered once as
Jinja filters in app/web/templates.py), the chart labels (app/*/charts.py), CSV headers and the
audit report (app/report_format.py).

* :func:`number`: rounded by magnitude to about three significant digits (12,345 · 123 · 12.3 ·
  1.23 · 0.123), thousands separators, scientific notation with a real exponent for very large
  (≥ 10¹⁵) or very small (< 0.001) values: ``15000000000000.0`` -> ``15,000,000,000,000`` would be
  unreadable, so ≥ 10¹² is written ``1.5 × 10¹³``;
* :func:`compact`: a count with a prefix (``15 T``, ``8.03 B``, ``250 k``), for tokens and
  parameters;
* :func:`fixed`: thousands separators and exactly ``digits`` decimals (tables whose columns should
  line up);
* :func:`money`, :func:`ms`, :func:`pct`, :func:`when`.

A value that is missing or not finite is written :data:`MISSING` (the page says why next to it),
never 0. Pure: no web or database imports.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

MISSING = "—"
SCIENTIFIC_FROM = 1e12  # from here on, digits stop being readable: 1.5 × 10¹³
SMALL = 1e-3
_SUPERSCRIPT = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")


def as_float(value: Any) -> float | None:
    """A finite float, or None (None, booleans, NaN, infinities, text that is not a number)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def scientific(x: float, sig: int = 2) -> str:
    """``1.5 × 10¹³``: a mantissa with ``sig`` significant digits and a superscript exponent."""
    if x == 0:
        return "0"
    exp = math.floor(math.log10(abs(x)))
    mant = round(x / 10**exp, sig - 1)
    if abs(mant) >= 10:  # 9.99 rounded up to 10.0
        mant, exp = mant / 10, exp + 1
    m = f"{mant:.{sig - 1}f}".rstrip("0").rstrip(".")
    return f"{m} × 10{str(exp).translate(_SUPERSCRIPT)}"


def _with_unit(text: str, unit: str) -> str:
    return f"{text} {unit}" if unit else text


def number(value: Any, unit: str = "", *, missing: str = MISSING) -> str:
    """About three significant digits, by magnitude; see the module doc."""
    x = as_float(value)
    if x is None:
        return missing if not isinstance(value, str) or value.strip() == "" else value
    a = abs(x)
    if a == 0:
        s = "0"
    elif a >= SCIENTIFIC_FROM or a < SMALL:
        s = scientific(x)
    elif a >= 100:
        s = f"{x:,.0f}"
    elif a >= 10:
        s = f"{x:.1f}"
    elif a >= 1:
        s = f"{x:.2f}"
    else:
        s = f"{x:.3f}".rstrip("0").rstrip(".")
    if s in ("-0", "-0.0"):
        s = "0"
    return _with_unit(s, unit)


def fixed(value: Any, digits: int = 0, *, missing: str = MISSING) -> str:
    """Thousands separators and ``digits`` decimals; past 10¹² scientific. Text that is not a
    number (a form value as typed) is returned as given."""
    if isinstance(value, str):
        x = as_float(value)
        if x is None:
            return value  # shown as typed (Jinja escapes it), the empty string included
        value = x
    x = as_float(value)
    if x is None:
        return missing
    if abs(x) >= SCIENTIFIC_FROM:
        return scientific(x, 3)
    return f"{x:,.{digits}f}"


_PREFIXES = ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k"))


def compact(value: Any, unit: str = "") -> str:
    """A count with a prefix and three significant digits: ``15 T``, ``8.03 B``, ``250 k``;
    past 10¹⁵ scientific (``3.2 × 10²¹ FLOP``). ``unit`` is appended with no space when it is
    a symbol the prefix attaches to (``compact(8e9, "B")`` is not meaningful: give words)."""
    x = as_float(value)
    if x is None:
        return MISSING
    a = abs(x)
    if a >= 1e15:
        s = scientific(x, 3)
    else:
        for factor, prefix in _PREFIXES:
            if a >= factor:
                v = x / factor
                digits = 0 if abs(v) >= 100 else 1 if abs(v) >= 10 else 2
                s = f"{v:.{digits}f}"
                s = (s.rstrip("0").rstrip(".") if "." in s else s) + prefix
                break
        else:
            s = number(x)
    return f"{s}{unit}"


def money(value: Any, digits: int | None = None) -> str:
    """Dollars: whole dollars from $100, cents below (or exactly ``digits`` decimals)."""
    x = as_float(value)
    if x is None:
        return MISSING
    if abs(x) >= SCIENTIFIC_FROM:
        body = scientific(abs(x), 3)
    else:
        d = digits if digits is not None else (0 if abs(x) >= 100 else 2)
        body = f"{abs(x):,.{d}f}"
    return f"−${body}" if x < 0 else f"${body}"


def ms(value: Any) -> str:
    """A latency in milliseconds: ``50.7 ms`` (seconds from 10 s up: ``12.5 s``)."""
    x = as_float(value)
    if x is None:
        return MISSING
    if abs(x) >= 10_000:
        return number(x / 1000, "s")
    return number(x, "ms")


def pct(value: Any, *, share: bool = True) -> str:
    """A share in [0, 1] (or, with ``share=False``, a value already in percent) as ``12.3 %``."""
    x = as_float(value)
    if x is None:
        return MISSING
    return f"{_no_trailing_zeros(number(100 * x if share else x))} %"


def _no_trailing_zeros(shown: str) -> str:
    """``8.00`` → ``8``, ``35.0`` → ``35``, ``0.30`` → ``0.3``: a percentage's significant figures
    without padding, so answered shares (8 %, 35 %, 100 %) read alike."""
    return shown.rstrip("0").rstrip(".") if "." in shown and "e" not in shown else shown


def when(value: Any) -> str:
    """A timestamp (datetime or ISO text) as ``30 Nov 2026, 12:54 UTC``."""
    if value is None or value == "":
        return MISSING
    ts = value if isinstance(value, datetime) else None
    if ts is None:
        try:
            ts = datetime.fromisoformat(str(value))
        except ValueError:
            return str(value)
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return ts.astimezone(UTC).strftime("%-d %b %Y, %H:%M UTC")


# ---- charts: the same rounding in Plotly's hover labels (d3-format) --------------------------
# About three significant digits with thousands separators and no trailing zeros: 50.7, 1,230,
# 0.123 (the d3 counterpart of :func:`number` for the linear axes of every figure).
D3_NUMBER = ",.3~r"


def chart_number_format(layout: dict[str, Any]) -> dict[str, Any]:
    """``layout`` with ``hoverformat`` set to :data:`D3_NUMBER` on every linear cartesian axis
    that has none (hover labels then show ``50.7``, not ``50.712345678901234``). Log and category
    axes keep Plotly's own format (SI prefixes or powers of ten; category names as given)."""
    out = dict(layout)
    for key, axis in layout.items():
        if not (key.startswith(("xaxis", "yaxis")) and isinstance(axis, dict)):
            continue
        if axis.get("type") in ("log", "category", "date") or "hoverformat" in axis:
            continue
        out[key] = {**axis, "hoverformat": D3_NUMBER}
    for key in ("xaxis", "yaxis"):
        if key not in out:
            out[key] = {"hoverformat": D3_NUMBER}
    return out
