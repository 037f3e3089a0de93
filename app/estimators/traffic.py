"""Traffic with a shape: from requests per day to the peak rate and the GPU-hours a month needs.

A deployment's traffic is either a ``peak_to_average`` ratio (busiest hour ÷ 24-hour mean) or an
``hourly_profile`` of 24 relative weights (hour 0 = 00:00–01:00). Capacity is planned for the
peak: replicas = ⌈peak rate ÷ the rate one replica sustains within the p95 SLOs⌉.

GPU-hours per month:

* with an hourly profile, each hour h of the day runs ⌈rate_h ÷ per-replica rate⌉ replicas
  (at least one: a replica is kept warm in idle hours), where rate_h = mean rate × w_h ÷ mean(w);
  the day's replica-hours are summed and scaled to a month of 730 h (× 730 / 24), × GPUs per
  replica;
* with only a ratio, the shape of the day is unknown, so the peak's replicas run all month
  (replicas × GPUs per replica × 730 h).

Default ratio: no published diurnal peak-to-average ratio for interactive LLM traffic was found
(reference/economics.md §4; BurstGPT's 77× is a one-minute peak over two months, not a diurnal
figure). The default 2.0 is an assumption: a business-hours profile with all traffic in a 12-hour
working day spread evenly (peak ÷ mean = 24 / 12), consistent with the weekday 08:00–14:00 ET
peak plus an evening bump reported for frontier APIs ([T-TP] in economics.md §4).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass

from app.estimators.errors import FieldError
from app.estimators.simulation import HOURS_PER_MONTH

HOURS_PER_DAY = 24
SECONDS_PER_DAY = 86400.0
DEFAULT_PEAK_TO_AVERAGE = 2.0
DEFAULT_PEAK_SOURCE = (
    "default 2.0 (assumption: a business-hours profile, all traffic within a 12-hour working day "
    "spread evenly, 24/12; no published diurnal peak-to-average ratio for LLM traffic was found, "
    "reference/economics.md §4)"
)
MAX_PEAK_TO_AVERAGE = 24.0  # all of a day's traffic in one hour
MAX_CSV_BYTES = 64_000


class TrafficError(FieldError):
    pass


def check_profile(weights: Sequence[float], *, field: str = "hourly_profile") -> list[float]:
    """24 finite non-negative weights with a positive sum, or a :class:`TrafficError`."""
    if len(weights) != HOURS_PER_DAY:
        raise TrafficError(
            f"the hourly profile needs 24 values (one per hour), got {len(weights)}", field=field
        )
    out = [float(w) for w in weights]
    for h, w in enumerate(out):
        if not math.isfinite(w) or w < 0:
            raise TrafficError(
                f"hour {h}: weights must be finite and non-negative, got {w}", field=field
            )
    if sum(out) <= 0:
        raise TrafficError("the hourly profile must have a positive sum", field=field)
    return out


def profile_peak_to_average(weights: Sequence[float]) -> float:
    w = check_profile(weights)
    return max(w) / (sum(w) / HOURS_PER_DAY)


def parse_hourly_csv(text: str, *, field: str = "hourly_csv") -> list[float]:
    """Request counts per hour from a CSV: 24 rows of ``hour,requests`` (hour 0–23, any order,
    an optional header row), or 24 rows of one count each in hour order."""
    if len(text.encode()) > MAX_CSV_BYTES:
        raise TrafficError(f"the CSV is larger than {MAX_CSV_BYTES} bytes", field=field)
    reader = csv.reader(io.StringIO(text))
    # each row with its line in the pasted text (header and blank lines counted), for the errors
    rows = [(reader.line_num, r) for r in reader if any(c.strip() for c in r)]
    if rows and not _is_number(rows[0][1][-1]):
        rows = rows[1:]  # header
    counts: dict[int, float] = {}
    for n, (line, row) in enumerate(rows, 1):
        cells = [c.strip() for c in row]
        at = f"line {line} ({','.join(cells)[:40]})"
        try:
            if len(cells) == 1:
                hour, count = n - 1, float(cells[0])
            elif len(cells) == 2:
                hour, count = int(cells[0]), float(cells[1])
            else:
                raise ValueError
        except ValueError:
            raise TrafficError(
                f"{at}: write 'hour,requests' (hour 0-23) or one request count per row",
                field=field,
            ) from None
        if not 0 <= hour < HOURS_PER_DAY:
            raise TrafficError(f"{at}: hour must be 0 to 23, got {hour}", field=field)
        if hour in counts:
            raise TrafficError(f"{at}: hour {hour} appears twice", field=field)
        counts[hour] = count
    if len(counts) != HOURS_PER_DAY:
        missing = [h for h in range(HOURS_PER_DAY) if h not in counts]
        raise TrafficError(
            f"the CSV needs one row per hour 0-23; missing: {', '.join(map(str, missing))}",
            field=field,
        )
    return check_profile([counts[h] for h in range(HOURS_PER_DAY)], field=field)


def _is_number(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class TrafficShape:
    peak_to_average: float
    hourly_profile: tuple[float, ...] | None
    source: str


def shape_of(peak_to_average: float | None, hourly_profile: Sequence[float] | None) -> TrafficShape:
    """The effective shape: the profile when there is one, else the ratio, else the default."""
    if hourly_profile:
        w = check_profile(hourly_profile)
        return TrafficShape(profile_peak_to_average(w), tuple(w), "from the hourly profile")
    if peak_to_average is not None:
        if not (math.isfinite(peak_to_average) and peak_to_average >= 1):
            raise TrafficError("peak_to_average must be at least 1", field="peak_to_average")
        return TrafficShape(float(peak_to_average), None, "set on the deployment")
    return TrafficShape(DEFAULT_PEAK_TO_AVERAGE, None, DEFAULT_PEAK_SOURCE)


@dataclass(frozen=True, slots=True)
class TrafficPlan:
    requests_per_s_average: float
    requests_per_s_peak: float
    replicas: int  # at the peak
    hourly_replicas: tuple[int, ...] | None  # per hour of the profile
    gpu_hours_per_month: float
    requests_per_month: float


def plan_traffic(
    shape: TrafficShape, requests_per_day: float, rate_per_replica: float, gpus_per_replica: int
) -> TrafficPlan:
    """Replicas for the peak and GPU-hours per month (see the module docstring)."""
    if not (rate_per_replica > 0 and math.isfinite(rate_per_replica)):
        raise TrafficError("the per-replica rate must be positive", field="rate_per_replica")
    avg = requests_per_day / SECONDS_PER_DAY
    peak = avg * shape.peak_to_average

    def need(rate: float) -> int:
        # The capacity planner's rule (app.estimators.simulation.plan_capacity), per hour.
        return max(1, math.ceil(rate / rate_per_replica)) if rate > 0 else 1

    replicas = need(peak)
    hourly: tuple[int, ...] | None = None
    if shape.hourly_profile is not None:
        mean_w = sum(shape.hourly_profile) / HOURS_PER_DAY
        hourly = tuple(need(avg * w / mean_w) for w in shape.hourly_profile)
        replica_hours = sum(hourly) * HOURS_PER_MONTH / HOURS_PER_DAY
    else:
        replica_hours = replicas * HOURS_PER_MONTH
    return TrafficPlan(
        avg,
        peak,
        replicas,
        hourly,
        replica_hours * gpus_per_replica,
        requests_per_day * HOURS_PER_MONTH / HOURS_PER_DAY,
    )
