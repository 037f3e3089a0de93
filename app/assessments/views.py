"""Pages: the questionnaire (htmx follow-ups, draft save, live preview), the recommendation, and
the rule-set pages (view, edit per rule or as YAML, dry run, publish)."""

from __future__ import annotations

from typing import Annotated, Any

import yaml
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from app.assessments import charts, forms, service, workflow
from app.auth.context import Caller
from app.auth.deps import PageCaller
from app.auth.guards import page_requires
from app.auth.permissions import Permission
from app.db import SessionDep
from app.deployments import service as deployments
from app.deployments.models import Deployment
from app.errors import AppError, Conflict, InvalidInput, NotFound
from app.estimates.service import deployment_serving_plan
from app.estimators.errors import FieldError
from app.rules import safe_yaml
from app.rules.questionnaire import FOLLOW_UPS, SERVING_FAILURE_MODES, SEVERITY_LEVELS
from app.rulesets import service as rulesets
from app.web.deps import IdPath, IdQuery, SettingsDep
from app.web.flash import flash
from app.web.forms import FormDep, form_error
from app.web.htmx import redirect
from app.web.templates import render

router = APIRouter(include_in_schema=False)


# ---- questionnaire -------------------------------------------------------------------------
def _fm_keys(session: SessionDep) -> list[str]:
    return [f.key for f in service.shared_catalog(session).rows]


def _questionnaire(
    session: SessionDep,
    caller: Caller,
    dep: Deployment,
    values: dict[str, Any],
    errors: dict[str, str],
    preview: Any = None,
) -> dict[str, Any]:
    econ = deployment_serving_plan(session, dep)
    return {
        "caller": caller,
        "deployment": dep,
        "failure_modes": service.shared_catalog(session).rows,
        "levels": SEVERITY_LEVELS,
        "follow_ups": FOLLOW_UPS,
        "serving_fms": SERVING_FAILURE_MODES,
        "values": values,
        "errors": errors,
        "severity": {k: forms.severity_of(values, k) for k in _fm_keys(session)},
        "economics": econ,
        "preview": preview,
    }


def _preview(session: SessionDep, dep: Deployment, values: dict[str, Any]) -> dict[str, Any]:
    """The current top three (unpriced, for speed), or the errors that stop one."""
    data, errors = forms.parse(values, _fm_keys(session))
    if data is None:
        return {"errors": errors}
    try:
        service.validate(session, dep, data)
    except (InvalidInput, FieldError) as exc:
        return {"errors": {forms.form_field(exc.field or "", _fm_keys(session)): exc.message}}
    result = service.evaluate(session, dep, data, with_impacts=False).result
    return {"result": result, "items": result.items[: service.PREVIEW_ITEMS]}


@router.get("/deployments/{deployment_id:int}/assessment")
def questionnaire_page(
    deployment_id: IdPath,
    request: Request,
    session: SessionDep,
    caller: Annotated[Caller, Depends(page_requires(Permission.assessment_submit))],
) -> Response:
    dep = deployments.get(session, caller, deployment_id)
    values = service.draft_values(service.load_draft(session, caller, dep.id))
    ctx = _questionnaire(session, caller, dep, values, {}, _preview(session, dep, values))
    ctx["draft"] = bool(values)
    return render(request, "assessments/form.html", ctx)


@router.get("/deployments/{deployment_id:int}/assessment/follow-ups/{fm}")
def follow_ups_fragment(
    deployment_id: IdPath,
    fm: str,
    request: Request,
    session: SessionDep,
    caller: Annotated[Caller, Depends(page_requires(Permission.assessment_submit))],
) -> Response:
    """The details of one failure mode, shown only when its severity is above 0 (htmx): part of
    the questionnaire, so only for those who may submit one."""
    dep = deployments.get(session, caller, deployment_id)
    info = next((f for f in service.shared_catalog(session).rows if f.key == fm), None)
    if info is None:
        raise NotFound(f"unknown failure mode '{fm}'")
    values: dict[str, Any] = dict(request.query_params)
    values.update(
        {
            k: request.query_params.getlist(k)
            for k in request.query_params
            if k.endswith(".segments")
        }
    )
    if forms.severity_of(values, fm) == 0:
        return HTMLResponse("")
    ctx = _questionnaire(session, caller, dep, values, {})
    return render(request, "assessments/_details.html", {**ctx, "failure_mode": info})


@router.post("/deployments/{deployment_id:int}/assessment/draft")
def save_draft(
    deployment_id: IdPath,
    request: Request,
    session: SessionDep,
    caller: Annotated[Caller, Depends(page_requires(Permission.assessment_submit))],
    form: FormDep,
) -> Response:
    """Autosave (htmx, on every change): keep the form as typed and answer with the preview."""
    dep = deployments.get(session, caller, deployment_id)
    draft = service.save_draft(session, caller, dep.id, form)
    ctx = _questionnaire(session, caller, dep, form, {}, _preview(session, dep, form))
    ctx["saved_at"] = draft.updated_at
    return render(request, "assessments/form.html", ctx, block="preview")


@router.post("/deployments/{deployment_id:int}/assessment")
def submit(
    deployment_id: IdPath,
    request: Request,
    session: SessionDep,
    caller: Annotated[Caller, Depends(page_requires(Permission.assessment_submit))],
    settings: SettingsDep,
    form: FormDep,
) -> Response:
    dep = deployments.get(session, caller, deployment_id)
    keys = _fm_keys(session)
    data, errors = forms.parse(form, keys)
    if data is not None:
        try:
            a, _ = service.submit(session, caller, dep.id, data, audit_key=settings.audit_hmac_key)
        except (AppError, FieldError) as exc:
            field, message, _ = form_error(exc)
            errors = {forms.form_field(field, keys): message}
        else:
            resp = redirect(request, f"/assessments/{a.id}")
            flash(request, resp, "Assessment submitted; here is its recommendation.")
            return resp
    service.save_draft(session, caller, dep.id, form)  # a validation error never loses answers
    ctx = _questionnaire(session, caller, dep, form, errors)
    ctx["draft"] = True
    return render(request, "assessments/form.html", ctx, status_code=422)


# ---- recommendation ------------------------------------------------------------------------
@router.get("/assessments/{assessment_id:int}")
def recommendation_page(
    assessment_id: IdPath,
    request: Request,
    session: SessionDep,
    caller: PageCaller,
    rec: IdQuery = None,
) -> Response:
    a = service.get(session, caller, assessment_id)
    dep = deployments.get(session, caller, a.deployment_id)
    recs = service.recommendations(session, caller, a.id)
    current = next((r for r in recs if r.id == rec), None) if rec else recs[-1]
    if current is None:
        raise NotFound(f"recommendation {rec} is not one of this assessment's")
    previous = next((r for r in recs if r.id == current.previous_id), None)
    items = current.result["items"]
    fm_names = {f.key: f.name for f in service.shared_catalog(session).rows}
    return render(
        request,
        "assessments/detail.html",
        {
            "caller": caller,
            "assessment": a,
            "deployment": dep,
            "rec": current,
            "recs": recs,
            "result": current.result,
            "previous": previous,
            "changes": service.changes(previous, current) if previous else None,
            "figure": charts.score_breakdown(items) if items else None,
            "fm_names": fm_names,
            "tech_names": service.shared_catalog(session).technique_names,
            "levels": SEVERITY_LEVELS,
            "latest_rules": rulesets.current_ruleset(session, caller.org_id).version,
            # the decision panel is governance's (loaded by htmx); the status heads the page
            "workflow_status": workflow.recommendation_statuses(session, caller.org_id, [current])[
                current.id
            ],
        },
    )


@router.post("/assessments/{assessment_id:int}/rerun")
def rerun(
    assessment_id: IdPath,
    request: Request,
    session: SessionDep,
    caller: Annotated[Caller, Depends(page_requires(Permission.assessment_submit))],
    settings: SettingsDep,
) -> Response:
    rec = service.rerun(session, caller, assessment_id, audit_key=settings.audit_hmac_key)
    resp = redirect(request, f"/assessments/{assessment_id}?rec={rec.id}")
    flash(request, resp, "Re-run under the current rule set, matrix and estimators.")
    return resp


# ---- rule set ------------------------------------------------------------------------------
@router.get("/rules")
def rules_page(
    request: Request, session: SessionDep, caller: PageCaller, version: IdQuery = None
) -> Response:
    row = rulesets.get_version(session, caller.org_id, version)
    return render(
        request,
        "rules/index.html",
        {
            "caller": caller,
            "row": row,
            "rules": row.body.get("rules", []),
            "versions": rulesets.versions(session, caller.org_id),
        },
    )


def _edit_ctx(session: SessionDep, caller: Caller, text: str, **extra: Any) -> dict[str, Any]:
    row = rulesets.get_version(session, caller.org_id)
    return {
        "caller": caller,
        "row": row,
        "text": text,
        "rules": row.body.get("rules", []),
        "errors": {},
        "result": None,
        "note": "",
        **extra,
    }


@router.get("/rules/edit")
def edit_page(
    request: Request,
    session: SessionDep,
    caller: Annotated[Caller, Depends(page_requires(Permission.rules_edit))],
    rule: str | None = None,
) -> Response:
    row = rulesets.get_version(session, caller.org_id)
    ctx = _edit_ctx(session, caller, row.text)
    if rule is not None:
        found = next((r for r in row.body.get("rules", []) if r.get("id") == rule), None)
        if found is None:
            raise NotFound(f"no rule '{rule}' in version {row.version}")
        ctx["rule"] = _rule_fields(found)
    elif "new" in request.query_params:
        ctx["rule"] = {
            "id": "",
            "description": "",
            "source": "",
            "when": "",
            "then": "",
            "original": "",
        }
    return render(request, "rules/edit.html", ctx)


def _dump(value: Any) -> str:
    return yaml.safe_dump(value, sort_keys=False, allow_unicode=True, width=100).strip()


def _rule_fields(rule: dict[str, Any]) -> dict[str, str]:
    return {
        "id": str(rule.get("id", "")),
        "original": str(rule.get("id", "")),
        "description": str(rule.get("description", "")),
        "source": str(rule.get("source", "")),
        "when": _dump(rule.get("when")),
        "then": _dump(rule.get("then")),
    }


def _with_rule(
    session: SessionDep, org_id: int, form: dict[str, Any]
) -> tuple[str, dict[str, str]]:
    """The current rule set with one rule replaced (or added) from the per-rule form."""
    errors: dict[str, str] = {}
    parts: dict[str, Any] = {}
    for name in ("when", "then"):
        try:
            parts[name] = safe_yaml.load(str(form.get(name, "")), safe_yaml.RULE_PART_LIMITS)
        except safe_yaml.YamlRefused as exc:
            errors[name] = str(exc)
    rid = str(form.get("id", "")).strip()
    if not rid:
        errors["id"] = "a rule needs an id"
    body = dict(rulesets.get_version(session, org_id).body)
    if errors:
        return "", errors
    rule = {
        "id": rid,
        "description": str(form.get("description", "")).strip(),
        "source": str(form.get("source", "")).strip(),
        **parts,
    }
    original = str(form.get("original", ""))
    rules = list(body.get("rules", []))
    idx = next((i for i, r in enumerate(rules) if r.get("id") == original), None)
    if form.get("action") == "delete" and idx is not None:
        rules.pop(idx)
    elif idx is None:
        rules.append(rule)
    else:
        rules[idx] = rule
    return _dump({"rules": rules}), {}


@router.post("/rules/edit")
def edit(
    request: Request,
    session: SessionDep,
    caller: Annotated[Caller, Depends(page_requires(Permission.rules_edit))],
    settings: SettingsDep,
    form: FormDep,
) -> Response:
    """Validate and dry-run a candidate (YAML, or one rule's form merged into the current set);
    with ``action=publish`` and a note, publish it as the next version."""
    text = str(form.get("yaml", ""))
    note = str(form.get("note", "")).strip()
    if "original" in form:  # the per-rule form
        text, rule_errors = _with_rule(session, caller.org_id, form)
        if rule_errors:
            ctx = _edit_ctx(
                session,
                caller,
                rulesets.get_version(session, caller.org_id).text,
                errors=rule_errors,
                rule=dict(form),
            )
            return render(request, "rules/edit.html", ctx, status_code=422)
    try:
        if form.get("action") == "publish":
            if not note:
                raise InvalidInput("say what changed and why", field="note")
            row = rulesets.publish(session, caller, text, note, audit_key=settings.audit_hmac_key)
            resp = redirect(request, "/rules")
            flash(request, resp, f"Rule set version {row.version} published.")
            return resp
        _, candidate = rulesets.parse_text(session, text)
        result = service.dry_run(session, caller, candidate)
    except (InvalidInput, FieldError) as exc:
        errors = {"note" if exc.field == "note" else "yaml": f"{exc.message}"}
        ctx = _edit_ctx(session, caller, text, errors=errors, note=note)
        return render(request, "rules/edit.html", ctx, block="editor", status_code=422)
    except Conflict as exc:  # a concurrent publish took the version number: keep what was typed
        ctx = _edit_ctx(session, caller, text, errors={"yaml": exc.message}, note=note)
        return render(request, "rules/edit.html", ctx, block="editor", status_code=409)
    ctx = _edit_ctx(session, caller, text, result=result, note=note, valid=len(candidate.rules))
    return render(request, "rules/edit.html", ctx, block="editor")


@router.get("/deployments/{deployment_id:int}/assessments-panel")
def deployment_assessments_panel(
    deployment_id: IdPath, request: Request, session: SessionDep, caller: PageCaller
) -> Response:
    """The deployment page's assessments, with each recommendation's workflow status (a fragment
    for htmx, a page otherwise)."""
    dep = deployments.get(session, caller, deployment_id)
    summaries = service.summaries(session, caller, dep.id)
    return render(
        request,
        "assessments/deployment_panel.html",
        {
            "caller": caller,
            "deployment": dep,
            "assessments": summaries,
            "rec_status": workflow.recommendation_statuses(
                session, caller.org_id, [s.rec for s in summaries]
            ),
            "draft": service.load_draft(session, caller, dep.id),
        },
        block="panel",
    )
