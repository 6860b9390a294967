"""Withings-style measure JSON (the answer of the Withings "Measure - Getmeas" web service) →
samples.

The field layout follows Withings' public API reference (https://developer.withings.com/api-reference,
``measure?action=getmeas``); Hygie has no Withings account and talks to no Withings server:
this module converts a payload someone else fetched. The shape::

    {"status": 0, "body": {"timezone": "Europe/Paris", "measuregrps": [
        {"grpid": 123, "date": 1763622060, "category": 1, "deviceid": "…",
         "measures": [{"value": 12050, "type": 10, "unit": -2}, …]}]}}

A measure's real value is ``value × 10^unit``. Measure types used: 1 weight (kg), 9 diastolic
and 10 systolic blood pressure (mmHg, paired within their group), 11 heart pulse (bpm),
12 temperature and 71 body temperature (°C), 54 SpO2 (%), 73 skin temperature (°C); other types
are skipped and counted. Groups of category 2 (user objectives, not measurements) are skipped.
``grpid:type`` (``grpid:bp`` for a pressure pair) becomes the sample's ``source_id``,
``deviceid`` its device identifier.
"""

from __future__ import annotations

from datetime import UTC, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson

from hygie.fhir.messages import register
from hygie.fhir.outcome import FhirError
from hygie.monitoring.ingest import times
from hygie.monitoring.ingest.samples import (
    Conversion,
    DeviceInfo,
    RecordError,
    Where,
    make_sample,
    number,
    shown,
)

register(
    {
        "ingest_withings_shape": {
            "fr": "JSON Withings inattendu : {detail}.",
            "en": "Unexpected Withings JSON: {detail}.",
        },
    }
)

# Withings measure type → (kind, unit of the value once scaled).
TYPES: dict[int, tuple[str, str]] = {
    1: ("body-weight", "kg"),
    11: ("heart-rate", "/min"),
    12: ("body-temperature", "Cel"),
    71: ("body-temperature", "Cel"),
    54: ("spo2", "%"),
    73: ("skin-temperature", "Cel"),
}
DIASTOLIC, SYSTOLIC = 9, 10


def _zone(name: Any) -> tzinfo:
    if isinstance(name, str):
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return UTC


def _scaled(measure: Any) -> float | None:
    if not isinstance(measure, dict):
        return None
    value, unit = number(measure.get("value")), measure.get("unit")
    if value is None or isinstance(unit, bool) or not isinstance(unit, int) or not -20 <= unit <= 20:
        return None
    return round(value * 10.0**unit, 10)


def _group(result: Conversion, index: int, group: Any, zone: tzinfo) -> None:
    where = Where(index, f"measuregrps[{index}]")
    if not isinstance(group, dict):
        result.errors.append(where.error("measuregrps", "ingest_withings_shape", detail="not an object"))
        return
    if group.get("category", 1) != 1:
        result.skip("objective (category 2)")
        return
    moment = times.epoch(
        where, "date", group.get("date"), _zone(group.get("timezone")) if "timezone" in group else zone
    )
    if isinstance(moment, RecordError):
        result.errors.append(moment)
        return
    device_id = group.get("deviceid")
    device = DeviceInfo(manufacturer="Withings", identifier=str(device_id)) if device_id else None
    grpid = str(group["grpid"]) if group.get("grpid") is not None else None
    measures = group.get("measures")
    if not isinstance(measures, list):
        result.errors.append(where.error("measures", "ingest_missing"))
        return
    pressure: dict[str, float] = {}
    for j, measure in enumerate(measures):
        at = Where(index, f"measuregrps[{index}].measures[{j}]")
        mtype = measure.get("type") if isinstance(measure, dict) else None
        value = _scaled(measure)
        if (mtype in (SYSTOLIC, DIASTOLIC) or mtype in TYPES) and value is None:
            result.errors.append(at.error("value", "ingest_number", value=shown(measure)))
            continue
        if mtype in (SYSTOLIC, DIASTOLIC) and value is not None:
            pressure["systolic" if mtype == SYSTOLIC else "diastolic"] = value
        elif mtype in TYPES:
            kind, unit = TYPES[mtype]
            source_id = f"{grpid}:{mtype}" if grpid else None
            result.add(make_sample(at, kind, moment, None, value, unit, device=device, source_id=source_id))
        else:
            result.skip(f"type {mtype}")
    if len(pressure) == 2:
        result.add(
            make_sample(
                where,
                "blood-pressure",
                moment,
                None,
                None,
                "mm[Hg]",
                components=pressure,
                device=device,
                source_id=f"{grpid}:bp" if grpid else None,
            )
        )
    elif pressure:
        result.errors.append(where.error(next(iter(pressure)), "ingest_bp_unpaired"))


def read_withings(data: bytes | str | dict[str, Any]) -> Conversion:
    """Convert a getmeas answer (JSON text or decoded)."""
    if isinstance(data, bytes | str):
        try:
            data = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise FhirError.of(400, "invalid", "ingest_not_json", detail=str(exc)[:120]) from exc
    if not isinstance(data, dict):
        raise FhirError.of(400, "invalid", "ingest_withings_shape", detail="not an object")
    if data.get("status", 0) != 0:
        raise FhirError.of(400, "invalid", "ingest_withings_shape", detail=f"status {data.get('status')}")
    body = data.get("body", data)
    groups = body.get("measuregrps") if isinstance(body, dict) else None
    if not isinstance(groups, list):
        raise FhirError.of(400, "invalid", "ingest_withings_shape", detail="no body.measuregrps list")
    zone = _zone(body.get("timezone"))
    result = Conversion()
    for index, group in enumerate(groups):
        _group(result, index, group, zone)
    return result
