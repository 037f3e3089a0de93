"""The ISO/IEC 42001 statement of applicability of a deployment (issue 21, item 1): versions,
control edits with history, evidence (links, files with their SHA-256), submission and decisions
with segregation of duties, approvals bound to the content's SHA-256 and voided by a later edit.
Rules: :mod:`app.governance.soa_rules`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from app import frameworks
from app.audit import service as audit
from app.auth.context import Caller
from app.db import utcnow
from app.deployments import service as deployments
from app.errors import Conflict, Forbidden, InvalidInput, NotFound
from app.governance import soa_rules, workflow
from app.governance.models import Decision, SoaEvidenceFile, SoaHistory, SoaVersion
from app.governance.repository import GovernanceRepository
from app.governance.schemas import DecisionIn

TARGET = "soa"


# ---- reading -------------------------------------------------------------------------------
def get(session: Session, caller: Caller, soa_id: int) -> SoaVersion:
    s = GovernanceRepository(session, caller.org_id).soa(soa_id)
    if s is None:
        raise NotFound(f"statement of applicability {soa_id} not found")
    return s


def versions(session: Session, caller: Caller, deployment_id: int) -> Sequence[SoaVersion]:
    deployments.get(session, caller, deployment_id)
    return GovernanceRepository(session, caller.org_id).soa_versions(deployment_id)


def latest(session: Session, org_id: int, deployment_id: int) -> SoaVersion | None:
    return GovernanceRepository(session, org_id).latest_soa(deployment_id)


def content(s: SoaVersion) -> dict[str, Any]:
    return {
        "type": TARGET,
        "id": s.id,
        "deployment_id": s.deployment_id,
        "version": s.version,
        "controls": s.controls,
    }


def contributors(s: SoaVersion) -> list[str]:
    return list(dict.fromkeys([s.created_by, *(s.contributors or [])]))


def decisions_of(session: Session, org_id: int, soa_id: int) -> list[Decision]:
    return workflow.decisions_by_target(session, org_id, TARGET, [soa_id])[soa_id]


def status(session: Session, s: SoaVersion, decided: Sequence[Decision] | None = None) -> str:
    newest = latest(session, s.org_id, s.deployment_id)
    if newest is not None and newest.id != s.id:
        return "superseded"
    d = workflow.in_force(decided if decided is not None else decisions_of(session, s.org_id, s.id))
    if d is not None and d.content_sha256 == workflow.content_sha256(content(s)):
        return d.decision
    return "submitted" if s.submitted_at is not None else "draft"


def summary(s: SoaVersion) -> dict[str, Any]:
    rows = s.controls
    return {
        "controls": len(rows),
        "applicable": sum(1 for r in rows if r["applicable"]),
        "excluded": sum(1 for r in rows if not r["applicable"]),
        **{
            st: sum(1 for r in rows if r["applicable"] and r["status"] == st)
            for st in soa_rules.STATUSES
        },
    }


def out(session: Session, s: SoaVersion) -> dict[str, Any]:
    decided = decisions_of(session, s.org_id, s.id)
    return {
        "id": s.id,
        "deployment_id": s.deployment_id,
        "version": s.version,
        "status": status(session, s, decided),
        "content_sha256": workflow.content_sha256(content(s)),
        "created_by": s.created_by,
        "created_at": s.created_at,
        "updated_at": s.updated_at,
        "contributors": contributors(s),
        "submitted_by": s.submitted_by,
        "submitted_at": s.submitted_at,
        "summary": summary(s),
        "controls": s.controls,
        "non_excludable": soa_rules.NON_EXCLUDABLE,
        "decisions": [_decision_out(d) for d in decided],
    }


def _decision_out(d: Decision) -> dict[str, Any]:
    return {
        "id": d.id,
        "decision": d.decision,
        "comment": d.comment,
        "conditions": list(d.conditions),
        "decided_by": d.decided_by,
        "decided_at": d.created_at,
        "content_sha256": d.content_sha256,
        "voided_at": d.voided_at,
        "voided_by": d.voided_by,
        "void_reason": d.void_reason,
    }


def history(
    session: Session, caller: Caller, soa_id: int, control: str | None = None
) -> Sequence[SoaHistory]:
    get(session, caller, soa_id)
    return GovernanceRepository(session, caller.org_id).soa_history(soa_id, control)


def evidence_file(session: Session, caller: Caller, file_id: int) -> SoaEvidenceFile:
    f = GovernanceRepository(session, caller.org_id).evidence_file(file_id)
    if f is None:
        raise NotFound(f"evidence file {file_id} not found")
    return f


# ---- the default statement -----------------------------------------------------------------
def default_rows(mapped: list[frameworks.Entry]) -> list[dict[str, Any]]:
    """Every Annex A control, applicable; the risk picture's rationale where it brings one in."""
    by_id = {e.id: e for e in mapped}
    return [
        soa_rules.default_row(cid, title, list(by_id[cid].rationale) if cid in by_id else [])
        for cid, title in frameworks.catalogue()["iso_42001"].items()
    ]


# ---- writing -------------------------------------------------------------------------------
def _touch(session: Session, caller: Caller, s: SoaVersion, *, audit_key: bytes, why: str) -> None:
    """After an edit: the editor is a contributor; approvals on other content are voided (and
    the version returns to draft)."""
    if caller.email not in contributors(s):
        s.contributors = [*(s.contributors or []), caller.email]
    s.updated_at = utcnow()
    session.flush()
    voided = workflow.void_stale(
        session,
        caller,
        TARGET,
        s.id,
        workflow.content_sha256(content(s)),
        reason=why,
        audit_key=audit_key,
    )
    if voided or s.submitted_at is not None:
        s.submitted_at, s.submitted_by = None, None
        session.flush()


def _editable(session: Session, caller: Caller, soa_id: int) -> SoaVersion:
    s = get(session, caller, soa_id)
    deployments.require_active(deployments.get(session, caller, s.deployment_id))
    newest = latest(session, caller.org_id, s.deployment_id)
    if newest is not None and newest.id != s.id:
        raise Conflict(
            f"version {s.version} was superseded by version {newest.version}; edit the latest one",
            field="soa_id",
        )
    return s


def create_version(
    session: Session, caller: Caller, deployment_id: int, *, audit_key: bytes
) -> SoaVersion:
    """A new version: a copy of the latest (controls the risk picture now brings in get its
    rationale), or, the first time, every control applicable and planned."""
    from app.governance import service  # the risk picture (service imports this module)

    dep = deployments.get(session, caller, deployment_id)
    deployments.require_active(dep)
    mapped = service.mapped_entries(session, caller, dep.id)["iso_42001"]
    fresh = {r["control"]: r for r in default_rows(mapped)}
    prev = latest(session, caller.org_id, dep.id)
    if prev is None:
        rows = list(fresh.values())
    else:
        rows = [
            {**r, "brought_in_by": fresh[r["control"]]["brought_in_by"]}
            for r in prev.controls
            if r["control"] in fresh
        ]
    n = GovernanceRepository(session, caller.org_id).highest_soa_version(dep.id) + 1
    s = SoaVersion(
        org_id=caller.org_id,
        deployment_id=dep.id,
        version=n,
        controls=rows,
        created_by=caller.email,
        contributors=[],
    )
    session.add(s)
    session.flush()
    audit.record(
        session,
        audit_key,
        actor=caller.actor,
        action="soa.create",
        entity_type=TARGET,
        entity_id=s.id,
        after={
            "deployment_id": dep.id,
            "version": n,
            "copied_from": None if prev is None else prev.id,
            "content_sha256": workflow.content_sha256(content(s)),
        },
    )
    return s


def _row(s: SoaVersion, control: str) -> tuple[int, dict[str, Any]]:
    for i, r in enumerate(s.controls):
        if r["control"] == control:
            return i, r
    raise NotFound(f"control {control} is not an ISO/IEC 42001 Annex A control")


def _replace(
    session: Session,
    caller: Caller,
    s: SoaVersion,
    i: int,
    before: dict[str, Any],
    after: dict[str, Any],
    action: str,
    *,
    audit_key: bytes,
) -> None:
    rows = list(s.controls)
    rows[i] = after
    s.controls = rows
    session.add(
        SoaHistory(
            org_id=caller.org_id,
            soa_id=s.id,
            control=before["control"],
            action=action,
            changed_by=caller.email,
            before=before,
            after=after,
        )
    )
    session.flush()
    audit.record(
        session,
        audit_key,
        actor=caller.actor,
        action=f"soa.{action}",
        entity_type=TARGET,
        entity_id=s.id,
        before=before,
        after=after,
    )
    _touch(
        session,
        caller,
        s,
        audit_key=audit_key,
        why=f"control {before['control']} changed ({action})",
    )


def edit_control(
    session: Session,
    caller: Caller,
    soa_id: int,
    control: str,
    edit: soa_rules.ControlEdit,
    *,
    audit_key: bytes,
) -> SoaVersion:
    s = _editable(session, caller, soa_id)
    i, row = _row(s, control)
    new = soa_rules.apply_edit(row, edit)
    if new != row:
        _replace(session, caller, s, i, row, new, "edit", audit_key=audit_key)
    return s


def _add_evidence(
    session: Session,
    caller: Caller,
    s: SoaVersion,
    control: str,
    entry: dict[str, Any],
    *,
    audit_key: bytes,
) -> None:
    i, row = _row(s, control)
    if not row["applicable"]:
        raise InvalidInput(
            f"{control} is excluded: evidence goes on applicable controls", field="control"
        )
    if len(row["evidence"]) >= soa_rules.MAX_EVIDENCE:
        raise InvalidInput(
            f"at most {soa_rules.MAX_EVIDENCE} evidence items per control", field="evidence"
        )
    entry = {**entry, "added_by": caller.email, "added_at": utcnow().isoformat()}
    _replace(
        session,
        caller,
        s,
        i,
        row,
        {**row, "evidence": [*row["evidence"], entry]},
        "evidence",
        audit_key=audit_key,
    )


def add_link(
    session: Session,
    caller: Caller,
    soa_id: int,
    control: str,
    url: str,
    title: str,
    *,
    audit_key: bytes,
) -> SoaVersion:
    s = _editable(session, caller, soa_id)
    url = soa_rules.check_link(url)
    _add_evidence(
        session,
        caller,
        s,
        control,
        {"kind": "link", "url": url, "title": title.strip()[:200]},
        audit_key=audit_key,
    )
    return s


def add_file(
    session: Session,
    caller: Caller,
    soa_id: int,
    control: str,
    filename: str,
    content_type: str,
    data: bytes,
    *,
    audit_key: bytes,
) -> SoaVersion:
    s = _editable(session, caller, soa_id)
    _row(s, control)
    name = (filename or "evidence").replace("\\", "/").rsplit("/", 1)[-1][:200] or "evidence"
    sha = soa_rules.check_file(name, content_type, data)
    f = SoaEvidenceFile(
        org_id=caller.org_id,
        soa_id=s.id,
        control=control,
        filename=name,
        content_type=content_type.split(";")[0].strip().lower(),
        size=len(data),
        sha256=sha,
        data=data,
        uploaded_by=caller.email,
    )
    session.add(f)
    session.flush()
    _add_evidence(
        session,
        caller,
        s,
        control,
        {
            "kind": "file",
            "file_id": f.id,
            "filename": name,
            "sha256": sha,
            "size": len(data),
            "content_type": f.content_type,
        },
        audit_key=audit_key,
    )
    return s


def submit(session: Session, caller: Caller, soa_id: int, *, audit_key: bytes) -> SoaVersion:
    s = _editable(session, caller, soa_id)
    st = status(session, s)
    if st != "draft":
        raise Conflict(f"version {s.version} is {st}, not a draft", field="soa_id")
    s.submitted_at, s.submitted_by = utcnow(), caller.email
    if caller.email not in contributors(s):
        s.contributors = [*(s.contributors or []), caller.email]
    session.flush()
    audit.record(
        session,
        audit_key,
        actor=caller.actor,
        action="soa.submit",
        entity_type=TARGET,
        entity_id=s.id,
        after={"version": s.version, "content_sha256": workflow.content_sha256(content(s))},
    )
    return s


def decide(
    session: Session, caller: Caller, soa_id: int, data: DecisionIn, *, audit_key: bytes
) -> Decision:
    s = get(session, caller, soa_id)
    who = contributors(s)
    if caller.email in who:
        what = "created this version" if caller.email == s.created_by else "edited or submitted it"
        raise Forbidden(
            f"segregation of duties: you {what}; someone who did not contribute to "
            "this statement of applicability must decide on it"
        )
    deployments.require_active(deployments.get(session, caller, s.deployment_id))
    if data.adopted or data.override_reason:
        raise InvalidInput(
            "a statement of applicability is decided as a whole; edit its controls to change it",
            field="adopted",
        )
    st = status(session, s)
    if st == "superseded":
        raise Conflict(
            f"version {s.version} was superseded by a newer version; decide on the latest one",
            field="soa_id",
        )
    d = Decision(
        org_id=caller.org_id,
        deployment_id=s.deployment_id,
        target_type=TARGET,
        target_id=s.id,
        decision=data.decision,
        comment=data.comment,
        conditions=list(data.conditions),
        adopted=[],
        override_reason=None,
        decided_by=caller.email,
        content_sha256=workflow.content_sha256(content(s)),
    )
    session.add(d)
    session.flush()
    audit.record(
        session,
        audit_key,
        actor=caller.actor,
        action="decision.record",
        entity_type=TARGET,
        entity_id=s.id,
        after={"decision_id": d.id, **d.audit_dict()},
    )
    workflow.notify(
        session,
        caller.org_id,
        who,
        kind="decision",
        message=f"Statement of applicability v{s.version} was {d.decision} by "
        f"{caller.email}: {d.comment}",
        link=f"/deployments/{s.deployment_id}/soa?version={s.version}",
    )
    return d


# ---- in the risk picture and the report ----------------------------------------------------
def picture_rows(
    session: Session, org_id: int, deployment_id: int, mapped: list[frameworks.Entry]
) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """The latest version's rows for readers (evidence as labels), or the default statement
    when none was written yet (``None`` as version)."""
    s = latest(session, org_id, deployment_id)
    if s is None:
        rows = default_rows(mapped)
        meta = None
    else:
        rows = s.controls
        meta = {
            "id": s.id,
            "version": s.version,
            "status": status(session, s),
            "content_sha256": workflow.content_sha256(content(s)),
            "summary": summary(s),
        }
    return meta, [
        {
            "control": r["control"],
            "title": r["title"],
            "applicable": r["applicable"],
            "basis": r.get("basis"),
            "reference": r.get("reference"),
            "justification": r["justification"],
            "status": r["status"] if r["applicable"] else "excluded",
            "owner": r.get("owner"),
            "evidence": [soa_rules.evidence_label(e) for e in r["evidence"]],
        }
        for r in rows
    ]
