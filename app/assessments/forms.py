"""The questionnaire form: HTML field names to the API's assessment shape, and errors back.

Field names: ``fm.<failure_mode>.severity`` (0-4), ``.share`` (percent of traffic),
``.segments`` (repeated), and the follow-ups (``.labelled_data``, ``.distribution``,
``.corpus_tokens``, ``.cross_document``, ``.control_need``); top level ``observed_ttft_ms``,
``observed_tpot_ms``, ``observed_monthly_cost_usd``, ``governance_capacity``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from app.assessments.schemas import AssessmentIn
from app.assessments.service import SERVING_FIELDS
from app.rules.questionnaire import FOLLOW_UPS
from app.web.forms import as_list, plain_message

_BOOL = {"yes": True, "no": False, "true": True, "false": False, "on": True}


def _text(form: dict[str, Any], name: str) -> str:
    v = form.get(name)
    if isinstance(v, list):
        v = v[-1] if v else ""
    return str(v or "").strip()


def severity_of(form: dict[str, Any], key: str) -> int:
    raw = _text(form, f"fm.{key}.severity")
    return int(raw) if raw.isdigit() else 0


def to_payload(
    form: dict[str, Any], failure_modes: Sequence[str]
) -> tuple[dict[str, Any], dict[str, str]]:
    """The API payload, plus errors for values that are not even numbers (named by form field)."""
    errors: dict[str, str] = {}
    answers = []
    for key in failure_modes:
        p = f"fm.{key}"
        raw_sev = _text(form, f"{p}.severity") or "0"
        answer: dict[str, Any] = {"failure_mode": key, "severity": raw_sev}
        share = _text(form, f"{p}.share")
        if share:
            try:
                answer["traffic_share"] = float(share) / 100.0
            except ValueError:
                errors[f"{p}.share"] = "enter a percentage between 0 and 100"
        answer["segments"] = as_list(form.get(f"{p}.segments"))
        for fu in FOLLOW_UPS.get(key, ()):
            raw = _text(form, f"{p}.{fu.name}")
            if not raw:
                continue
            if fu.kind == "bool":
                answer[fu.name] = _BOOL.get(raw.lower(), raw)
            elif fu.kind == "number":
                try:
                    answer[fu.name] = float(raw.replace(",", "").replace("_", ""))
                except ValueError:
                    errors[f"{p}.{fu.name}"] = "enter a number"
            else:
                answer[fu.name] = raw
        if raw_sev.isdigit() and int(raw_sev) == 0:
            # follow-ups of a failure mode that does not occur are not part of the answer
            answer = {"failure_mode": key, "severity": 0}
        answers.append(answer)
    payload: dict[str, Any] = {"answers": answers}
    for name in SERVING_FIELDS:
        raw = _text(form, name)
        if raw:
            payload[name] = raw
    return payload, errors


def form_field(loc: Sequence[Any] | str, failure_modes: Sequence[str]) -> str:
    """A validation location (``("answers", 2, "severity")`` or ``"answers[2].segments"``) as
    the form field it came from."""
    if isinstance(loc, str):
        m = re.fullmatch(r"answers\[(\d+)\]\.(\w+)", loc)
        loc = ("answers", int(m.group(1)), m.group(2)) if m else (loc,)
    if len(loc) >= 3 and loc[0] == "answers" and isinstance(loc[1], int):
        name = {"traffic_share": "share"}.get(str(loc[2]), str(loc[2]))
        return f"fm.{failure_modes[loc[1]]}.{name}"
    return str(loc[0]) if loc else "__all__"


def parse(
    form: dict[str, Any], failure_modes: Sequence[str]
) -> tuple[AssessmentIn | None, dict[str, str]]:
    payload, errors = to_payload(form, failure_modes)
    try:
        data = AssessmentIn.model_validate(payload)
    except ValidationError as exc:
        for e in exc.errors():
            msg = plain_message(e)
            name = form_field(tuple(e.get("loc", ())), failure_modes)
            if name.endswith(".share"):
                msg = "enter a percentage between 0 and 100"
            errors.setdefault(name, msg)
        return None, errors
    return (None, errors) if errors else (data, {})
