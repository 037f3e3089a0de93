"""The role table: the one place that says which role may do what.

Routes ask for a :class:`Permission`; nothing else in the code compares role names.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    admin = "admin"
    product_lead = "product_lead"
    architect = "architect"
    governance = "governance"
    viewer = "viewer"


class Permission(StrEnum):
    read = "read"  # every page and GET route of one's own organisation
    deployment_write = "deployment:write"
    assessment_submit = "assessment:submit"
    portfolio_write = "portfolio:write"
    estimate_run = "estimate:run"
    calibration_run = "calibration:run"
    # torch on this machine (design measurements, calibrations): memory and minutes of CPU/GPU
    torch_run = "torch:run"
    decision_make = "decision:make"
    evaluation_write = "evaluation:write"
    # the ISO/IEC 42001 statement of applicability: controls, owners, evidence, submission
    soa_write = "soa:write"
    audit_read = "audit:read"
    report_export = "report:export"
    matrix_edit = "matrix:edit"
    catalog_edit = "catalog:edit"
    rules_edit = "rules:edit"
    user_manage = "user:manage"


_ALL = frozenset(Permission)

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.admin: _ALL,
    Role.product_lead: frozenset(
        {
            Permission.read,
            Permission.deployment_write,
            Permission.assessment_submit,
            Permission.estimate_run,
            Permission.report_export,
        }
    ),
    Role.architect: frozenset(
        {
            Permission.read,
            Permission.deployment_write,
            Permission.assessment_submit,
            Permission.portfolio_write,
            Permission.soa_write,
            Permission.estimate_run,
            Permission.torch_run,
            Permission.report_export,
        }
    ),
    Role.governance: frozenset(
        {
            Permission.read,
            Permission.estimate_run,
            Permission.decision_make,
            Permission.evaluation_write,
            Permission.soa_write,
            Permission.audit_read,
            Permission.report_export,
        }
    ),
    Role.viewer: frozenset({Permission.read, Permission.estimate_run}),
}


def has_permission(role: Role | str, permission: Permission) -> bool:
    try:
        return permission in ROLE_PERMISSIONS[Role(role)]
    except ValueError:
        return False
