"""Self-host or a hosted API: the monthly cost of a hosted LLM API at a deployment's traffic and
token mix, and the traffic at which self-hosting becomes the cheaper of the two (pure).

Hosted (linear in traffic). With ``I`` input and ``O`` output tokens per request, a share ``c``
of the prompt tokens read from the provider's prompt cache, and prices per million tokens
``p_in``, ``p_cached``, ``p_out``::

    cost per request   q = (I·(1 − c)·p_in + I·c·p_cached + O·p_out) / 10^6
    monthly cost       H(r) = r · (730 / 24) · q            (r requests/day, 730 h a month)
    per 1,000 requests 1000 · q

A model without a published cached-input price bills every prompt token at ``p_in`` (the cache
share is then not applied, and said so). Cache *writes* (charged by some providers) and
long-prompt surcharges are not modelled; the catalog row's notes state them.

Self-hosted (a step function of traffic). From the deployment's serving plan: a replica of
``g`` GPUs at ``P`` USD per GPU-hour sustains ``R`` requests/s within the p95 SLOs; the peak
rate is ``r / 86400 · k`` (peak-to-average ``k``). Without an hourly profile the peak's replicas
run all month::

    replicas(r) = max(1, ceil(r · k / (86400 · R)))
    S(r)        = replicas(r) · g · P · 730

With an hourly profile ``w_h`` (24 weights) each hour has its own replicas,
``max(1, ceil(r/86400 · w_h/mean(w) / R))``, summed over the day and scaled by 730/24
(:func:`app.estimators.traffic.plan_traffic`, the planner the deployment page uses).

Break-even. ``S`` is constant between the traffic levels at which some hour needs one more
replica (``r = j · 86400 · R · mean(w) / w_h``, j = 1, 2, ...; ``j · 86400 · R / k`` without a
profile), and ``H`` is a line through the origin, so on each such interval ``(lo, hi]`` with
self-hosted cost ``S_i`` hosted costs at least as much from ``r = S_i / (730/24 · q)`` on.

* ``break_even_requests_per_day``: the lowest traffic at which self-hosting costs no more than
  the hosted API, ``min_i max(lo_i, S_i / (730/24 · q))`` over the intervals where that point
  lies inside. Without a profile this is ``24 · g · P / q`` (one replica all month, 730·g·P,
  equals the API's bill), provided one replica at the peak still carries it
  (``24 · g · P / q <= 86400 · R / k``).
* ``self_hosted_cheaper_from_requests_per_day``: the traffic above which self-hosting stays the
  cheaper (each new replica's step can make the API cheaper again just after it).

Since ``slope · r <= S(r) <= slope · r + C`` with ``slope = g · P · 730 · mean(w_h/mean(w)) /
(86400 · R)`` (``k`` in place of the mean without a profile: the peak's replicas all month) and
``C = g · P · 730``, the API is never dearer when ``730/24 · q <= slope`` (it costs less per
request than fully used replicas), and always dearer beyond ``C / (730/24 · q − slope)``; the
steps up to there are scanned.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from app.estimators.errors import FieldError
from app.estimators.simulation import HOURS_PER_MONTH
from app.estimators.traffic import HOURS_PER_DAY, SECONDS_PER_DAY
from app.formatting import money

TOKENS_PER_PRICE_UNIT = 1_000_000
DAYS_PER_MONTH = HOURS_PER_MONTH / HOURS_PER_DAY  # 730 / 24 = 30.4167
MAX_STEPS = 20_000  # steps scanned for the "stays cheaper" point before giving up (said so)

# The share of prompt tokens read from the provider's prompt cache, when not given: none. The
# provider's list input price then applies to every prompt token, an upper bound on the hosted
# cost; a measured hit rate (the provider's usage report: cached / prompt tokens) replaces it.
DEFAULT_CACHED_SHARE = 0.0
DEFAULT_CACHED_SHARE_SOURCE = (
    "default 0: no prompt-cache hits assumed, every prompt token at the list input price (an "
    "upper bound); set the share your provider's usage report shows (cached / prompt tokens)"
)


class HostedError(FieldError):
    def __init__(self, message: str, field: str) -> None:
        super().__init__(message, field=field)


@dataclass(frozen=True, slots=True)
class HostedPrice:
    """USD per million tokens; ``cached_input`` None where the provider publishes none."""

    input: float
    cached_input: float | None
    output: float


@dataclass(frozen=True, slots=True)
class HostedCost:
    cost_per_request_usd: float
    cost_per_1k_requests_usd: float
    monthly_cost_usd: float
    cached_share_applied: float  # 0 when the model has no cached-input price


def check_price(value: float | None, field: str, *, required: bool = True) -> None:
    if value is None:
        if required:
            raise HostedError(f"{field} is required", field)
        return
    if not (math.isfinite(value) and 0 <= value < 10_000):
        raise HostedError(f"{field} must be a price per million tokens from 0 to 10,000 USD", field)


def hosted_cost(
    price: HostedPrice,
    input_tokens: float,
    output_tokens: float,
    requests_per_day: float,
    cached_share: float = DEFAULT_CACHED_SHARE,
) -> HostedCost:
    """The hosted API's cost at a traffic and token mix (module docstring)."""
    if not 0 <= cached_share <= 1:
        raise HostedError("cached_share must be between 0 and 1", "cached_share")
    if input_tokens < 0 or output_tokens < 0 or requests_per_day < 0:
        raise HostedError("tokens and requests per day must not be negative", "requests_per_day")
    share = cached_share if price.cached_input is not None else 0.0
    cached = price.cached_input if price.cached_input is not None else price.input
    per_request = (
        input_tokens * (1 - share) * price.input
        + input_tokens * share * cached
        + output_tokens * price.output
    ) / TOKENS_PER_PRICE_UNIT
    return HostedCost(
        per_request, per_request * 1000, requests_per_day * DAYS_PER_MONTH * per_request, share
    )


@dataclass(frozen=True, slots=True)
class SelfHosted:
    """The self-hosted step function's parameters (from the deployment's serving plan)."""

    rate_per_replica: float  # requests/s one replica sustains within the p95 SLOs
    gpus_per_replica: int
    price_per_gpu_hour_usd: float
    peak_to_average: float
    hourly_profile: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if not (self.rate_per_replica > 0 and math.isfinite(self.rate_per_replica)):
            raise HostedError("the per-replica rate must be positive", "rate_per_replica")
        if self.gpus_per_replica < 1 or not self.price_per_gpu_hour_usd > 0:
            raise HostedError(
                "GPUs per replica and the GPU price must be positive", "price_per_gpu_hour_usd"
            )

    @property
    def _multipliers(self) -> tuple[float, ...]:
        """Each hour's rate as a multiple of the day's average rate."""
        if self.hourly_profile is None:
            return (self.peak_to_average,)
        mean_w = sum(self.hourly_profile) / len(self.hourly_profile)
        return tuple(w / mean_w for w in self.hourly_profile)

    @property
    def replica_set_month_usd(self) -> float:
        """One replica running all month: g · P · 730."""
        return self.gpus_per_replica * self.price_per_gpu_hour_usd * HOURS_PER_MONTH

    def monthly_cost(self, requests_per_day: float) -> float:
        """S(r): replicas per hour (at least one) x GPUs x price, over a 730-hour month."""
        hours = self._multipliers
        replica_hours = sum(self._need(requests_per_day, m) for m in hours) / len(hours)
        return replica_hours * self.replica_set_month_usd

    def _need(self, requests_per_day: float, multiplier: float) -> int:
        rate = requests_per_day / SECONDS_PER_DAY * multiplier
        return max(1, math.ceil(rate / self.rate_per_replica)) if rate > 0 else 1

    def breakpoints(self, up_to: float, limit: int = MAX_STEPS) -> tuple[list[float], bool]:
        """Traffic levels (requests/day) at which some hour needs one more replica, <= up_to,
        and whether there were more than ``limit`` of them (the list then stops early)."""
        out: set[float] = set()
        truncated = False
        for m in self._multipliers:
            if m <= 0:
                continue
            step = SECONDS_PER_DAY * self.rate_per_replica / m
            count = math.floor(up_to / step)
            if count > limit:
                count, truncated = limit, True
            out.update(j * step for j in range(1, count + 1))
        points = sorted(out)
        if len(points) > limit:
            points, truncated = points[:limit], True
        return points, truncated

    @property
    def slope_at_full_load(self) -> float:
        """Self-hosted USD per month per request/day with every replica fully used at its hour's
        rate: g · P · 730 · mean(hourly multiple of the average rate) / (86400 · R); without a
        profile the multiple is the peak-to-average ratio (the peak's replicas run all month)."""
        mult = self._multipliers
        return (
            self.replica_set_month_usd
            * (sum(mult) / len(mult))
            / (SECONDS_PER_DAY * self.rate_per_replica)
        )


@dataclass(frozen=True, slots=True)
class BreakEven:
    break_even_requests_per_day: float | None
    self_hosted_cheaper_from_requests_per_day: float | None
    reason: str  # why a figure is None ("" when both exist)


def break_even(hosted_monthly_per_request_per_day: float, s: SelfHosted) -> BreakEven:
    """Where the hosted line ``H(r) = m · r`` meets the self-hosted steps (module docstring);
    ``m`` = 730/24 · cost per request.

    ``S(r) >= slope · r`` (replicas are rounded up) and ``S(r) <= slope · r + C`` (at most one
    replica-set more per hour), with ``slope`` = :attr:`SelfHosted.slope_at_full_load` and ``C``
    one replica-set all month. So if ``m <= slope`` the API is never dearer; otherwise it is
    always dearer beyond ``C / (m - slope)``, and the steps up to there are scanned."""
    m = hosted_monthly_per_request_per_day
    if not m > 0:
        return BreakEven(None, None, "the hosted API costs nothing per request at these prices")
    slope = s.slope_at_full_load
    if m <= slope:
        return BreakEven(
            None,
            None,
            "the hosted API is cheaper at every traffic level: self-hosted replicas, even fully "
            f"used, cost {money(slope / DAYS_PER_MONTH * 1000, 3)} per 1,000 requests, the API "
            f"{money(m / DAYS_PER_MONTH * 1000, 3)}",
        )
    if s.hourly_profile is None:
        # Closed form: with c = g·P·730 and U = 86400·R/k (one replica's traffic), a = m·U/c > 1;
        # self-hosting is cheaper from c/m within step 1, and stays cheaper from (k0 − 1)·c/m,
        # k0 the first step k whose start already costs the API more: (k − 1)·a >= k.
        c, a = s.replica_set_month_usd, m / slope
        k0 = max(2, math.ceil(a / (a - 1) - 1e-12))
        return BreakEven(c / m, (k0 - 1) * c / m, "")
    horizon = s.replica_set_month_usd / (m - slope)
    bps, truncated = s.breakpoints(horizon)
    points = [0.0, *bps]
    first: float | None = None
    run_start: float | None = None  # start of the current run where self-hosting is cheaper
    for i, lo in enumerate(points):
        hi = points[i + 1] if i + 1 < len(points) else math.inf
        cost = s.monthly_cost(hi if math.isfinite(hi) else lo * (1 + 1e-12) + 1e-9)
        cross = max(lo, cost / m)
        if cross <= hi:  # self-hosting costs no more than the API on [cross, hi]
            if first is None:
                first = cross
            if run_start is None or cross > lo:
                run_start = cross
        else:
            run_start = None
    if first is None:  # pragma: no cover - m > slope guarantees a crossing by the horizon
        return BreakEven(None, None, "no crossing found")
    if truncated:
        return BreakEven(
            first,
            None,
            f"more than {MAX_STEPS:,} replica steps before self-hosting stays cheaper; not scanned",
        )
    return BreakEven(first, run_start, "")


def self_hosted_curve(
    s: SelfHosted, up_to: float, limit: int = 2000
) -> tuple[list[float], list[float]]:
    """Points (requests/day, monthly USD) tracing the step function from 0 to ``up_to`` (the
    first ``limit`` steps)."""
    xs: list[float] = [0.0]
    ys: list[float] = [s.monthly_cost(0.0)]
    bps, _ = s.breakpoints(up_to, limit)
    for b in bps:
        xs += [b, b]
        ys += [s.monthly_cost(b), s.monthly_cost(b * (1 + 1e-9))]
    end = max(up_to, xs[-1])
    xs.append(end)
    ys.append(s.monthly_cost(end))
    return xs, ys


# ---- governance: data leaves the organisation ------------------------------------------------
@dataclass(frozen=True, slots=True)
class DataRisk:
    framework: str  # app.frameworks FRAMEWORKS key
    id: str
    title: str
    rationale: str


SENSITIVE_FLAGS = ("pii", "phi", "financial", "minors", "regulated_sector")
HOSTED_DATA_RISKS = (
    (
        "owasp_2025",
        "LLM02:2025",
        "Sensitive Information Disclosure",
        "prompts and outputs with {flags} data are sent to and processed by {provider}, outside "
        "the organisation: retention, logging and use for training are the provider's terms",
    ),
    (
        "nist_600_1",
        "Data Privacy",
        "Data Privacy",
        "personal or regulated data ({flags}) leave the organisation's control for {provider}, a "
        "third-party model provider; a processing agreement and data-residency review are needed",
    ),
)


def hosted_data_risks(regulatory_flags: Sequence[str], provider: str) -> list[DataRisk]:
    """The framework risks a hosted API brings in for a deployment with sensitive data flags
    (none when the deployment has none): the data leaves the organisation."""
    flags = [f for f in SENSITIVE_FLAGS if f in set(regulatory_flags)]
    if not flags:
        return []
    words = ", ".join(flags)
    return [
        DataRisk(fw, rid, title, text.format(flags=words, provider=provider))
        for fw, rid, title, text in HOSTED_DATA_RISKS
    ]


# ---- hosted options in decisions (issue 20 item 5) -------------------------------------------
HOSTED_TECHNIQUE_PREFIX = "hosted:"
# The governance burden (the portfolio's scale: 6 − governance level per axis) a hosted API adds
# per data-privacy risk it brings in (OWASP LLM02:2025, NIST AI 600-1 Data Privacy): the same
# step as retrieval over PII or regulated data (app.estimators.portfolio.REGULATED_RETRIEVAL_BURDEN,
# the rule set's govern effect for data leaving its store).
HOSTED_DATA_RISK_BURDEN = 2
LATENCY_UNKNOWN = (
    "the provider publishes no latency for this model here, so no SLO is claimed as met"
)


def hosted_technique(provider: str, model: str) -> str:
    """The technique name a hosted option carries: ``hosted:<provider>/<model>``."""
    return f"{HOSTED_TECHNIQUE_PREFIX}{provider}/{model}"


def data_note(regulatory_flags: Sequence[str], provider: str) -> str:
    """What choosing the hosted API does to the data and the governance review."""
    risks = hosted_data_risks(regulatory_flags, provider)
    flags = [f for f in SENSITIVE_FLAGS if f in set(regulatory_flags)]
    if risks:
        named = {"owasp_2025": "OWASP", "nist_600_1": "NIST AI 600-1"}
        brought = " and ".join(
            f"{named.get(r.framework, r.framework)} {r.id}"
            + (f" ({r.title})" if r.title != r.id else "")
            for r in risks
        )
        return (
            f"data leaves the organisation for {provider}: with {', '.join(flags)} data this "
            f"brings in {brought}, +{HOSTED_DATA_RISK_BURDEN * len(risks)} governance "
            "burden"
        )
    return (
        f"data leaves the organisation for {provider} (no personal or regulated data flag "
        "on the deployment, so no data-privacy risk is added)"
    )


@dataclass(frozen=True, slots=True)
class HostedLatency:
    """A hosted API's latency at the deployment's answers, from its published figures (None with
    ``reason`` when it publishes none): TTFT as published, TPOT = 1000 / output tokens per second,
    the time to the answer's first token = TTFT (no reasoning tokens are added: the provider's
    TTFT is measured to the first token it streams)."""

    ttft_ms: float | None
    tpot_ms: float | None
    time_to_answer_ms: float | None
    reason: str

    @classmethod
    def of(cls, ttft_ms: float | None, output_tokens_per_s: float | None) -> HostedLatency:
        if ttft_ms is None or not output_tokens_per_s:
            return cls(None, None, None, LATENCY_UNKNOWN)
        return cls(
            float(ttft_ms),
            1000.0 / float(output_tokens_per_s),
            float(ttft_ms),
            "the provider's published TTFT and output speed (a published figure, not a "
            "p95 at this traffic)",
        )

    def slo_after(self, ttft_slo_ms: float, tpot_slo_ms: float) -> dict[str, bool] | None:
        if self.ttft_ms is None or self.tpot_ms is None or self.time_to_answer_ms is None:
            return None
        return {
            "ttft_ok": self.ttft_ms <= ttft_slo_ms,
            "tpot_ok": self.tpot_ms <= tpot_slo_ms,
            "time_to_answer_ok": self.time_to_answer_ms <= ttft_slo_ms,
        }


def card_alternatives(
    items: Sequence[dict[str, object]],
    *,
    regulatory_flags: Sequence[str],
    ttft_slo_ms: float,
    tpot_slo_ms: float,
    self_monthly_usd: float | None,
    limit: int = 3,
) -> list[dict[str, object]]:
    """The cheapest ``limit`` priced hosted APIs that fit the requests' context, as alternatives on
    a serving-cost card. ``items`` are the hosted-alternatives rows (the endpoint's computation:
    cost at the deployment's traffic and token mix, break-even against its serving plan), so the
    card and ``GET /deployments/{id}/hosted-alternatives`` agree to the cent."""
    priced = [
        i
        for i in items
        if isinstance(i.get("monthly_cost_usd"), int | float) and i.get("fits_context") is not False
    ]
    priced.sort(key=lambda i: float(i["monthly_cost_usd"]))  # type: ignore[arg-type]
    out: list[dict[str, object]] = []
    for i in priced[:limit]:
        provider, monthly = str(i["provider"]), float(i["monthly_cost_usd"])  # type: ignore[arg-type]
        t = i.get("ttft_ms")
        s = i.get("output_tokens_per_s")
        lat = HostedLatency.of(
            float(t) if isinstance(t, int | float) else None,
            float(s) if isinstance(s, int | float) else None,
        )
        parts = []
        if self_monthly_usd is not None:
            diff = monthly - self_monthly_usd
            parts.append(
                f"${monthly:,.0f}/month: ${abs(diff):,.0f}/month "
                f"{'more' if diff > 0 else 'less'} than today's provisioned self-hosted bill "
                f"(${self_monthly_usd:,.0f}/month: the peak's replicas all month, not the "
                "GPU-hours needed)"
            )
        be = i.get("break_even_requests_per_day")
        if isinstance(be, int | float):
            parts.append(f"self-hosting costs no more from {be:,.0f} requests/day")
        if lat.time_to_answer_ms is None:
            parts.append("latency unknown (no published figure): no SLO claimed")
        parts.append(data_note(regulatory_flags, provider))
        out.append(
            {
                "technique": hosted_technique(provider, str(i["model"])),
                "axis": "serving_optimization",
                "cost_per_1k_requests_usd": i.get("cost_per_1k_requests_usd"),
                "monthly_cost_usd": monthly,
                "time_to_answer_p95_ms": lat.time_to_answer_ms,
                "time_to_answer_reason": None if lat.time_to_answer_ms is not None else lat.reason,
                "slo_after": lat.slo_after(ttft_slo_ms, tpot_slo_ms),
                "break_even_requests_per_day": be if isinstance(be, int | float) else None,
                "data_leaves_organisation": True,
                "governance_risks": [
                    asdict(r) for r in hosted_data_risks(regulatory_flags, provider)
                ],
                "hosted_key": i.get("key"),
                "why_not": "a hosted API, listed beside the self-hosted pick: " + "; ".join(parts),
            }
        )
    return out
