"""The rules of a risk-based ISO/IEC 42001 statement of applicability (issue 21, item 1). Pure: no
web or database imports.

Clause 6.1.3 of ISO/IEC 42001:2023 makes every Annex A control a candidate: the organisation
states for each whether it is applicable and justifies any exclusion. Here every control starts
applicable; an exclusion needs a basis (the risk assessment or an external requirement), a
reference naming what it relies on, and a justification. Some controls implement requirements of
the management-system clauses themselves, so no risk assessment can make them inapplicable: they
are refused as exclusions, whatever the basis. A control that the deployment's own risk picture
brings in cannot be excluded "from the risk assessment" (that assessment brings it in): only an
external requirement could.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from app.estimators.errors import FieldError

STATUSES: tuple[str, ...] = ("planned", "implemented", "verified")
BASES: dict[str, str] = {
    "risk_assessment": "the AI risk assessment (clause 6.1.2)",
    "external_requirement": "an external requirement (law, regulation, contract)",
}

# Controls that implement requirements of the clauses themselves (ISO/IEC 42001:2023): an
# organisation that runs an AI management system cannot declare them not applicable.
NON_EXCLUDABLE: dict[str, str] = {
    "A.2.2": "clause 5.2 requires an AI policy",
    "A.3.2": "clause 5.3 requires roles, responsibilities and authorities to be assigned",
    "A.5.2": "clause 6.1.4 requires an AI system impact assessment process",
    "A.5.3": "clause 6.1.4 requires the results of impact assessments to be documented",
    "A.6.2.6": "clauses 8.1 and 9.1 require a system in operation to be operated and monitored",
    "A.6.2.8": "clause 9.1 monitoring and the audit trail rely on the system's event logs",
    "A.8.2": "clause 7.4 communication: users need the system's documentation and information",
}

MIN_JUSTIFICATION = 20
MAX_TEXT = 2000
MAX_EVIDENCE = 50
MAX_FILE_BYTES = 900 * 1024  # per evidence file: under the request body limit (1 MB)

# declared content type -> how the first bytes must look
CONTENT_TYPES: dict[str, str] = {
    "application/pdf": "pdf",
    "image/png": "png",
    "image/jpeg": "jpeg",
    "text/plain": "text",
    "text/csv": "text",
    "text/markdown": "text",
    "application/json": "text",
}
_URL = re.compile(r"^https?://[^\s/$.?#][^\s]*$", re.IGNORECASE)


class SoaRuleError(FieldError):
    def __init__(self, message: str, field: str) -> None:
        super().__init__(message, field=field)


@dataclass(frozen=True)
class ControlEdit:
    """What a user may change on one control (None: leave unchanged)."""

    applicable: bool | None = None
    basis: str | None = None
    reference: str | None = None
    justification: str | None = None
    status: str | None = None
    owner: str | None = None


def default_row(control: str, title: str, brought_in_by: list[str]) -> dict[str, Any]:
    """A control as a new statement starts it: applicable, planned, no owner, no evidence."""
    why = (
        "; ".join(brought_in_by)
        if brought_in_by
        else "applicable by default: no exclusion has been justified (clause 6.1.3)"
    )
    return {
        "control": control,
        "title": title,
        "applicable": True,
        "basis": None,
        "reference": None,
        "justification": why,
        "brought_in_by": list(brought_in_by),
        "status": "planned",
        "owner": None,
        "evidence": [],
    }


def apply_edit(row: dict[str, Any], edit: ControlEdit) -> dict[str, Any]:
    """The row after ``edit``, or :class:`SoaRuleError` naming the field that breaks a rule."""
    new = dict(row)
    for name in ("applicable", "basis", "reference", "justification", "status", "owner"):
        v = getattr(edit, name)
        if v is not None:
            new[name] = v.strip() if isinstance(v, str) else v
    for name in ("reference", "justification", "owner"):
        if isinstance(new.get(name), str) and len(new[name]) > MAX_TEXT:
            raise SoaRuleError(f"at most {MAX_TEXT} characters", name)
    if new["owner"] == "":
        new["owner"] = None
    if new["applicable"]:
        # in scope: an exclusion's basis and reference do not apply
        new["basis"], new["reference"] = None, None
        if edit.applicable is True and not row["applicable"]:
            if edit.justification is None:
                new["justification"] = default_row(
                    row["control"], row["title"], row.get("brought_in_by", [])
                )["justification"]
        if new["status"] not in STATUSES:
            raise SoaRuleError(f"status must be one of {', '.join(STATUSES)}", "status")
        if new["status"] == "verified" and not new["evidence"]:
            raise SoaRuleError(
                "a control is verified only with evidence: add a link or a file first", "status"
            )
        if new["status"] in ("implemented", "verified") and not new["owner"]:
            raise SoaRuleError("an implemented or verified control needs an owner", "owner")
        return new
    # an exclusion
    cid = row["control"]
    if cid in NON_EXCLUDABLE:
        raise SoaRuleError(f"{cid} cannot be excluded: {NON_EXCLUDABLE[cid]}", "applicable")
    if new["basis"] not in BASES:
        raise SoaRuleError(
            "an exclusion needs a basis: the risk assessment or an external requirement", "basis"
        )
    if new["basis"] == "risk_assessment" and row.get("brought_in_by"):
        raise SoaRuleError(
            f"{cid} cannot be excluded on the risk assessment: the deployment's "
            f"risk picture brings it in ({'; '.join(row['brought_in_by'])}); "
            "only an external requirement could exclude it",
            "basis",
        )
    if not new.get("reference") or len(str(new["reference"])) < 3:
        raise SoaRuleError(
            "an exclusion cites what it relies on: the risk-assessment entry or "
            "the external requirement",
            "reference",
        )
    if (edit.justification is None and row["applicable"]) or len(
        str(new.get("justification") or "")
    ) < MIN_JUSTIFICATION:
        raise SoaRuleError(
            f"an exclusion needs a justification of at least {MIN_JUSTIFICATION} characters",
            "justification",
        )
    new["status"] = None
    return new


def check_link(url: str) -> str:
    url = url.strip()
    if len(url) > 1000 or not _URL.match(url):
        raise SoaRuleError("evidence links are http(s) URLs", "url")
    return url


def check_file(filename: str, content_type: str, data: bytes) -> str:
    """The file's SHA-256, or :class:`SoaRuleError` (size, declared type, content not of it)."""
    if not data:
        raise SoaRuleError("the file is empty", "file")
    if len(data) > MAX_FILE_BYTES:
        raise SoaRuleError(f"the file is larger than {MAX_FILE_BYTES // 1024} KiB", "file")
    kind = CONTENT_TYPES.get(content_type.split(";")[0].strip().lower())
    if kind is None:
        raise SoaRuleError(
            f"content type {content_type or 'not given'} is not accepted (PDF, PNG, "
            "JPEG, plain text, CSV, Markdown, JSON)",
            "file",
        )
    ok = {
        "pdf": data.startswith(b"%PDF-"),
        "png": data.startswith(b"\x89PNG\r\n\x1a\n"),
        "jpeg": data.startswith(b"\xff\xd8\xff"),
        "text": _is_text(data),
    }[kind]
    if not ok:
        raise SoaRuleError(
            f"'{filename}' is not {content_type}: its content does not match", "file"
        )
    return hashlib.sha256(data).hexdigest()


def _is_text(data: bytes) -> bool:
    if b"\x00" in data:
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def evidence_label(e: dict[str, Any]) -> str:
    """One evidence entry for a reader (the report, the risk picture)."""
    if e.get("kind") == "file":
        return f"file {e['filename']} (SHA-256 {e['sha256'][:16]}…, {e['size']} bytes)"
    return f"link {e.get('title') or e['url']} <{e['url']}>"
