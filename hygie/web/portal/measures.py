"""Measurements for the portal's charts: device samples and charted Observations together.

Two sources (docs/monitoring.md): the ``$samples`` operation (device streams and spot
measurements sent by devices) and ordinary vital-sign Observations
(https://hl7.org/fhir/R4/observation-vitalsigns.html) written by a care team or an app. This
module turns Observations into chart points in the catalogue's unit
(:mod:`hygie.monitoring.ingest.catalogue`: LOINC codes, unit conversions), merges them with the
samples without counting a reading twice, and reads a Goal's target range
(https://hl7.org/fhir/R4/goal.html). Pure functions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, Literal

from hygie.monitoring.ingest.catalogue import Kind, kind
from hygie.web.charts import Bucket, Point
from hygie.web.portal.dates import parse_instant

LOINC = "http://loinc.org"
MEASURES = (
    "heart-rate",
    "spo2",
    "blood-pressure",
    "body-temperature",
    "body-weight",
    "glucose",
    "interstitial-glucose",
    "respiratory-rate",
    "skin-temperature",
    "steps",
    "sleep",
)
SYSTOLIC, DIASTOLIC = "8480-6", "8462-4"
GrainName = Literal["hour", "day"]


@dataclass(frozen=True, slots=True)
class Period:
    key: str
    span: timedelta
    grain: GrainName  # the $samples aggregates when there are too many readings to show each


PERIODS = {
    "day": Period("day", timedelta(days=1), "hour"),
    "week": Period("week", timedelta(days=7), "hour"),
    "month": Period("month", timedelta(days=30), "day"),
    "year": Period("year", timedelta(days=365), "day"),
}
RAW_MAX = 200  # up to this many readings in a period, each is shown; beyond, the aggregates


def measure_kind(key: str) -> Kind:
    found = kind(key)
    if found is None:  # MEASURES are catalogue kinds (tests/web/portal check it)
        raise ValueError(f"unknown measure {key!r}")
    return found


def codes(key: str) -> list[str]:
    """The LOINC codes of a measure, as ``system|code`` search values."""
    k = measure_kind(key)
    return [f"{LOINC}|{c}" for c in (k.loinc, *(code for code, _ in k.extra_codes))]


def _loinc(concept: object) -> set[str]:
    if not isinstance(concept, dict):
        return set()
    return {
        str(c.get("code"))
        for c in concept.get("coding") or []
        if isinstance(c, dict) and c.get("system") == LOINC
    }


def _value(k: Kind, quantity: object) -> float | None:
    if not isinstance(quantity, dict) or not isinstance(quantity.get("value"), int | float):
        return None
    unit = quantity.get("code") or quantity.get("unit") or k.unit
    return k.convert(float(quantity["value"]), str(unit))


def observation_time(obs: dict[str, Any]) -> datetime | None:
    for key in ("effectiveDateTime", "effectiveInstant"):
        at = parse_instant(obs.get(key))
        if at is not None:
            return at
    period = obs.get("effectivePeriod")
    return parse_instant(period.get("start")) if isinstance(period, dict) else None


def observation_point(key: str, obs: dict[str, Any]) -> Point | None:
    """The reading of an Observation of measure ``key`` in the catalogue unit (None: not a
    plain reading — a SampledData series, no time with a zone, an unknown unit, entered in error)."""
    if obs.get("status") in ("entered-in-error", "cancelled", "registered") or "valueSampledData" in obs:
        return None
    at = observation_time(obs)
    if at is None:
        return None
    k = measure_kind(key)
    if key == "blood-pressure":
        parts: dict[str, float | None] = {}
        for component in obs.get("component") or []:
            found = _loinc(component.get("code")) if isinstance(component, dict) else set()
            for code in found & {SYSTOLIC, DIASTOLIC}:
                parts[code] = _value(k, component.get("valueQuantity"))
        systolic = parts.get(SYSTOLIC)
        if systolic is None and SYSTOLIC in _loinc(obs.get("code")):
            systolic = _value(k, obs.get("valueQuantity"))
        return Point(at, systolic, parts.get(DIASTOLIC)) if systolic is not None else None
    value = _value(k, obs.get("valueQuantity"))
    return Point(at, value) if value is not None else None


def merge_points(samples: Sequence[Point], observations: Sequence[Point]) -> list[Point]:
    """Samples and Observation readings in time order; an Observation that repeats a sample
    (same second and value: a spot measurement sent by a device is both) counts once."""
    seen = {(int(p.at.timestamp()), round(p.value, 3)) for p in samples}
    extra = [p for p in observations if (int(p.at.timestamp()), round(p.value, 3)) not in seen]
    return sorted([*samples, *extra], key=lambda p: p.at)


def bucket_start(at: datetime, grain: GrainName, tz: tzinfo) -> datetime:
    """The start of the ``$samples`` bucket holding ``at``: the UTC hour, or the local day."""
    if grain == "hour":
        return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    local = at.astimezone(tz)
    return local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)


def merge_buckets(
    buckets: Sequence[Bucket], extra: Sequence[Point], grain: GrainName, tz: tzinfo
) -> list[Bucket]:
    """The aggregates with the readings of ``extra`` added to their buckets (new ones made when
    needed); used for Observations that no device sent (they are not samples)."""
    by_start = {b.start.astimezone(UTC): b for b in buckets}
    for p in extra:
        start = bucket_start(p.at, grain, tz)
        b = by_start.get(start)
        if b is None:
            by_start[start] = Bucket(start, 1, p.value, p.value, p.value)
            continue
        n = b.count + 1
        by_start[start] = Bucket(
            start, n, (b.mean * b.count + p.value) / n, min(b.low, p.value), max(b.high, p.value)
        )
    return [by_start[s] for s in sorted(by_start)]


def from_device(obs: dict[str, Any]) -> bool:
    return isinstance(obs.get("device"), dict)


def target(key: str, goals: Sequence[dict[str, Any]]) -> tuple[float | None, float | None] | None:
    """The (low, high) range of the first active Goal whose target measures ``key``."""
    k = measure_kind(key)
    mine = {k.loinc, *(c for c, _ in k.extra_codes)}
    for goal in goals:
        if goal.get("lifecycleStatus") not in ("active", "accepted"):
            continue
        for t in goal.get("target") or []:
            if not isinstance(t, dict) or not _loinc(t.get("measure")) & mine:
                continue
            rng = t.get("detailRange") or {}
            low, high = _value(k, rng.get("low")), _value(k, rng.get("high"))
            if (low is not None or high is not None) and (low is None or high is None or low <= high):
                return (low, high)
    return None


def instant(at: datetime) -> str:
    """A FHIR instant in UTC, to the second (``$samples`` start and end, search dates)."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
