"""Published quality figures of catalog models and "better on the failure's task family" (pure).

The figures come from ``app/catalog/data/model_quality.csv`` (a copy of the reference
``model_quality.csv`` rows for the catalog models: value, setting, source URL and where in the
source). Rows the reference marks ``[unverified]`` or ``superseded`` are left out when read.

Sources often disagree on the same model and benchmark (harness, prompt, subset), so two models
are compared on one benchmark with the best-matched pair of figures: the same source and the same
kind of checkpoint (base, instruct, reasoning) first, then the same kind, then any pair (said so in
the comparison's note); a benchmark with same-kind figures for both is used before one without.

Task families name the benchmarks that measure them, in order of preference:

* general (the capability floor): MMLU-Pro, MMLU, GPQA, GPQA Diamond, MATH, IFEval;
* knowledge: MMLU-Pro, MMLU, GPQA, GPQA Diamond;
* reasoning: GPQA Diamond, GPQA, MATH, MATH-500, MMLU-Pro;
* math: MATH, MATH-500, GSM8K;
* code: HumanEval, EvalPlus, MBPP, LiveCodeBench;
* instruction following: IFEval, Arena-Hard.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

TASK_FAMILIES: dict[str, tuple[str, ...]] = {
    "general": ("MMLU-Pro", "MMLU", "GPQA", "GPQA Diamond", "MATH", "IFEval"),
    "knowledge": ("MMLU-Pro", "MMLU", "GPQA", "GPQA Diamond"),
    "reasoning": ("GPQA Diamond", "GPQA", "MATH", "MATH-500", "MMLU-Pro"),
    "math": ("MATH", "MATH-500", "GSM8K"),
    "code": ("HumanEval", "EvalPlus", "MBPP", "LiveCodeBench"),
    "instruction_following": ("IFEval", "Arena-Hard"),
}
DEFAULT_FAMILY = "general"

# Benchmarks whose figures depend on a version or window the setting names (LiveCodeBench's date
# window, Arena-Hard's judge): compared only between figures from the same source.
SAME_SOURCE_ONLY = frozenset({"LiveCodeBench", "Arena-Hard", "WildBench", "LMArena Elo"})

# The checkpoint kinds in the order a served deployment prefers them (instruct models are what
# is served; a reasoning mode spends extra tokens; base figures are the fallback).
KINDS = ("instruct", "reasoning", "base")


def kind_of(setting: str) -> str:
    s = setting.strip().lower()
    if s.startswith("base") or s.startswith("pre-trained") or "(pretrained)" in s[:30]:
        return "base"
    if "non-thinking" in s or "non-reasoning" in s:
        return "instruct"
    if s.startswith("reasoning") or "thinking mode" in s or "reasoning effort" in s:
        return "reasoning"
    return "instruct"


@dataclass(frozen=True, slots=True)
class QualityFigure:
    """One published figure: a benchmark score (0-100 unless the benchmark says otherwise)."""

    benchmark: str
    value: float
    setting: str
    source_url: str
    location: str = ""

    @property
    def kind(self) -> str:
        return kind_of(self.setting)

    @property
    def third_party(self) -> bool:
        return "third-party" in self.setting.lower()

    @property
    def source(self) -> str:
        where = f" ({self.location})" if self.location else ""
        return f"{self.source_url}{where}; {self.setting}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "benchmark": self.benchmark,
            "value": self.value,
            "setting": self.setting,
            "source_url": self.source_url,
            "location": self.location,
        }


def usable(setting: str) -> bool:
    s = setting.lower()
    return not any(m in s for m in ("[unverified", "superseded", "primary not read"))


def figures_from_rows(rows: Iterable[Mapping[str, str]]) -> dict[str, tuple[QualityFigure, ...]]:
    """Quality figures per model key from ``model_quality.csv`` rows (unverified ones left out)."""
    out: dict[str, list[QualityFigure]] = {}
    for r in rows:
        if not usable(r["setting"]):
            continue
        out.setdefault(r["key"], []).append(
            QualityFigure(
                r["benchmark"],
                float(r["value"]),
                r["setting"],
                r["source_url"],
                r.get("location", ""),
            )
        )
    return {k: tuple(v) for k, v in out.items()}


def figures_from_dicts(items: Sequence[Mapping[str, Any]] | None) -> tuple[QualityFigure, ...]:
    return tuple(
        QualityFigure(
            str(d["benchmark"]),
            float(d["value"]),
            str(d["setting"]),
            str(d["source_url"]),
            str(d.get("location", "")),
        )
        for d in items or ()
    )


def _rank(f: QualityFigure) -> tuple[int, int]:
    return (KINDS.index(f.kind), 1 if f.third_party else 0)


def headline(figures: Sequence[QualityFigure]) -> dict[str, QualityFigure]:
    """One figure per benchmark for display: the developer's own instruct figure first, then a
    third-party instruct figure, a reasoning-mode figure, a base figure (file order breaks ties)."""
    out: dict[str, QualityFigure] = {}
    for f in figures:
        held = out.get(f.benchmark)
        if held is None or _rank(f) < _rank(held):
            out[f.benchmark] = f
    return out


@dataclass(frozen=True, slots=True)
class Comparison:
    benchmark: str
    before: QualityFigure
    after: QualityFigure
    matched: str  # "same source and setting kind" | "same setting kind" | "settings differ"

    @property
    def gain(self) -> float:
        return self.after.value - self.before.value

    def describe(self, before_name: str, after_name: str) -> str:
        same_src = self.before.source_url == self.after.source_url
        src = (
            f"source {self.after.source_url}"
            if same_src
            else f"sources {self.before.source_url} and {self.after.source_url}"
        )
        return (
            f"{self.benchmark} {self.before.value:g} → {self.after.value:g} "
            f"({before_name} → {after_name}, {self.after.kind} figures"
            f"{'' if self.matched != 'settings differ' else ': settings differ'}; {src})"
        )


def compare(
    current: Sequence[QualityFigure], candidate: Sequence[QualityFigure], family: str
) -> Comparison | None:
    """The first benchmark of ``family`` with figures of the same checkpoint kind for both models
    (else the first with any figures for both), on its best-matched pair; None when the two have
    no benchmark of the family in common."""
    benches = TASK_FAMILIES.get(family, TASK_FAMILIES[DEFAULT_FAMILY])
    for same_kind_only in (True, False):
        for bench in benches:
            found = _best_pair(current, candidate, bench, same_kind_only=same_kind_only)
            if found is not None:
                return found
    return None


def _best_pair(
    current: Sequence[QualityFigure],
    candidate: Sequence[QualityFigure],
    bench: str,
    *,
    same_kind_only: bool,
) -> Comparison | None:
    cur = [f for f in current if f.benchmark == bench]
    cand = [f for f in candidate if f.benchmark == bench]
    best: tuple[tuple[int, ...], Comparison] | None = None
    for a in cur:
        for b in cand:
            same_kind = a.kind == b.kind
            if same_kind_only and not same_kind:
                continue
            if bench in SAME_SOURCE_ONLY and a.source_url != b.source_url:
                continue
            same_src = same_kind and a.source_url == b.source_url
            matched = (
                "same source and setting kind"
                if same_src
                else ("same setting kind" if same_kind else "settings differ")
            )
            key: tuple[int, ...] = (0 if same_src else 1, 0 if same_kind else 1, *_rank(b))
            if best is None or key < best[0]:
                best = (key, Comparison(bench, a, b, matched))
    return None if best is None else best[1]
