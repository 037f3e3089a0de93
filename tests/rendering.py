"""What a page handler rendered: the template, the htmx block, the status and the context (the
``rendered`` fixture in conftest.py collects them), so page tests assert what the page was given,
not only substrings of its HTML."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Rendered:
    """One template render of a page handler: which template, which htmx block (None: the whole
    page), the status and the context it was given."""

    template: str
    block: str | None
    status_code: int
    context: Mapping[str, Any]


class Renders(list[Rendered]):
    """The renders of a test, in order."""

    def last(self, template: str | None = None) -> Rendered:
        """The latest render (of ``template`` when named); fails when there is none."""
        found = [r for r in self if template is None or r.template == template]
        assert found, f"no render of {template or 'any template'}; rendered: {self.names()}"
        return found[-1]

    def names(self) -> list[str]:
        return [r.template for r in self]
