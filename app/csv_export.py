"""Every CSV the app writes is written here, so no cell can run as a spreadsheet formula.

CSV injection (OWASP, "CSV Injection"): a spreadsheet opening a CSV runs a cell that begins with
``=``, ``+``, ``-``, ``@``, a tab or a carriage return as a formula (``=HYPERLINK(...)``,
``=cmd|' /C calc'!A0``). Such a text cell is written with a leading apostrophe, which spreadsheets
show as text and do not display; cells that begin with white space before one of those characters,
and the full-width forms some spreadsheets also accept, are treated the same way. Numbers and
booleans are written as they are (``-3.5`` is a number, not a formula). The csv module quotes every
cell holding a separator, a quote or a line break, so a cell cannot spill into the next one.

``tests/web/test_hostile_input.py`` fails if a module under ``app/`` writes CSV without this module.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence

FORMULA_START = frozenset("=+-@\t\r＝＋－＠")


def safe_cell(value: object) -> str:
    """The text of one cell, neutralised if a spreadsheet would read it as a formula."""
    if value is None:
        return ""
    if isinstance(value, bool | int | float):
        return str(value)
    text = str(value)
    head = text.lstrip(" \n")[:1]
    if text[:1] in FORMULA_START or (head and head in FORMULA_START):
        return "'" + text
    return text


def write_rows(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A CSV document: ``header`` then ``rows``, every cell through :func:`safe_cell`."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow([safe_cell(h) for h in header])
    writer.writerows([safe_cell(v) for v in row] for row in rows)
    return buf.getvalue()


def write_dicts(fieldnames: Sequence[str], rows: Iterable[Mapping[str, object]]) -> str:
    """A CSV document of ``rows`` (missing keys written empty), columns ``fieldnames``."""
    return write_rows(fieldnames, ([row.get(f) for f in fieldnames] for row in rows))
