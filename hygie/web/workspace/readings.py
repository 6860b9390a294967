"""Vital-sign readings for the charts and sparklines: charted Observations and device streams.

- **Charted** readings are vital-sign Observations with a single value (``valueQuantity``) or,
  for blood pressure, the systolic/diastolic components (FHIR Vital Signs profiles,
  https://hl7.org/fhir/R4/observation-vitalsigns.html), found by their LOINC codes and converted
  to the catalogue's unit (``hygie/monitoring/data/vitals.json``). The hourly ``SampledData``
  Observations of device streams are left out (they carry no single value): streams are read
  from ``$samples`` instead.
- **Device** readings: ``GET Patient/[id]/$samples`` hourly aggregates (docs/monitoring.md).
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from hygie.monitoring.ingest.catalogue import Kind, by_loinc, kind
from hygie.web.charts import Bucket, Point, samples_buckets
from hygie.web.fhir import resources
from hygie.web.pages import Page
from hygie.web.workspace.view import parse_instant

LOINC = "http://loinc.org"
VITALS = ("heart-rate", "blood-pressure", "respiratory-rate", "spo2", "body-temperature", "body-weight")
SKIP_STATUS = {"entered-in-error", "cancelled", "registered"}


def codes_of(measure: str) -> list[str]:
    k = kind(measure)
    if k is None:
        return []
    return [f"{LOINC}|{c}" for c in (k.loinc, *(code for code, _ in k.extra_codes))]


def _value(q: Any, k: Kind) -> float | None:
    if (
        not isinstance(q, dict)
        or not isinstance(q.get("value"), int | float)
        or isinstance(q.get("value"), bool)
    ):
        return None
    unit = str(q.get("code") or q.get("unit") or k.unit)
    return k.convert(float(q["value"]), unit)


def reading(observation: dict[str, Any]) -> tuple[str, Point] | None:
    """A charted vital sign as ``(measure, Point)``; None for anything else (no aware time, no
    single value, an unknown code or unit, an Observation entered in error)."""
    if observation.get("status") in SKIP_STATUS:
        return None
    effective = observation.get("effectiveDateTime") or (observation.get("effectivePeriod") or {}).get(
        "start"
    )
    at = parse_instant(effective)
    if at is None:
        return None
    codings = (observation.get("code") or {}).get("coding") or []
    k = next(
        (by_loinc()[c["code"]] for c in codings if c.get("system") == LOINC and c.get("code") in by_loinc()),
        None,
    )
    if k is None:
        return None
    if k.components:
        parts = {}
        for comp in observation.get("component") or []:
            for c in (comp.get("code") or {}).get("coding") or []:
                for part in k.components:
                    if c.get("code") == part.loinc:
                        parts[part.name] = _value(comp.get("valueQuantity"), k)
        systolic = parts.get("systolic")
        return (k.key, Point(at, systolic, parts.get("diastolic"))) if systolic is not None else None
    value = _value(observation.get("valueQuantity"), k)
    return (k.key, Point(at, value)) if value is not None else None


async def charted(
    p: Page, patient: str, measures: tuple[str, ...], since: datetime
) -> dict[str, list[Point]]:
    """Charted readings of ``measures`` since ``since`` (the latest 500 of each search), oldest
    first, by measure (two searches: single values, then blood-pressure panels)."""
    out: dict[str, list[Point]] = {m: [] for m in measures}
    single = [c for m in measures if m != "blood-pressure" for c in codes_of(m)]
    searches = []
    if single:
        searches.append([("code", ",".join(single)), ("value-quantity", "ge0")])
    if "blood-pressure" in measures:
        searches.append([("code", ",".join(codes_of("blood-pressure"))), ("component-value-quantity", "ge0")])
    after = ("date", f"ge{since.isoformat(timespec='seconds')}")
    bundles = await asyncio.gather(
        *(
            p.fhir.search(
                "Observation", [("patient", patient), *c, after, ("_sort", "-date"), ("_count", "500")]
            )
            for c in searches
        )
    )
    for bundle in bundles:
        for obs in resources(bundle):
            found = reading(obs)
            if found is not None and found[0] in out:
                out[found[0]].append(found[1])
    for points in out.values():
        points.sort(key=lambda pt: pt.at)
    return out


async def hourly(p: Page, patient: str, measure: str, end: datetime, hours: int = 24) -> list[Bucket]:
    """Device samples of ``measure`` as hourly aggregates over the last ``hours``."""
    answer = await p.fhir.operation(
        f"Patient/{patient}/$samples",
        None,
        [
            ("measure", measure),
            ("grain", "hour"),
            ("start", (end - timedelta(hours=hours)).isoformat()),
            ("end", end.isoformat()),
        ],
    )
    return samples_buckets(answer)


def as_points(buckets: list[Bucket]) -> list[Point]:
    """Hourly means as points (for a sparkline)."""
    return [Point(b.start, b.mean) for b in buckets]
