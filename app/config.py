"""Application settings, read from the environment (prefix ``AXISBOARD_``) or a ``.env`` file.

``DATABASE_URL`` is also accepted without the prefix, as docker-compose and PaaS hosts set it.
Nothing here has import-time side effects: call :func:`get_settings` or build :class:`Settings`.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from enum import StrEnum
from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SECRET = "dev-insecure-change-me"  # noqa: S105 - refused outside development


# A production secret key must look random: an estimate of at least this many bits, and no run of
# REPEAT_SPAN characters that occurs twice. `openssl rand -hex 32` gives about 240 estimated bits.
MIN_SECRET_BITS = 128
REPEAT_SPAN = 8


def estimated_bits(key: str) -> float:
    """Entropy estimate of ``key``: Shannon entropy of its character frequencies × its length.

    It judges the characters the key is made of, not how it was produced, so it undercounts
    a short random key and cannot see a predictable one spelled with varied characters; it
    catches what people type by hand: one character repeated (0 bits), a few distinct characters,
    a word or two."""
    if not key:
        return 0.0
    n = len(key)
    return n * sum(-(c / n) * math.log2(c / n) for c in Counter(key).values())


def secret_key_problem(key: str) -> str | None:
    """Why ``key`` is too weak to protect production sessions, or None. The message names no
    part of the key."""
    bits = estimated_bits(key)
    if bits < MIN_SECRET_BITS:
        return (
            f"has too little entropy: about {bits:.0f} bits estimated from {len(set(key))} "
            f"distinct characters over {len(key)} (Shannon entropy × length), at least "
            f"{MIN_SECRET_BITS} are required"
        )
    seen: set[str] = set()
    for i in range(len(key) - REPEAT_SPAN + 1):
        chunk = key[i : i + REPEAT_SPAN]
        if chunk in seen:
            return f"repeats a run of {REPEAT_SPAN} or more characters, so it is not random"
        seen.add(chunk)
    return None


class Environment(StrEnum):
    development = "development"
    test = "test"
    production = "production"


class Settings(BaseSettings):
    # hide_input_in_errors: a refused setting's error must not print the secret key back.
    model_config = SettingsConfigDict(
        env_prefix="AXISBOARD_", env_file=".env", extra="ignore", hide_input_in_errors=True
    )

    environment: Environment = Environment.development
    secret_key: str = DEFAULT_SECRET
    database_url: str = Field(
        default=f"sqlite:///{PROJECT_ROOT / 'var' / 'axisboard.db'}",
        validation_alias=AliasChoices("AXISBOARD_DATABASE_URL", "DATABASE_URL"),
    )
    sql_echo: bool = False
    session_cookie_name: str = "axisboard_session"
    session_max_age_s: int = 8 * 3600
    api_token_max_age_s: int = 24 * 3600
    # Failed sign-ins (app/auth/service.py LoginThrottle): after login_max_failures failures of
    # one e-mail from one client address (4 × as many from one address over all e-mails) within
    # login_window_s, each further attempt waits login_base_delay_s × 2^(failures beyond), at
    # most login_max_delay_s, after the last failure. No lock-out per account.
    login_max_failures: int = Field(5, ge=1)
    login_window_s: int = Field(3600, ge=1)
    login_base_delay_s: float = Field(1.0, gt=0)
    login_max_delay_s: float = Field(300.0, gt=0)
    log_level: str = "INFO"
    log_json: bool = False
    max_body_bytes: int = 1_000_000
    # Celery broker for long jobs (calibration, imports). Unset: jobs run in a thread of the app.
    broker_url: str | None = None
    # A running job refreshes its heartbeat this often; one silent for job_stale_after_s lost its
    # runner (a killed worker, a crashed app) and is queued again or failed (app/jobs/service.py).
    job_heartbeat_s: float = Field(10.0, gt=0)
    job_stale_after_s: float = Field(60.0, gt=0)
    # Without a broker: processes of the pool that runs jobs beside each web worker (at most this
    # many heavy jobs at once per web worker; the rest wait, queued).
    job_workers: int = Field(1, ge=1, le=64)
    # Memory one torch job (calibration, design measurement) may plan to use, in GiB; unset: a
    # quarter of this machine's RAM (app/jobs/limits.py). Set it to the GPU's memory under CUDA.
    torch_memory_gib: float | None = Field(None, gt=0, le=4096)
    # Ed25519 seed (base64, 32 bytes) signing exported reports and audit checkpoints; unset: derived
    # from the secret key. The public key is served at /api/v1/audit/public-key.
    signing_key: str | None = None
    # Signed checkpoints of the audit-chain head, written after every commit that appends events,
    # outside the database (app/audit/checkpoints.py): redis://host:6379/N (Redis with
    # persistence) or file:///path; unset: the file audit_checkpoint_path. Every replica of the
    # app and the worker must name the same store.
    audit_checkpoint_url: str | None = Field(None, pattern=r"^(redis|rediss|unix|file)://")
    audit_checkpoint_path: Path = PROJECT_ROOT / "var" / "audit-checkpoints.jsonl"

    @model_validator(mode="after")
    def _refuse_default_secret(self) -> Settings:
        if self.environment == Environment.production and self.secret_key == DEFAULT_SECRET:
            raise ValueError(
                "AXISBOARD_SECRET_KEY must be set to a long random value outside development"
            )
        if self.environment == Environment.production and len(self.secret_key) < 32:
            raise ValueError("AXISBOARD_SECRET_KEY must be at least 32 characters in production")
        if self.environment == Environment.production:
            problem = secret_key_problem(self.secret_key)
            if problem:
                raise ValueError(
                    f"AXISBOARD_SECRET_KEY {problem}; generate one with `openssl rand -hex 32`"
                )
        return self

    @model_validator(mode="after")
    def _stale_after_several_beats(self) -> Settings:
        if self.job_stale_after_s < 3 * self.job_heartbeat_s:
            raise ValueError(
                "AXISBOARD_JOB_STALE_AFTER_S must be at least 3 × AXISBOARD_JOB_HEARTBEAT_S, or a "
                "busy runner's job would be taken from it"
            )
        return self

    @property
    def is_development(self) -> bool:
        return self.environment != Environment.production

    @property
    def audit_hmac_key(self) -> bytes:
        """Key of the audit hash chain, derived from the secret key (domain-separated)."""
        return hashlib.sha256(b"axisboard-audit-chain:" + self.secret_key.encode()).digest()

    @property
    def cookie_secure(self) -> bool:
        return self.environment == Environment.production


@lru_cache
def get_settings() -> Settings:
    return Settings()
