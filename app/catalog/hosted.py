"""Hosted LLM APIs: the shipped catalog (``data/hosted_models.yaml``), each organisation's own
prices (audited), and a deployment's hosted alternatives against its self-hosted serving cost
(the arithmetic is :mod:`app.estimators.hosted`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from functools import cache
from importlib import resources
from typing import Any

import yaml
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.audit import service as audit
from app.auth.context import Caller
from app.catalog.hosted_models import HostedModelPrice
from app.catalog.repository import HostedPriceRepository
from app.errors import Conflict, InvalidInput, NotFound
from app.estimators import hosted as calc
from app.estimators.traffic import TrafficError

MAX_TOKENS = 100_000_000


@dataclass(frozen=True, slots=True)
class HostedModel:
    """A hosted API as an organisation sees it: its own row, else the shipped one."""

    key: str
    provider: str
    model: str
    input_per_m_usd: float | None
    cached_input_per_m_usd: float | None
    output_per_m_usd: float | None
    context_tokens: int | None
    price_source: str
    price_date: str | None
    source_url: str
    notes: str
    origin: str  # "shipped_default" | "organisation"
    ttft_ms: float | None = None
    output_tokens_per_s: float | None = None
    latency_source: str = ""
    set_by: str | None = None
    default: dict[str, Any] | None = field(default=None)  # the shipped row's prices, if any

    @property
    def priced(self) -> bool:
        return self.input_per_m_usd is not None and self.output_per_m_usd is not None


# ---- the shipped catalog ---------------------------------------------------------------------
@cache
def _doc() -> dict[str, Any]:
    text = (resources.files("app.catalog") / "data" / "hosted_models.yaml").read_text("utf-8")
    doc: dict[str, Any] = yaml.safe_load(text)
    return doc


def _shipped(row: dict[str, Any]) -> HostedModel:
    date = None if row.get("date") is None else str(row["date"])
    latency = ""
    if row.get("ttft_ms") is not None or row.get("output_tokens_per_s") is not None:
        latency = f"{row.get('latency_note', '')} [{row['ref']}] {row['url']}".strip()
    return HostedModel(
        key=row["key"],
        provider=row["provider"],
        model=str(row["model"]),
        input_per_m_usd=row["input"],
        cached_input_per_m_usd=row["cached_input"],
        output_per_m_usd=row["output"],
        context_tokens=row["context_tokens"],
        price_source=f"shipped default: economics.md §2 [{row['ref']}], {row['url']}"
        + (f", {date}" if date else ", undated"),
        price_date=date,
        source_url=row["url"],
        notes=row.get("notes") or "",
        origin="shipped_default",
        ttft_ms=row.get("ttft_ms"),
        output_tokens_per_s=row.get("output_tokens_per_s"),
        latency_source=latency,
    )


@cache
def shipped_models() -> dict[str, HostedModel]:
    return {r["key"]: _shipped(r) for r in _doc()["models"]}


def _effective(shipped: HostedModel | None, row: HostedModelPrice | None) -> HostedModel:
    if row is None:
        assert shipped is not None
        return shipped
    default = None
    if shipped is not None:
        default = {
            "input_per_m_usd": shipped.input_per_m_usd,
            "cached_input_per_m_usd": shipped.cached_input_per_m_usd,
            "output_per_m_usd": shipped.output_per_m_usd,
            "price_source": shipped.price_source,
        }
    note = f": {row.note}" if row.note else ""
    return HostedModel(
        key=row.model_key,
        provider=row.provider,
        model=row.model,
        input_per_m_usd=row.input_per_m_usd,
        cached_input_per_m_usd=row.cached_input_per_m_usd,
        output_per_m_usd=row.output_per_m_usd,
        context_tokens=row.context_tokens,
        price_source=f"organisation price{note}, set by {row.set_by}",
        price_date=row.updated_at.date().isoformat(),
        source_url=shipped.source_url if shipped else "",
        notes=shipped.notes if shipped else "",
        origin="organisation",
        ttft_ms=shipped.ttft_ms if shipped else None,
        output_tokens_per_s=shipped.output_tokens_per_s if shipped else None,
        latency_source=shipped.latency_source if shipped else "",
        set_by=row.set_by,
        default=default,
    )


def effective_models(session: Session, org_id: int) -> list[HostedModel]:
    """Every hosted API with the organisation's prices: shipped order, then its own additions."""
    rows = HostedPriceRepository(session, org_id).all()
    shipped = shipped_models()
    out = [_effective(m, rows.get(k)) for k, m in shipped.items()]
    out += [_effective(None, r) for k, r in sorted(rows.items()) if k not in shipped]
    return out


# ---- an organisation's own prices ------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class HostedPriceChange:
    input_per_m_usd: float
    cached_input_per_m_usd: float | None
    output_per_m_usd: float
    context_tokens: int | None = None
    provider: str | None = None  # required for a model the catalog lacks
    model: str | None = None
    note: str = ""


def _check(change: HostedPriceChange, shipped: HostedModel | None) -> None:
    calc.check_price(change.input_per_m_usd, "input_per_m_usd")
    calc.check_price(change.cached_input_per_m_usd, "cached_input_per_m_usd", required=False)
    calc.check_price(change.output_per_m_usd, "output_per_m_usd")
    ctx = change.context_tokens
    if ctx is not None and not 1 <= ctx <= MAX_TOKENS:
        raise InvalidInput(f"context_tokens must be 1 to {MAX_TOKENS:,}", field="context_tokens")
    if len(change.note) > 500:
        raise InvalidInput("note must be at most 500 characters", field="note")
    if shipped is None:
        for name in ("provider", "model"):
            value = (getattr(change, name) or "").strip()
            if not value or len(value) > (80 if name == "provider" else 120):
                raise InvalidInput(
                    f"{name} is required (1-{80 if name == 'provider' else 120} characters) for a "
                    "model the catalog lacks",
                    field=name,
                )


def _state(m: HostedModel | None) -> dict[str, Any] | None:
    if m is None:
        return None
    return {
        k: getattr(m, k)
        for k in (
            "provider",
            "model",
            "input_per_m_usd",
            "cached_input_per_m_usd",
            "output_per_m_usd",
            "context_tokens",
            "origin",
        )
    }


def set_org_price(
    session: Session, caller: Caller, key: str, change: HostedPriceChange, *, audit_key: bytes
) -> HostedModel:
    """The caller's organisation's own prices for a hosted API (a catalog model, or one it adds
    under a new key); audited; no other organisation's catalog changes."""
    shipped = shipped_models().get(key)
    _check(change, shipped)
    repo = HostedPriceRepository(session, caller.org_id)
    row = repo.get(key)
    before = None if row is None and shipped is None else _effective(shipped, row)
    provider = (change.provider or "").strip() or (shipped.provider if shipped else "")
    model = (change.model or "").strip() or (shipped.model if shipped else "")
    ctx = change.context_tokens
    if ctx is None and shipped is not None:
        ctx = shipped.context_tokens
    values = {
        "provider": provider,
        "model": model,
        "input_per_m_usd": change.input_per_m_usd,
        "cached_input_per_m_usd": change.cached_input_per_m_usd,
        "output_per_m_usd": change.output_per_m_usd,
        "context_tokens": ctx,
        "note": change.note.strip(),
        "set_by": caller.email,
    }
    if row is None:
        row = HostedModelPrice(org_id=caller.org_id, model_key=key, **values)
        try:
            with session.begin_nested():
                session.add(row)
                session.flush()
        except IntegrityError:
            raise Conflict(
                f"a price for {key} was set by someone else at the same time; reload",
                field="input_per_m_usd",
            ) from None
    else:
        for k, v in values.items():
            setattr(row, k, v)
        session.flush()
    session.refresh(row)
    after = _effective(shipped, row)
    audit.record(
        session,
        audit_key,
        actor=caller.actor,
        action="hosted_model.price.set",
        entity_type="hosted_model",
        entity_id=key,
        before=_state(before),
        after={**(_state(after) or {}), "note": row.note},
    )
    return after


def remove_org_price(session: Session, caller: Caller, key: str, *, audit_key: bytes) -> None:
    """Drop the organisation's own row: the shipped prices apply again (a model it added
    disappears). Idempotent: nothing recorded when there is no own row."""
    shipped = shipped_models().get(key)
    row = HostedPriceRepository(session, caller.org_id).get(key)
    if row is None:
        if shipped is None:
            raise NotFound(f"hosted model {key} not found")
        return
    before = _effective(shipped, row)
    session.delete(row)
    session.flush()
    audit.record(
        session,
        audit_key,
        actor=caller.actor,
        action="hosted_model.price.remove",
        entity_type="hosted_model",
        entity_id=key,
        before=_state(before),
        after=_state(shipped),
    )


# ---- a deployment's hosted alternatives ------------------------------------------------------
def _self_hosted(plan: dict[str, Any], dep: Any) -> tuple[calc.SelfHosted | None, str]:
    if plan.get("error"):
        return None, str(plan["error"])
    rate, price = plan.get("max_requests_per_s_per_replica"), plan.get("price_per_gpu_hour_usd")
    if rate is None:
        return None, plan["reasons"].get("replicas", "no replica plan")
    if price is None:
        return None, str(plan.get("price_source", "the GPU is unpriced"))
    try:
        profile = plan.get("hourly_profile")
        return calc.SelfHosted(
            rate,
            int(plan["gpus_per_replica"]),
            float(price),
            float(plan["peak_to_average"]),
            None if profile is None else tuple(profile),
        ), ""
    except (calc.HostedError, TrafficError) as exc:
        return None, str(exc)


def governance(dep: Any) -> dict[str, Any]:
    """What choosing any hosted API changes for governance: the data leaves the organisation."""
    flags = [f for f in calc.SENSITIVE_FLAGS if f in set(dep.regulatory_flags)]
    risks = [asdict(r) for r in calc.hosted_data_risks(dep.regulatory_flags, "the API's provider")]
    if flags:
        note = (
            f"Prompts and outputs leave the organisation for the provider. This deployment is "
            f"flagged {', '.join(flags)}: a hosted API brings in OWASP LLM02:2025 (Sensitive "
            "Information Disclosure) and NIST AI 600-1 Data Privacy, which add to the governance "
            "review (a data-processing agreement, retention and training-use terms, residency)."
        )
    else:
        note = (
            "Prompts and outputs leave the organisation for the provider. This deployment has no "
            "personal or regulated data flag, so no data-privacy risk is added; set the flags on "
            "the deployment if its prompts carry such data."
        )
    return {
        "data_leaves_organisation": True,
        "sensitive_flags": flags,
        "risks": risks,
        "note": note,
    }


def alternatives(
    dep: Any, plan: dict[str, Any], models: list[HostedModel], cached_share: float | None
) -> dict[str, Any]:
    """Each hosted API priced at the deployment's traffic and token mix, with the traffic at
    which self-hosting (the serving plan: peak-sized replicas at the organisation's GPU price)
    becomes cheaper. ``plan`` is :func:`app.estimates.service.deployment_serving_plan`."""
    share = calc.DEFAULT_CACHED_SHARE if cached_share is None else cached_share
    share_source = (
        calc.DEFAULT_CACHED_SHARE_SOURCE if cached_share is None else "set in the request"
    )
    if not 0 <= share <= 1:
        raise InvalidInput("cached_share must be between 0 and 1", field="cached_share")
    rpd = float(dep.requests_per_day)
    inp, out = float(dep.mean_input_tokens), float(dep.mean_output_tokens)
    sh, sh_reason = _self_hosted(plan, dep)
    gov = governance(dep)
    self_monthly = None if plan.get("error") else plan.get("monthly_cost_usd")
    items: list[dict[str, Any]] = []
    for m in models:
        reasons: dict[str, str] = {}
        item: dict[str, Any] = {
            "key": m.key,
            "provider": m.provider,
            "model": m.model,
            "monthly_cost_usd": None,
            "cost_per_1k_requests_usd": None,
            "break_even_requests_per_day": None,
            "self_hosted_cheaper_from_requests_per_day": None,
            "cheaper_than_self_hosted": None,
            "input_per_m_usd": m.input_per_m_usd,
            "cached_input_per_m_usd": m.cached_input_per_m_usd,
            "output_per_m_usd": m.output_per_m_usd,
            "cached_share_applied": 0.0,
            "context_tokens": m.context_tokens,
            "fits_context": None if m.context_tokens is None else inp + out <= m.context_tokens,
            "price_source": m.price_source,
            "price_date": m.price_date,
            "price_origin": m.origin,
            "notes": m.notes,
            "ttft_ms": m.ttft_ms,
            "output_tokens_per_s": m.output_tokens_per_s,
            "same_model_as_deployment": bool(dep.model_key) and dep.model_key in m.key,
            "data_leaves_organisation": True,
            "governance_risks": [
                asdict(r) for r in calc.hosted_data_risks(dep.regulatory_flags, m.provider)
            ],
            "reasons": reasons,
        }
        if m.context_tokens is None:
            reasons["fits_context"] = "the provider publishes no context length here"
        elif not item["fits_context"]:
            reasons["fits_context"] = (
                f"a request ({inp + out:,.0f} tokens) exceeds the {m.context_tokens:,}-token "
                "context"
            )
        if not m.priced:
            why = f"unpriced: {m.notes or 'no input/output price published'}"
            for k in (
                "monthly_cost_usd",
                "cost_per_1k_requests_usd",
                "break_even_requests_per_day",
            ):
                reasons[k] = why
            items.append(item)
            continue
        assert m.input_per_m_usd is not None
        assert m.output_per_m_usd is not None
        price = calc.HostedPrice(m.input_per_m_usd, m.cached_input_per_m_usd, m.output_per_m_usd)
        cost = calc.hosted_cost(price, inp, out, rpd, share)
        item.update(
            monthly_cost_usd=cost.monthly_cost_usd,
            cost_per_1k_requests_usd=cost.cost_per_1k_requests_usd,
            cached_share_applied=cost.cached_share_applied,
        )
        if share > 0 and m.cached_input_per_m_usd is None:
            reasons["cached_share_applied"] = "no cached-input price published: list input price"
        if self_monthly is not None:
            item["cheaper_than_self_hosted"] = cost.monthly_cost_usd < self_monthly
        if sh is None:
            reasons["break_even_requests_per_day"] = f"no self-hosted cost: {sh_reason}"
        else:
            be = calc.break_even(cost.cost_per_request_usd * calc.DAYS_PER_MONTH, sh)
            item["break_even_requests_per_day"] = be.break_even_requests_per_day
            item["self_hosted_cheaper_from_requests_per_day"] = (
                be.self_hosted_cheaper_from_requests_per_day
            )
            if be.reason:
                key = (
                    "break_even_requests_per_day"
                    if be.break_even_requests_per_day is None
                    else "self_hosted_cheaper_from_requests_per_day"
                )
                reasons[key] = be.reason
                if key == "break_even_requests_per_day":
                    reasons["self_hosted_cheaper_from_requests_per_day"] = be.reason
        items.append(item)
    items.sort(key=lambda i: (i["monthly_cost_usd"] is None, i["monthly_cost_usd"] or 0.0))
    return {
        "deployment_id": dep.id,
        "requests_per_day": rpd,
        "input_tokens": inp,
        "output_tokens": out,
        "cached_share": share,
        "cached_share_source": share_source,
        "self_hosted": {
            "monthly_cost_usd": self_monthly,
            "cost_per_1k_requests_usd": None
            if plan.get("error")
            else plan.get("cost_per_1k_requests_usd"),
            "replicas": plan.get("replicas"),
            "gpus_per_replica": plan.get("gpus_per_replica"),
            "gpu": dep.gpu_key,
            "price_per_gpu_hour_usd": plan.get("price_per_gpu_hour_usd"),
            "price_source": plan.get("price_source"),
            "max_requests_per_s_per_replica": plan.get("max_requests_per_s_per_replica"),
            "peak_to_average": plan.get("peak_to_average"),
            "reason": sh_reason or (plan.get("reasons") or {}).get("monthly_cost_usd", ""),
        },
        "items": items,
        "governance": gov,
        "formulas": {
            "hosted_monthly": "requests/day x 730/24 x (I(1-c) p_in + I c p_cached + O p_out)/1e6",
            "self_hosted_monthly": "replicas(r) x GPUs per replica x price per GPU-hour x 730, "
            "replicas(r) = max(1, ceil(r x peak-to-average / (86400 x per-replica rate))) "
            "(per hour of the profile when there is one)",
            "break_even": "the lowest requests/day at which self-hosted cost <= hosted cost",
        },
        "_self_hosted_steps": sh,
    }
