"""Chart inputs from what the FHIR side gives: the ``$samples`` and ``$cgm-metrics`` answers
(Parameters resources, docs/monitoring.md) and stored NEWS2 score Observations.

Lenient readers for display: a part that is missing or malformed is skipped, never guessed.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from hygie.monitoring.cgm import RANGES, AgpBin
from hygie.web.charts.news2 import News2Point
from hygie.web.charts.series_text import Bucket, Point


def _instant(raw: Any) -> datetime | None:
    if not isinstance(raw, str):
        return None
    try:
        at = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    return at if at.tzinfo is not None else None


def _number(raw: Any) -> float | None:
    return float(raw) if isinstance(raw, int | float) and not isinstance(raw, bool) else None


def _parts(parameter: Mapping[str, Any]) -> dict[str, Any]:
    """``{name: value}`` of a parameter's parts (the first ``value[x]`` of each)."""
    out: dict[str, Any] = {}
    for part in parameter.get("part") or ():
        if isinstance(part, Mapping) and isinstance(part.get("name"), str):
            out[part["name"]] = next((v for k, v in part.items() if k.startswith("value")), None)
    return out


def _named(parameters: Mapping[str, Any], name: str) -> list[Mapping[str, Any]]:
    found = parameters.get("parameter") or ()
    return [p for p in found if isinstance(p, Mapping) and p.get("name") == name]


def samples_points(parameters: Mapping[str, Any]) -> list[Point]:
    """The ``point`` parts of a ``$samples`` answer (``grain=raw``): time, value [, value2]."""
    out = []
    for p in _named(parameters, "point"):
        parts = _parts(p)
        at, value = _instant(parts.get("time")), _number(parts.get("value"))
        if at is not None and value is not None:
            out.append(Point(at, value, _number(parts.get("value2"))))
    return out


def samples_buckets(parameters: Mapping[str, Any]) -> list[Bucket]:
    """The ``bucket`` parts of a ``$samples`` answer (start, count, mean, min, max)."""
    out = []
    for b in _named(parameters, "bucket"):
        parts = _parts(b)
        at = _instant(parts.get("start"))
        count, mean, low, high = (_number(parts.get(k)) for k in ("count", "mean", "min", "max"))
        if at is not None and count is not None and mean is not None and low is not None and high is not None:
            out.append(Bucket(at, int(count), mean, low, high))
    return out


def cgm_percent(parameters: Mapping[str, Any]) -> dict[str, float]:
    """The five range shares of a ``$cgm-metrics`` answer (empty when it has no readings)."""
    values = {
        p["name"]: _number(p.get("valueDecimal"))
        for p in parameters.get("parameter") or ()
        if isinstance(p, Mapping) and p.get("name") in RANGES
    }
    return {k: v for k, v in values.items() if v is not None} if len(values) == len(RANGES) else {}


def cgm_agp(parameters: Mapping[str, Any]) -> list[AgpBin]:
    """The ``agp`` parts of a ``$cgm-metrics`` answer as :class:`~hygie.monitoring.cgm.AgpBin`."""
    out = []
    for b in _named(parameters, "agp"):
        parts = _parts(b)
        minute, count = _number(parts.get("minute")), _number(parts.get("count"))
        if minute is None or count is None:
            continue
        pct = {p: v for p in (5, 25, 50, 75, 95) if (v := _number(parts.get(f"p{p}"))) is not None}
        out.append(AgpBin(int(minute), int(count), pct if len(pct) == 5 else {}))
    return out


def news2_point(observation: Mapping[str, Any]) -> News2Point | None:
    """A stored NEWS2 score Observation (docs/monitoring.md) as a chart point: its time, total
    and whether one component scored 3; None when it has no aware time or no total."""
    at = _instant(observation.get("effectiveDateTime"))
    quantity = observation.get("valueQuantity")
    total = _number(quantity.get("value")) if isinstance(quantity, Mapping) else None
    if at is None or total is None:
        return None
    components = [c.get("valueInteger") for c in observation.get("component") or () if isinstance(c, Mapping)]
    single = any(isinstance(v, int) and v >= 3 for v in components)
    return News2Point(at, int(total), single_three=single)
