"""Import every ORM model so ``Base.metadata`` is complete (Alembic, tests)."""

from app.assessments.models import Assessment, Recommendation
from app.audit.models import AuditEvent
from app.auth.models import AuthToken, LoginAttempt, Organization, PlatformOperator, User
from app.catalog.hosted_models import HostedModelPrice
from app.catalog.models import (
    Axis,
    Dimension,
    Evidence,
    FailureMode,
    Framework,
    Gpu,
    GpuPriceOverride,
    MatrixCell,
    MatrixVersion,
    ModelArch,
    Profile,
    Technique,
)
from app.db import Base
from app.deployments.models import Deployment
from app.estimates.models import Calibration
from app.governance.models import (
    Decision,
    Notification,
    SegmentEvaluation,
    SoaEvidenceFile,
    SoaHistory,
    SoaVersion,
)
from app.jobs.models import Job
from app.portfolios.models import Portfolio
from app.rulesets.models import RuleSetVersion

__all__ = [
    "Assessment",
    "AuditEvent",
    "AuthToken",
    "Axis",
    "Base",
    "Calibration",
    "Decision",
    "Deployment",
    "Dimension",
    "Evidence",
    "FailureMode",
    "Framework",
    "Gpu",
    "GpuPriceOverride",
    "HostedModelPrice",
    "Job",
    "LoginAttempt",
    "MatrixCell",
    "MatrixVersion",
    "ModelArch",
    "Notification",
    "Organization",
    "PlatformOperator",
    "Portfolio",
    "Profile",
    "Recommendation",
    "RuleSetVersion",
    "SegmentEvaluation",
    "SoaEvidenceFile",
    "SoaHistory",
    "SoaVersion",
    "Technique",
    "User",
]
