"""How the HTML/PDF audit report writes values for a reader (issue 21, item 5): "not set" instead of
None, yes/no instead of True/False, numbers with units and sensible rounding (never more than
three decimals), human dates, and names instead of catalog keys. The JSON report keeps the raw
values; only the document changes."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Any

from app import formatting
from app.rules.questionnaire import FOLLOW_UPS

NOT_SET = "not set"


def _finite(v: Any) -> float | None:
    if v is None or isinstance(v, bool):
        return None
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def num(v: Any, unit: str = "") -> str:
    """Rounded by magnitude: 12,345 · 123 · 12.3 · 1.23 · 0.123; very large or tiny values in
    scientific notation (1.5 × 10¹³); None (or not a number) is "not set". The one number format
    of the app (:func:`app.formatting.number`)."""
    x = _finite(v)
    if x is None:
        return NOT_SET if v is None or isinstance(v, float) else text(v)
    return formatting.number(x, unit)


def signed(v: Any, unit: str = "") -> str:
    x = _finite(v)
    if x is None:
        return NOT_SET
    if x == 0:
        return num(0, unit)
    return ("+" if x > 0 else "−") + num(abs(x), unit)


def money(v: Any) -> str:
    x = _finite(v)
    return NOT_SET if x is None else formatting.money(x)


def signed_money(v: Any) -> str:
    x = _finite(v)
    if x is None:
        return NOT_SET
    if x == 0:
        return "$0"
    return ("+" if x > 0 else "") + money(x)


def pct(v: Any) -> str:
    """A share in [0, 1] as a percentage."""
    x = _finite(v)
    return NOT_SET if x is None else f"{formatting.pct(x)}"


def yesno(v: Any) -> str:
    if v is None:
        return NOT_SET
    return "yes" if v else "no"


def date(v: Any) -> str:
    """An ISO timestamp (or datetime) as "30 Nov 2026, 12:54 UTC"."""
    if v is None or v == "":
        return NOT_SET
    ts = v if isinstance(v, datetime) else None
    if ts is None:
        try:
            ts = datetime.fromisoformat(str(v))
        except ValueError:
            return str(v)
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return ts.astimezone(UTC).strftime("%-d %b %Y, %H:%M UTC")


def day(v: Any) -> str:
    """An ISO date (or timestamp) as "2 Aug 2026"."""
    if v is None or v == "":
        return NOT_SET
    try:
        d = datetime.fromisoformat(str(v))
    except ValueError:
        return str(v)
    return d.strftime("%-d %b %Y")


def humanise(key: Any) -> str:
    """A key without a known name, readable: ``regulated_sector`` -> ``regulated sector``."""
    return NOT_SET if key is None else str(key).replace("_", " ")


def name(glossary: dict[str, dict[str, str]], kind: str, key: Any) -> str:
    """The catalog name of a key (kind: axes, techniques, failure_modes, models, gpus)."""
    if key is None:
        return NOT_SET
    return glossary.get(kind, {}).get(str(key)) or humanise(key)


def item(glossary: dict[str, dict[str, str]], key: Any) -> str:
    """``axis/technique`` as "Technique (Axis)"."""
    axis, _, tech = str(key).partition("/")
    if not tech:
        return name(glossary, "techniques", axis)
    return f"{name(glossary, 'techniques', tech)} ({name(glossary, 'axes', axis)})"


def text(v: Any) -> str:
    """Any value for a reader: None, booleans, numbers, lists."""
    if v is None:
        return NOT_SET
    if isinstance(v, bool):
        return yesno(v)
    if isinstance(v, int | float):
        x = _finite(v)
        if x is not None and x.is_integer() and abs(x) < formatting.SCIENTIFIC_FROM:
            return f"{int(x):,}"  # a count: "Replicas 1", "governance burden 5", not 1.00
        return num(v)
    if isinstance(v, list | tuple):
        return ", ".join(text(x) for x in v) or "none"
    return str(v)


def named(glossary: dict[str, dict[str, str]], value: Any) -> str:
    """Free text built from keys (mapping rationales "axis: why", justifications, findings) with
    every known catalog key replaced by its name."""
    out = str(value)
    for kind in ("axes", "techniques", "failure_modes", "models", "gpus"):
        for key, label in sorted(glossary.get(kind, {}).items(), key=lambda kv: -len(kv[0])):
            if "_" in key:  # one-word keys are words already ("retrieval", "rag")
                out = re.sub(rf"\b{re.escape(key)}\b", label, out)
    return out


_CHOICES = {f.name: dict(f.choices) for fs in FOLLOW_UPS.values() for f in fs if f.choices}


def follow_up(key: Any, value: Any) -> str:
    """One follow-up answer for a reader: ``control need: Simplicity and cost`` (the option's
    label, not ``simplicity_cost``), ``corpus tokens: 40M``, ``labelled data: no``; an
    unanswered one is "not answered"."""
    k = str(key)
    if value is None or value == "":
        shown = "not answered"
    elif isinstance(value, bool):
        shown = yesno(value)
    elif isinstance(value, int | float):
        shown = formatting.compact(value)
    else:
        shown = _CHOICES.get(k, {}).get(str(value)) or humanise(value)
    return f"{humanise(k)}: {shown}"


def impact(i: dict[str, Any]) -> str:
    """A recommendation item's impact: the changes it makes ("monthly cost (GPU-hours needed)
    +$736; TTFT +340 ms": the cost basis named, as section 6 names its provisioned bill),
    "no change to cost or latency" when it changes neither (not "$0; TTFT 0 ms"), then the
    one-off cost and the governance burden."""
    parts = []
    cost, ttft, tpot = (
        _finite(i.get(k)) for k in ("monthly_cost_delta_usd", "ttft_delta_ms", "tpot_delta_ms")
    )
    if cost != 0:
        parts.append(f"monthly cost (GPU-hours needed) {signed_money(cost)}")
    if ttft != 0:
        parts.append(f"TTFT {signed(ttft, 'ms')}")
    if tpot != 0:
        parts.append(f"TPOT {signed(tpot, 'ms')}")
    if not parts:
        parts.append("no change to cost or latency")
    one_off = _finite(i.get("one_off_cost_usd"))
    if one_off:
        parts.append(f"one-off {money(one_off)}")
    parts.append(f"governance burden {text(i.get('governance_burden'))}")
    return "; ".join(parts)
